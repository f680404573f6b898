"""One real CycleGAN run through the CLI on the demo's footage at 128 px: train for a fixed wall time, check the
losses fall and a checkpoint renders the demo's gloved shot; optionally the same under torchrun.

    PYTHONPATH=. python bench/gpu_run.py --out FOLDER [--minutes 2] [--torchrun-iters 100] [--width 1280 --height 720]
Prints steps trained, steps/s, the cycle and adversarial losses of the first and last tenth of the run, the render's
frames/s, the hand's colour before and after (the demo test's criterion) and the background's PSNR against the
source. The last line is the headline.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from vidgan.demo import GLOVE, SHOT_PHASE, SKIN, DemoScale, hand_colours, hand_mask, make_demo_clips
from vidgan.io.video import iter_frames


def vidgan(*args: str, torchrun: bool = False) -> float:
    """Run the CLI (under torchrun with one process when asked); returns its seconds; fails loudly."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "-m"] if torchrun else [sys.executable, "-m"]
    command = [*launcher, "vidgan", *args]
    print("$", " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return time.perf_counter() - started


def loss_trend(run: Path) -> str:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    tenth = max(1, len(records) // 10)
    first, last = records[:tenth], records[-tenth:]
    parts = [f"{len(records)} records up to step {records[-1]['step']}"]
    for term in ("cycle", "g_adv", "d_real", "d_fake"):
        before, after = np.mean([r[term] for r in first]), np.mean([r[term] for r in last])
        parts.append(f"{term} {before:.3f} → {after:.3f}")
    return "; ".join(parts)


def judge(shot: Path, rendered: Path, width: int, height: int) -> str:
    """The demo test's colour criterion on the hand, and the background's PSNR against the source."""
    source = [f.rgb.astype(np.float64) for f in iter_frames(shot)]
    output = [f.rgb.astype(np.float64) for f in iter_frames(rendered)]
    before, after = hand_colours(source, width, height).mean(0), hand_colours(output, width, height).mean(0)
    to_skin = lambda c: float(np.linalg.norm(c - np.array(SKIN)))
    to_glove = lambda c: float(np.linalg.norm(c - np.array(GLOVE)))
    met = to_skin(after) < 0.5 * to_skin(before) and to_skin(after) < to_glove(after)
    never = np.logical_and.reduce([hand_mask(i, width, height, SHOT_PHASE) == 0 for i in range(len(source))])
    mse = np.mean([np.mean((o[never] - s[never]) ** 2) for o, s in zip(output, source)])
    psnr = 10 * np.log10(255**2 / max(mse, 1e-12))
    return (f"hand {before.round().astype(int).tolist()} → {after.round().astype(int).tolist()} (skin {list(SKIN)}), "
            f"criterion {'met' if met else 'NOT met'}; background PSNR {psnr:.1f} dB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--torchrun-iters", type=int, default=100, help="0: no torchrun run")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--scale", type=int, default=144, help="working scale the frames are extracted at")
    parser.add_argument("--size", type=int, default=128, choices=(64, 128), help="crop = the networks' size")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--stage", choices=("all", "data"), default="all", help="data: only make the clips and frames")
    args = parser.parse_args()
    out = args.out
    scale = DemoScale(width=args.width, height=args.height)
    clips = make_demo_clips(out / "clips", scale)
    data = out / "data"
    if not (data / "a").is_dir():
        vidgan("extract", "--a", str(clips["glove"]), "--b", str(clips["hand"]), "--out", str(data), "--every", str(scale.every),
               "--scale", str(args.scale), "-q")  # fmt: skip
    if args.stage == "data":
        return
    run = out / "run"
    common = ["--crop", str(args.size), "--batch-size", str(args.batch), "--device", args.device, "-q"]
    seconds = vidgan("train", "cyclegan", str(data), "--out", str(run), "--minutes", str(args.minutes), "--iters", "1000000",
                     "--sample-every", "200", "--checkpoint-every", "1000000", *common)  # fmt: skip
    trend = loss_trend(run)
    steps = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    print(f"trained {steps} steps in {seconds:.0f} s (with start-up): {steps / (args.minutes * 60):.2f} steps/s; {trend}", flush=True)
    rendered = out / "shot_nogloves.mp4"
    render_seconds = vidgan("render", str(clips["shot"]), "--run", str(run), "--out", str(rendered), "--direction", "a2b",
                            "--device", args.device, "--overwrite", "-q")  # fmt: skip
    frames = sum(1 for _ in iter_frames(rendered))
    verdict = judge(clips["shot"], rendered, args.width, args.height)
    print(f"render: {frames} frames at {args.width}x{args.height} in {render_seconds:.1f} s with start-up; {verdict}", flush=True)
    if args.torchrun_iters:
        torchrun_run = out / "run_torchrun"
        torchrun_seconds = vidgan("train", "cyclegan", str(data), "--out", str(torchrun_run), "--iters", str(args.torchrun_iters),
                                  "--sample-every", str(args.torchrun_iters), "--checkpoint-every", str(args.torchrun_iters),
                                  *common, torchrun=True)  # fmt: skip
        print(f"torchrun --nproc_per_node 1: {args.torchrun_iters} steps in {torchrun_seconds:.0f} s; {loss_trend(torchrun_run)}")
    print(f"real run: {steps} steps in {args.minutes:g} min at {args.size} px, batch {args.batch}; {verdict}")


if __name__ == "__main__":
    main()
