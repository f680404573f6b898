"""One long shot split into time segments under torchrun (--segments auto): 2 processes beside 1, frames/s.

A 640×360 H.264 clip with audio through vidgan's 128-px generator (random weights) on the CPU, rendered by
`vidgan render` in one process and by `torchrun --nproc_per_node 2 -m vidgan render` (each process renders half
the frames, rank 0 joins the halves and muxes the audio):
    PYTHONPATH=. python bench/segments.py [--frames 48] [--rounds 1]     (or bench/render.py --segments)
Rates are the CLI's own "N frames in S s" figure: from the model being loaded to the joined output, so neither
the imports nor torchrun's start count. The last line is the headline: the speed-up of 2 processes over 1.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

from benchlib import default_generator, print_table, random_generator_checkpoint

from vidgan.io.video import write_test_clip

WIDTH, HEIGHT = 640, 360
REPO_ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _render_rate(processes: int, threads: int | None, clip: Path, checkpoint: Path, out: Path) -> float:
    """Frames/s of one `vidgan render` of the clip by `processes` processes (torchrun when more than one; it gives
    each process one thread), with `threads` torch threads (None: torch's default)."""
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_port", str(_free_port())]
    command = [*launcher, "-m", "vidgan", "render", str(clip), "--checkpoint", str(checkpoint), "--out", str(out),
               "--overwrite", "--device", "cpu", "-q"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200"} | ({"OMP_NUM_THREADS": str(threads)} if threads else {})
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"(\d+) frames in ([\d.]+) s", done.stdout + done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"render with {processes} process(es) failed:\n{done.stderr[-2000:]}")
    return int(found[1]) / float(found[2])


def segment_rows(folder: Path, frames: int, rounds: int) -> dict[str, float]:
    """Best frames/s over `rounds` of a render by 1 process (with torch's threads, and with one as torchrun gives
    each process) and by 2 (one segment each), rounds interleaved."""
    clip = write_test_clip(folder / "shot.mp4", width=WIDTH, height=HEIGHT, fps=Fraction(25), n_frames=frames, audio=True)
    checkpoint = random_generator_checkpoint(folder / "model.pt", default_generator(128))
    runs = {"1 process (whole clip)": (1, None), "1 process, 1 thread": (1, 1), "2 processes (torchrun, 2 segments)": (2, None)}
    rows = dict.fromkeys(runs, 0.0)
    for _ in range(rounds):
        for name, (processes, threads) in runs.items():
            rate = _render_rate(processes, threads, clip, checkpoint, folder / f"out_{processes}.mp4")
            rows[name] = max(rows[name], rate)
    return rows


def asked() -> bool:
    """Whether bench/render.py was asked for these rows (its --segments flag)."""
    return "--segments" in sys.argv[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--segments", action="store_true", help="what bench/render.py passes on (no effect here)")
    args = parser.parse_args()
    rows = segment_rows(Path(tempfile.mkdtemp(prefix="vidgan-bench-segments-")), args.frames, args.rounds)
    names = list(rows)
    print_table(f"segments: {WIDTH}x{HEIGHT} H.264 + AAC, {args.frames} frames, 128-px generator", "frames/s", rows, names[0])
    split = rows[names[2]]
    print(f"2 processes / 1 process: {split / rows[names[0]]:.2f}x (/ 1 process of 1 thread: {split / rows[names[1]]:.2f}x)")


if __name__ == "__main__":
    main()
