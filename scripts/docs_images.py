"""The pictures of the docs that show what vidgan produces, made from one real run of the built-in demo.

    python scripts/docs_images.py [--work DIR] [--out docs/images] [--device cpu]

Trains the demo (`vidgan.demo`: its synthetic glove and bare-hand takes, extract, train) at a small scale (DOCS_SCALE:
320×180 footage of 4 s, a narrower network trained for 120 steps, as the test suite's demo run is), renders its
gloved shot with the change matte, and again with a region of interest, then writes small PNGs under docs/images/
(each well under 200 KB). On 2 CPU cores loaded by other jobs it took about 25 minutes; `--work DIR` keeps the run
and renders there, and a second call with the same DIR reuses them (only the pictures are redrawn).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vidgan.core.directions import A2B
from vidgan.demo import DemoScale, train_demo_run
from vidgan.io.images import list_images, read_rgb
from vidgan.io.video import iter_frames
from vidgan.render.boxes import Box
from vidgan.render.options import RenderOptions
from vidgan.render.video import render_video

# The demo at the size of the test suite's (tests/test_demo.py: 8 channels, 2 residual blocks, 64-px working scale),
# trained a little longer, on half-size footage: the pictures stay small and the run takes minutes on a loaded CPU
# (the full demo's 400 steps at 16 channels took over 10 s a step there).
DOCS_SCALE = DemoScale(width=320, height=180, seconds=4.0, every=2, scale=64, crop=64, channels=8, res_blocks=2, iters=120)
FRAME = 60  # the frame shown: the hand is well inside the picture
ROI = Box(160, 0, 160, 180)  # the right half of the frame


def labelled(pixels: np.ndarray, label: str) -> np.ndarray:
    """`pixels` (H×W×3 uint8) under a white band holding `label`."""
    band = np.full((18, pixels.shape[1], 3), 255, np.uint8)
    cv2.putText(band, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, pixels], axis=0)


def side_by_side(panels: list[tuple[str, np.ndarray]], gap: int = 4) -> np.ndarray:
    """Labelled panels of one height in a row, `gap` white pixels apart."""
    spacer = np.full((panels[0][1].shape[0] + 18, gap, 3), 255, np.uint8)
    row = []
    for label, pixels in panels:
        row += [labelled(pixels, label), spacer]
    return np.concatenate(row[:-1], axis=1)


def save_png(path: Path, pixels: np.ndarray, colours: int | None = 192) -> None:
    """A small PNG: quantised to `colours` (None: kept as they are), optimised."""
    image = Image.fromarray(pixels)
    if colours:
        image = image.quantize(colours, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def nth_frame(video: Path, n: int) -> np.ndarray:
    return next(frame.rgb for i, frame in enumerate(iter_frames(video)) if i == n)


def make_run(work: Path, device: str) -> tuple[Path, Path]:
    """The demo's clips and trained run under `work` (reused where a previous call left them)."""
    shot, run_dir = work / "clips" / "shot.mp4", work / "run"
    if not (run_dir / "checkpoints" / "latest.pt").exists():
        shutil.rmtree(work, ignore_errors=True)
        clips, run_dir = train_demo_run(work, DOCS_SCALE, device=device)
        shot = clips["shot"]
    return shot, run_dir


def render_once(shot: Path, run_dir: Path, out: Path, device: str, **options) -> Path:
    if not out.exists():
        render_video(shot, run_dir, RenderOptions(out=out, directions=(A2B,), codec="png", device=device, **options))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/vidgan-docs-images"), help="where the run and renders go")
    parser.add_argument("--out", type=Path, default=Path("docs/images"), help="where the pictures go")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    shot, run_dir = make_run(args.work, args.device)
    rendered = render_once(shot, run_dir, args.work / "render", args.device, matte=True)
    roi = render_once(shot, run_dir, args.work / "render_roi", args.device, roi=ROI)

    source = nth_frame(shot, FRAME)
    result = read_rgb(list_images(rendered)[FRAME])
    matte = read_rgb(list_images(rendered.parent / f"{rendered.name}_matte")[FRAME])
    in_box = read_rgb(list_images(roi)[FRAME])
    boxed = source.copy()
    cv2.rectangle(boxed, (ROI.x, ROI.y), (ROI.x + ROI.width - 1, ROI.y + ROI.height - 1), (255, 220, 0), 2)

    save_png(args.out / "demo_source_result.png", side_by_side([("source (gloved shot)", source), ("vidgan render a2b", result)]))
    save_png(
        args.out / "render_matte.png",
        side_by_side([("source", source), ("render (--detail source)", result), ("change matte (--matte)", matte)]),
    )
    save_png(args.out / "render_roi.png", side_by_side([(f"source, --roi {ROI}", boxed), ("render --roi", in_box)]))

    # What extract wrote: whole frames at the working scale, four of each domain.
    domains = [[read_rgb(p) for p in list_images(args.work / "data" / d)[::12][:4]] for d in ("a", "b")]
    rows = [side_by_side([(f"{d}/ #{i + 1}", image) for i, image in enumerate(images)]) for d, images in zip("ab", domains)]
    save_png(args.out / "extract_frames.png", np.concatenate(rows, axis=0))

    # What train wrote: the last sample grid (real a, a→b, a→b→a, real b, b→a, b→a→b) and the loss curves.
    grid = read_rgb(sorted((run_dir / "samples").glob("step_*.png"))[-1])
    save_png(args.out / "train_samples.png", grid)
    losses = read_rgb(run_dir / "losses.png")
    scale = min(1.0, 900 / losses.shape[1])
    save_png(args.out / "train_losses.png", cv2.resize(losses, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), colours=64)


if __name__ == "__main__":
    main()
