"""Temporal stability on the demo's footage: the CycleGAN trained with and without --temporal-weight for the same
steps, the demo's gloved shot rendered by each, and render --temporal-smooth 0.5 on the run without the term.

Per variant: the output's warp error over the source's own (1.0 = flickers no more than the footage moves), the demo
test's colour criterion (the hand's distance to skin, translated over source: below 0.5 passes, and nearer skin
than glove), the mean absolute difference from the source outside the hand (ghosting drags the hand over the
table-top), the run's C2ST a->b (`vidgan eval`'s default settings on its held-out frames: 0.5 = translations a
classifier cannot tell from real b frames, 1.0 = always can), and the training time per step. Synthetic clips, the
demo's setup (vidgan.demo), 640x360:
    PYTHONPATH=. python bench/temporal.py [--weights 0,4] [--seeds 0,1] [--forms equivariance,frames] [--strip PNG]
The first weight is the run without the term. The forms are `vidgan train --temporal-form`'s: equivariance and
frames (consecutive frames: the demo's frames are extracted with --pair-gap equal to its --every, so each kept
frame is paired with the next kept one). The last line is the headline, for the last weight and the first form;
--strip writes consecutive frames of the shot without and with that term (docs/images/temporal_strip.png). A
variant (400 steps, its render and its eval) took about a minute on the H200 machine, 4-5 minutes on 2 idle CPU cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from benchlib import machine
from PIL import Image

from vidgan.demo import GLOVE, SHOT_PHASE, SKIN, DemoScale, hand_colours, hand_mask, make_demo_clips, render_options, training_options
from vidgan.eval.options import EvalOptions
from vidgan.eval.run import evaluate_run
from vidgan.io.extract import extract_frames
from vidgan.io.video import iter_frames
from vidgan.render.video import render_video
from vidgan.training.cyclegan import train_cyclegan

SMOOTH = 0.5
GHOST_MARGIN = 5  # px the hand's mask is grown by, so its blurred edge does not count as table-top


@dataclass
class Variant:
    name: str
    weight: float
    form: str
    smooth: float
    frames: list[np.ndarray]  # the rendered shot, H×W×3 uint8
    warp_ratio: float  # output warp error / source's
    c2st: float  # the run's C2ST a->b on its held-out frames
    seconds_per_step: float


def rgb_frames(path: Path) -> list[np.ndarray]:
    return [frame.rgb for frame in iter_frames(path)]


def colour_ratio(source: list[np.ndarray], output: list[np.ndarray], scale: DemoScale) -> tuple[float, bool]:
    """The demo test's criterion: the hand's distance to skin, output over source, and whether it passes."""
    before, after = (hand_colours(frames, scale.width, scale.height).mean(axis=0) for frames in (source, output))
    to_skin = np.linalg.norm(after - np.array(SKIN)) / np.linalg.norm(before - np.array(SKIN))
    return float(to_skin), bool(to_skin < 0.5 and np.linalg.norm(after - np.array(SKIN)) < np.linalg.norm(after - np.array(GLOVE)))


def ghosting(source: list[np.ndarray], output: list[np.ndarray], scale: DemoScale) -> float:
    """Mean absolute difference (0-255) between output and source outside each frame's (grown) hand."""
    kernel = np.ones((2 * GHOST_MARGIN + 1,) * 2, np.uint8)
    values = []
    for i, (s, o) in enumerate(zip(source, output, strict=True)):
        outside = cv2.dilate(hand_mask(i, scale.width, scale.height, SHOT_PHASE), kernel) == 0
        values.append(np.abs(o[outside].astype(np.float32) - s[outside]).mean())
    return float(np.mean(values))


def train_and_render(
    data: Path, shot: Path, folder: Path, scale: DemoScale, weight: float, seed: int, device: str, form: str
) -> list[Variant]:
    """One training run at `weight` with the temporal term's `form` (equivariance or frames), its C2ST a->b and
    render; with weight 0 also its render with --temporal-smooth."""
    tag = f"w{weight:g}_s{seed}_{form}"
    options = training_options(data, folder / f"run_{tag}", scale, device=device, quiet=True)
    options = replace(options, temporal_weight=weight, temporal_form=form, seed=seed)
    started = time.perf_counter()
    run = train_cyclegan(options)
    seconds = (time.perf_counter() - started) / scale.iters
    c2st = evaluate_run(run.run_dir, EvalOptions(device=device, quiet=True))["directions"]["a2b"]["c2st"]
    smoothing = (0.0, SMOOTH) if weight == 0 else (0.0,)
    variants = []
    for smooth in smoothing:
        name = f"--temporal-weight {weight:g}" + (f" + --temporal-smooth {smooth:g}" if smooth else f" ({form})" if weight else "")
        out = folder / f"shot_{tag}_smooth{smooth:g}.mp4"
        render = replace(render_options(out, device=device, quiet=True), temporal_smooth=smooth, warp_error_every=1, compare=False)
        clip = render_video(shot, run.run_dir, render).clips[0]
        ratio = clip.warp_errors["a2b"] / clip.source_warp_error
        variants.append(Variant(f"{name}, seed {seed}", weight, form, smooth, rgb_frames(clip.outputs["a2b"]), ratio, c2st, seconds))
    return variants


def mean_ratio(variants: list[Variant]) -> float:
    return float(np.mean([v.warp_ratio for v in variants]))


def write_strip(
    path: Path, source: list[np.ndarray], rows: dict[str, list[np.ndarray]], scale: DemoScale, first: int = 40, count: int = 5
) -> None:
    """Consecutive frames around the hand: the source over each variant's output, one row each, labelled."""
    ys, xs = np.nonzero(hand_mask(first, scale.width, scale.height, SHOT_PHASE))
    side = min(max(np.ptp(ys), np.ptp(xs)) + 24, scale.height)
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    top, left = np.clip(cy - side // 2, 0, scale.height - side), np.clip(cx - side // 2, 0, scale.width - side)
    label_width = 150
    lines = []
    for label, frames in {"source": source, **rows}.items():
        tiles = [frames[i][top : top + side, left : left + side] for i in range(first, first + count)]
        band = np.full((side, label_width, 3), 255, np.uint8)
        for k, part in enumerate(label.split("\n")):
            cv2.putText(band, part, (4, 20 + 16 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        lines.append(np.concatenate([band, *tiles], axis=1))
    strip = cv2.resize(np.concatenate(lines, axis=0), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    path.parent.mkdir(parents=True, exist_ok=True)
    # 128 colours without dithering: a quarter of the bytes, no visible change on these flat synthetic frames
    Image.fromarray(strip).quantize(128, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="0,1", help="comma-separated --temporal-weight values; the first without the term (0)")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds")
    parser.add_argument("--forms", default="equivariance", help="comma-separated forms of the term: equivariance, frames")
    parser.add_argument("--iters", type=int, default=DemoScale.iters)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--strip", type=Path, help="write consecutive frames with and without the term here (PNG)")
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    forms = args.forms.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    scale = DemoScale(iters=args.iters)
    folder = Path(tempfile.mkdtemp(prefix="vidgan-bench-temporal-"))
    clips = make_demo_clips(folder / "clips", scale)
    data = folder / "data"
    # --pair-gap = --every: each kept frame is paired with the next kept one (the frames form's pairs; the other
    # variants train on the same images)
    domains = {"a": [clips["glove"]], "b": [clips["hand"]]}
    extract_frames(domains, data, every=scale.every, pair_gap=scale.every, scale=scale.scale, quiet=True)
    source = rgb_frames(clips["shot"])
    shot = f"the demo's gloved shot ({scale.width}x{scale.height}, {len(source)} frames)"
    print(f"Temporal stability, {shot}, {scale.iters} training steps\n{machine()}", flush=True)
    width = 52
    columns = f"{'warp err / source':>17}  {'skin dist ratio':>15}  {'outside hand':>12}  {'C2ST a->b':>9}  {'s/step':>6}"
    print(f"{'variant':<{width}}  {columns}")
    variants = []
    for seed in seeds:
        for weight, form in [(w, f) for w in weights for f in (forms if w else forms[:1])]:
            for v in train_and_render(data, clips["shot"], folder, scale, weight, seed, args.device, form):
                ratio, passed = colour_ratio(source, v.frames, scale)
                print(
                    f"{v.name:<{width}}  {v.warp_ratio:>16.2f}x  {ratio:>10.2f} {'pass' if passed else 'FAIL'}  "
                    f"{ghosting(source, v.frames, scale):>12.2f}  {v.c2st:>9.3f}  {v.seconds_per_step:>6.2f}",
                    flush=True,
                )
                variants.append(v)
    without = [v for v in variants if v.weight == 0 and not v.smooth]
    term = [v for v in variants if v.weight == weights[-1] and v.form == forms[0]]
    if not without or not term:
        return  # the headline compares a run without the term with one with it
    if args.strip:
        rows = {
            f"without the term\n(warp {without[0].warp_ratio:.2f}x)": without[0].frames,
            f"--temporal-weight {weights[-1]:g}\n({forms[0]}, warp {term[0].warp_ratio:.2f}x)": term[0].frames,
        }
        write_strip(args.strip, source, rows, scale)
    print(f"with the temporal term: output warp error {mean_ratio(term):.2f}x the source's (without: {mean_ratio(without):.2f}x)")


if __name__ == "__main__":
    main()
