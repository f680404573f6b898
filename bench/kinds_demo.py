"""The demo's footage through each translation kind: `vidgan demo`'s recipe (its data, crops, width, residual blocks,
batch and steps) with only the kind changed, then its shot rendered at 1280x720 with the defaults.

    PYTHONPATH=. python bench/kinds_demo.py [--kinds cyclegan,cut,fastcut] [--demo DIR] [--frames 48] [--iters N]
        [--set KEY=VALUE ...]

Per kind: training time, the hand's colour criterion (bench/detail.py's: the hand's mean colour moves at least
halfway to skin), the PSNR of the table-top (the pixels the hand never covers) to the source, and the render's warp
error against the source's own. The same steps for every kind: the recipe, not the clock, is held equal, and the
training times show what each step costs (`--iters N` trains N steps instead, into DIR/KIND-N; `--set KEY=VALUE`
changes one option of every kind, into a folder named with it too). The cyclegan row reuses the demo run in DIR/run
when there is one and nothing is set (bench/detail.py trains it there).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from benchlib import machine, parse_setting
from detail import SHOT, demo_run, hand_rows, masked_psnr

from vidgan.demo import TAKES, DemoScale, hand_mask, training_options, write_take
from vidgan.io.video import iter_frames
from vidgan.render.options import RenderOptions
from vidgan.render.video import render_video
from vidgan.runs.checkpoints import step_checkpoints
from vidgan.runs.kinds import model_kind
from vidgan.training.launch import train


def train_kind(kind: str, folder: Path, iters: int | None, settings: dict[str, object]) -> tuple[Path, float | None]:
    """FOLDER/KIND (FOLDER/KIND-ITERS, and -KEY=VALUE per setting) trained with the demo's recipe and `settings` on
    FOLDER/data (seconds; None where it was trained before)."""
    name = "-".join([kind, *([str(iters)] if iters is not None else []), *(f"{k}={v}" for k, v in settings.items())])
    out = folder / name
    if kind == "cyclegan" and iters is None and not settings and step_checkpoints(folder / "run"):
        return folder / "run", None
    if step_checkpoints(out):
        return out, None
    scale = DemoScale() if iters is None else replace(DemoScale(), iters=iters)
    recipe = training_options(folder / "data", out, scale, device="cpu", quiet=True)
    # What the demo sets; every other option keeps the kind's own default (CUT's learning rate and λs are its own).
    given = ("a_dir", "b_dir", "out", "crop", "channels", "res_blocks", "batch_size", "iters", "sample_every", "checkpoint_every")
    recipe_values = {name: getattr(recipe, name) for name in given}
    options = model_kind(kind).options_type(**{**recipe_values, **settings}, device="cpu", quiet=True)
    started = time.perf_counter()
    train(options)
    return out, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="cyclegan,cut,fastcut")
    parser.add_argument("--demo", type=Path, default=Path(tempfile.gettempdir()) / "vidgan-bench-detail-demo")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--iters", type=int, default=None, help="training steps (default: the demo's)")
    parser.add_argument("--set", type=parse_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="override one train option of every kind, e.g. --set nce_weight=1 (repeatable)")
    args = parser.parse_args()
    demo_run(args.demo)  # the demo's clips and data (and its CycleGAN run)
    with tempfile.TemporaryDirectory() as work:
        shot = write_take(Path(work) / "shot.mp4", "shot", *SHOT, frames=args.frames)
        sources = [frame.rgb for frame in iter_frames(shot)]
        never = np.logical_and.reduce([hand_mask(i, *SHOT, TAKES["shot"][1]) == 0 for i in range(len(sources))])
        print(f"the demo's recipe per kind, its shot at {SHOT[0]}x{SHOT[1]}, {args.frames} frames\n{machine()}")
        for kind in args.kinds.split(","):
            run, seconds = train_kind(kind, args.demo, args.iters, dict(args.set))
            options = RenderOptions(out=Path(work) / f"{kind}.mkv", codec="ffv1", overwrite=True, device="cpu", quiet=True)
            clip = render_video(shot, run, options).clips[0]
            frames = [frame.rgb for frame in iter_frames(clip.outputs["a2b"])]
            (hand, distance, verdict), *_ = hand_rows(frames, sources, "source")[0]
            trained = "trained before" if seconds is None else f"trained in {seconds:.0f} s"
            warp = clip.warp_errors["a2b"] / clip.source_warp_error if clip.source_warp_error else float("nan")
            steps, table_top = args.iters or DemoScale().iters, masked_psnr(frames, sources, never)
            given = "".join(f", {key}={value}" for key, value in args.set)
            print(f"{kind}, {steps} steps{given}: {trained}; {hand}: {distance} ({verdict}); table-top PSNR {table_top:.1f} dB "
                  f"(target >= 40); warp error {warp:.2f}x the source's")


if __name__ == "__main__":
    main()
