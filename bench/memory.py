"""Peak resident memory of `render` on a 5 s clip vs a 60 s clip of the same size: it must not grow with length.

Each render runs in a fresh process, which reports its own peak (VmHWM):
    PYTHONPATH=. python bench/memory.py
The last line is the headline: the 60 s clip's peak over the 5 s clip's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

from benchlib import machine, random_generator_checkpoint

from vidgan.io.video import write_test_clip
from vidgan.models.cyclegan import GeneratorConfig

WIDTH, HEIGHT, FPS = 640, 360, 25
# A small generator keeps the 60 s render short; memory is about the frames in flight, not the model.
CONFIG = GeneratorConfig.for_size(64, channels=8, res_blocks=1)

CHILD = """
import sys
from pathlib import Path
from vidgan.render.options import RenderOptions
from vidgan.render.video import render_video
render_video(Path(sys.argv[1]), Path(sys.argv[2]), RenderOptions(out=Path(sys.argv[3]), device="cpu", quiet=True))
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(int(peak.split()[1]) // 1024)
"""


def peak_mb(clip: Path, checkpoint: Path, out: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", CHILD, clip, checkpoint, out], capture_output=True, text=True, env=env, check=True)
    return int(done.stdout.split()[-1])


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="vidgan-bench-memory-"))
    checkpoint = random_generator_checkpoint(folder / "model.pt", CONFIG)
    peaks = {}
    for seconds in (5, 60):
        clip = write_test_clip(
            folder / f"clip_{seconds}s.mp4", width=WIDTH, height=HEIGHT, fps=Fraction(FPS), n_frames=seconds * FPS, audio=True
        )
        peaks[seconds] = peak_mb(clip, checkpoint, folder / f"out_{seconds}s.mp4")
    print(f"memory: peak RSS of render, {WIDTH}x{HEIGHT} H.264 with audio, {FPS} fps\n{machine()}")
    for seconds, peak in peaks.items():
        print(f"{seconds:>3} s clip ({seconds * FPS:>4} frames)  {peak:5d} MB")
    print(f"peak RSS 60 s / 5 s: {peaks[60] / peaks[5]:.2f}x (target at most 1.1)")


if __name__ == "__main__":
    main()
