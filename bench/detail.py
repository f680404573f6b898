"""Full-resolution detail and tiles: `--detail source` beside `--detail model`, tiled beside untiled, and what the
detail step costs, on a synthetic plate and through whole renders of the demo's shot.

Synthetic: a 1920×1080 frame with detail at full resolution (film grain, small text, 1-px lines) goes through an
identity generator and a recolouring one at a 128-px working scale; vidgan's default 128-px generator (a U-Net,
3 residual blocks, full-resolution skip) gives the time the detail step is weighed against, per 1280×720 frame.
Render level: the demo's run (vidgan.demo.train_demo_run, trained into --demo unless it holds one) renders the
demo's gloved shot made at 1280×720 with each --detail (FFV1, lossless): PSNR of the table-top the glove never
covers, the demo test's colour criterion on the hand, the knit left in the hand; render time of the two modes
(default H.264 output, interleaved rounds); tiled vs untiled renders; and docs/images/detail_crop.png, a 100% crop
(source | --detail model | --detail source).
    PYTHONPATH=. python bench/detail.py [--rounds 5] [--demo DIR] [--frames 48]
The last line is the headline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from benchlib import machine

from vidgan.demo import GLOVE, SKIN, TAKES, DemoScale, hand_mask, train_demo_run, write_take
from vidgan.io.batches import to_float, to_uint8
from vidgan.io.video import iter_frames
from vidgan.models.cyclegan import GeneratorConfig, build_generator
from vidgan.render.detail import SourceDetail
from vidgan.render.framing import Fit
from vidgan.render.options import RenderOptions
from vidgan.render.tiles import TiledGenerator
from vidgan.render.video import render_video
from vidgan.runs.checkpoints import step_checkpoints

WORKING = 128  # px, the working scale's short side
SHOT = (1280, 720)  # the demo's shot is made at this size for the render-level rows
# Tile sides for the render-level tiled rows: the networks' training size (the run's --crop), and half of it, where
# the overlap (a quarter of the tile) is 8 working pixels.
TILES = (64, 32)
CROP = 256  # px, the side of each panel of docs/images/detail_crop.png
CROP_IMAGE = Path(__file__).resolve().parents[1] / "docs" / "images" / "detail_crop.png"
Row = tuple[str, str, str]


def synthetic_frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A plate with detail at full resolution: soft gradients and blobs, film grain, 1-px lines, small text."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = np.dstack([70 + 110 * xs / width, 60 + 120 * ys / height, 150 - 70 * xs / width])
    for _ in range(12):  # broad shapes: structure the working scale sees
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(40, 200) * width / 1920
        frame += rng.uniform(-50, 50, 3) * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r))[..., None]
    grain = rng.normal(0, 5, (height, width, 1)) + rng.normal(0, 2, (height, width, 3))  # luma and chroma grain
    frame = np.clip(frame + grain, 0, 255).astype(np.uint8)
    scale = width / 1920
    for i in range(0, width, max(8, round(53 * scale))):
        cv2.line(frame, (i, 0), (i + height // 3, height - 1), (235, 235, 235), 1)
    for row in range(40, height, max(12, round(90 * scale))):
        text = f"VIDGAN PLATE {row:04d} grain / text / 1-px lines"
        cv2.putText(frame, text, (20, row), cv2.FONT_HERSHEY_PLAIN, 0.9 * scale, (15, 15, 15), 1, cv2.LINE_AA)
    return frame


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def detail_ratio(output: np.ndarray, source: np.ndarray) -> float:
    """Variance of the Laplacian of the luma, output over source."""

    def variance(rgb: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())

    return variance(output) / variance(source)


def recolour(x: np.ndarray) -> np.ndarray:
    """A generator that changes one region (the middle third) and keeps its structure: a hue rotation."""
    out = x.copy()
    h, w = x.shape[:2]
    out[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] = x[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3][..., [2, 0, 1]]
    return out


def quality_rows(source: np.ndarray) -> list[tuple[str, str, str]]:
    """(what, PSNR, detail ratio) for both modes, with the identity and the recolouring generator."""
    fit = Fit("short-side", WORKING, 8)
    x = fit.shrink(source)
    rows = []
    for name, gx in (("identity G", x.copy()), ("recolour G", recolour(x))):
        model = fit.restore(source, gx)
        detailed, matte = SourceDetail()(source, x, gx)
        untouched = matte == 0
        for mode, output in (("model", model), ("source", detailed)):
            if name == "identity G":
                rows.append((f"{name}, --detail {mode}: whole frame", f"{psnr(output, source):.1f}", f"{detail_ratio(output, source):.3g}"))
            else:
                changed = matte == 1
                rows.append((
                    f"{name}, --detail {mode}: untouched {untouched.mean():.0%} | changed region",
                    f"{psnr(output[untouched], source[untouched]):.1f}",
                    f"{detail_ratio(_crop(output, changed), _crop(source, changed)):.3g}",
                ))
    return rows


def _crop(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return image[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]


def default_generator() -> torch.nn.Module:
    torch.manual_seed(0)
    config = GeneratorConfig.for_size(128, kind="unet", res_blocks=3, full_res_skip=True)
    return build_generator(config).eval().requires_grad_(False)


def tiled_rows(source: np.ndarray, generator: torch.nn.Module, trained: torch.nn.Module) -> list[tuple[str, str, str]]:
    """Tiled vs untiled PSNR of one working-scale frame (256-px short side, tiles of 128 px), and the time ratio."""
    small = Fit("short-side", 256, 8).shrink(source)
    image = to_float(torch.from_numpy(small).permute(2, 0, 1)[None])
    rows = []
    with torch.inference_mode():
        for name, net in (("random weights, 128-px default U-Net", generator), ("trained 64-px U-Net (40 steps)", trained)):
            outputs, seconds = {}, {}
            for variant, run in (("untiled", net), ("tiled", TiledGenerator(net, 128))):
                started = time.perf_counter()
                outputs[variant] = to_uint8(run(image))[0].permute(1, 2, 0).numpy()
                seconds[variant] = time.perf_counter() - started
            rows.append((
                f"tiles of 128 vs untiled, {small.shape[1]}x{small.shape[0]}, {name}",
                f"{psnr(outputs['tiled'], outputs['untiled']):.1f}",
                f"{seconds['tiled'] / seconds['untiled']:.1f}x time",
            ))
    return rows


def fitted_unet() -> torch.nn.Module:
    """A small U-Net fitted for 40 steps to a colour grade of the frame's own 64-px crops (trained weights)."""
    torch.manual_seed(0)
    generator = build_generator(GeneratorConfig.for_size(64, channels=8, res_blocks=1, kind="unet", full_res_skip=True))
    crops = to_float(torch.from_numpy(Fit("short-side", 256, 8).shrink(synthetic_frame(1920, 1080, seed=1))).permute(2, 0, 1))
    optimiser = torch.optim.Adam(generator.parameters(), 2e-3)
    for _ in range(40):
        tops, lefts = torch.randint(0, crops.shape[1] - 64, (4,)), torch.randint(0, crops.shape[2] - 64, (4,))
        batch = torch.stack([crops[:, top : top + 64, left : left + 64] for top, left in zip(tops, lefts)])
        loss = (generator(batch) - (batch[:, [2, 0, 1]] * 0.8 + 0.1)).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return generator.eval().requires_grad_(False)


def best_seconds(runs: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Interleaved rounds, each variant's fastest time in seconds."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def cost_rows(generator: torch.nn.Module, rounds: int) -> tuple[list[tuple[str, str, str]], float]:
    """Per 1280×720 frame: the generator at 128 px, restoring with --detail model and with --detail source
    (a random-weight generator's output: it changes every pixel, so the matte covers the whole frame)."""
    source = synthetic_frame(1280, 720)
    fit = Fit("short-side", WORKING, generator.stride)
    x = fit.shrink(source)
    image = to_float(torch.from_numpy(x).permute(2, 0, 1)[None])
    with torch.inference_mode():
        gx = to_uint8(generator(image))[0].permute(1, 2, 0).numpy()

    def run_generator() -> None:
        with torch.inference_mode():
            generator(image)

    detail = SourceDetail()  # as a render keeps one: its work arrays stay allocated from frame to frame
    times = best_seconds(
        {
            "generator": run_generator,
            "model": lambda: fit.restore(source, gx),
            "source": lambda: detail(source, x, gx),
        },
        rounds,
    )
    extra = (times["source"] - times["model"]) / times["generator"]
    rows = [
        (f"720p: generator at {x.shape[1]}x{x.shape[0]} (default U-Net)", f"{times['generator'] * 1000:.0f} ms", "-"),
        ("720p: --detail model restore", f"{times['model'] * 1000:.1f} ms", "-"),
        ("720p: --detail source matte + composite (matte everywhere)", f"{times['source'] * 1000:.1f} ms", f"+{extra:.1%} of G"),
    ]
    return rows, extra


def demo_run(folder: Path) -> Path:
    """The demo's trained run, FOLDER/run: trained there first, as `vidgan demo` trains it, unless it holds one."""
    run = folder / "run"
    if not (run.is_dir() and step_checkpoints(run)):
        train_demo_run(folder, DemoScale(), device="cpu", quiet=True)
    return run


def render(shot: Path, run: Path, out: Path, **changes: object) -> list[np.ndarray]:
    """`vidgan render SHOT --run RUN --out OUT` on the CPU with the defaults but `changes`; the output's frames."""
    options = RenderOptions(out=out, overwrite=True, device="cpu", quiet=True, **changes)
    return [frame.rgb for frame in iter_frames(render_video(shot, run, options).clips[0].outputs["a2b"])]


def masked_psnr(outputs: list[np.ndarray], sources: list[np.ndarray], mask: np.ndarray) -> float:
    """PSNR in dB over the pixels of `mask` (H×W bool) of every frame."""
    squared = sum(float(np.sum((o[mask].astype(np.float64) - s[mask]) ** 2)) for o, s in zip(outputs, sources))
    return psnr_of_mse(squared / (mask.sum() * 3 * len(outputs)))


def psnr_of_mse(mse: float) -> float:
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def hand_rows(outputs: list[np.ndarray], sources: list[np.ndarray], mode: str) -> tuple[list[Row], bool]:
    """The demo test's colour criterion on the hand (every 10th frame, eroded mask), and the knit left in it: the
    Laplacian variance of the luma inside the hand, output / source."""
    width, height = SHOT
    phase = TAKES["shot"][1]
    inside = [(i, hand_mask(i, width, height, phase) > 250) for i in range(0, len(sources), 10)]
    before = np.mean([sources[i][hand].mean(axis=0) for i, hand in inside], axis=0)
    after = np.mean([outputs[i][hand].mean(axis=0) for i, hand in inside], axis=0)

    def to_skin(colour: np.ndarray) -> float:
        return float(np.linalg.norm(colour - np.array(SKIN)))

    translated = to_skin(after) < 0.5 * to_skin(before) and to_skin(after) < np.linalg.norm(after - np.array(GLOVE))
    core = [(i, cv2.erode(hand.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0) for i, hand in inside]

    def knit(frames: list[np.ndarray]) -> float:
        return float(np.mean([_laplacian(frames[i])[hand].var() for i, hand in core]))

    rows = [
        (f"demo 720p, --detail {mode}: hand colour, distance to skin (source {to_skin(before):.0f})",
         f"{to_skin(after):.0f}", "translated" if translated else "NOT translated"),
        (f"demo 720p, --detail {mode}: knit left in the hand (Laplacian variance)", "-", f"{knit(outputs) / knit(sources):.3g}"),
    ]
    return rows, translated


def _laplacian(rgb: np.ndarray) -> np.ndarray:
    return cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F)


def render_quality_rows(shot: Path, run: Path, folder: Path) -> tuple[list[Row], dict[str, float], bool]:
    """Background PSNR and the hand rows of each --detail; writes CROP_IMAGE. Returns the rows, the PSNRs by mode
    and whether `--detail source` still translates the hand."""
    sources = [frame.rgb for frame in iter_frames(shot)]
    width, height = SHOT
    phase = TAKES["shot"][1]
    never = np.logical_and.reduce([hand_mask(i, width, height, phase) == 0 for i in range(len(sources))])
    rows, background, translated = [], {}, {}
    outputs = {mode: render(shot, run, folder / f"{mode}.mkv", detail=mode, codec="ffv1") for mode in ("model", "source")}
    for mode, frames in outputs.items():
        background[mode] = masked_psnr(frames, sources, never)
        rows.append((f"demo 720p, --detail {mode}: background ({never.mean():.0%} never covered)", f"{background[mode]:.1f}", "-"))
        more, translated[mode] = hand_rows(frames, sources, mode)
        rows += more
    write_crop(sources, outputs, phase)
    return rows, background, translated["source"]


def write_crop(sources: list[np.ndarray], outputs: dict[str, list[np.ndarray]], phase: float) -> None:
    """CROP_IMAGE: CROP×CROP at 100% around the fingertips of the middle frame: source | model | source detail."""
    middle = len(sources) // 2
    height, width = sources[middle].shape[:2]
    rows, columns = np.nonzero(hand_mask(middle, width, height, phase))
    top = int(np.clip(rows.min() - CROP // 4, 0, height - CROP))
    left = int(np.clip(columns[rows.argmin()] - CROP // 2, 0, width - CROP))
    panels = []
    for label, frame in (("source", sources[middle]), ("--detail model", outputs["model"][middle]),
                         ("--detail source", outputs["source"][middle])):
        panel = np.ascontiguousarray(frame[top : top + CROP, left : left + CROP])
        cv2.rectangle(panel, (0, 0), (8 + 9 * len(label), 20), (0, 0, 0), -1)
        cv2.putText(panel, label, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        panels += [panel, np.full((CROP, 4, 3), 255, np.uint8)]
    CROP_IMAGE.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(CROP_IMAGE), cv2.cvtColor(np.hstack(panels[:-1]), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])


def render_cost_and_tile_rows(shot: Path, run: Path, folder: Path, rounds: int) -> tuple[list[Row], float, dict[int, float]]:
    """Render time --detail source / --detail model (default H.264 output, interleaved rounds, best of each), and
    tiled (TILES, at the run's 128×72 working frames) vs untiled renders of a short shot. Returns the rows, the time
    ratio and the worst frame's tiled-vs-untiled PSNR by tile size."""
    times = best_seconds(
        {mode: lambda m=mode: render(shot, run, folder / f"timed_{m}.mp4", detail=m) for mode in ("model", "source")},
        rounds,
    )
    ratio = times["source"] / times["model"]
    rows = [
        ("demo 720p render time: --detail model", f"{times['model']:.2f} s", "-"),
        ("demo 720p render time: --detail source", f"{times['source']:.2f} s", f"{ratio:.2f}x model"),
    ]
    short = write_take(folder / "short.mp4", "shot", *SHOT, frames=8)
    untiled = render(short, run, folder / "untiled.mkv", tile=0, codec="ffv1")
    worst = {}
    for tile in TILES:
        tiled = render(short, run, folder / f"tiled_{tile}.mkv", tile=tile, codec="ffv1")
        worst[tile] = min(psnr(a, b) for a, b in zip(tiled, untiled))
        rows.append((f"demo 720p render, tiles of {tile} vs untiled, worst of {len(tiled)} frames", f"{worst[tile]:.1f}", "-"))
    return rows, ratio, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--render-rounds", type=int, default=3, help="interleaved rounds of the timed renders")
    parser.add_argument("--frames", type=int, default=48, help="frames of the demo's 1280x720 shot")
    parser.add_argument("--demo", type=Path, default=Path(tempfile.gettempdir()) / "vidgan-bench-detail-demo",
                        help="folder of the demo's run (trained there unless it holds one)")
    args = parser.parse_args()
    source = synthetic_frame(1920, 1080)
    generator = default_generator()
    quality = quality_rows(source)
    tiled = tiled_rows(source, generator, fitted_unet())
    costs, extra = cost_rows(generator, args.rounds)
    run = demo_run(args.demo)
    with tempfile.TemporaryDirectory() as folder:
        shot = write_take(Path(folder) / "shot.mp4", "shot", *SHOT, frames=args.frames)
        demo, background, translated = render_quality_rows(shot, run, Path(folder))
        timing, ratio, tile_psnr = render_cost_and_tile_rows(shot, run, Path(folder), args.render_rounds)
    rows = quality + tiled + costs + demo + timing
    print(f"Full-resolution detail and tiles, 1920x1080 synthetic plate at a working scale of {WORKING} px; the demo's"
          f" run on its shot at {SHOT[0]}x{SHOT[1]}, {args.frames} frames\n{machine()}")
    width = max(len(row[0]) for row in rows)
    print(f"{'what':<{width}}  {'PSNR dB / time':>14}  {'detail / cost':>13}")
    for what, first, second in rows:
        print(f"{what:<{width}}  {first:>14}  {second:>13}")
    (_, model_psnr, model_detail), (_, source_psnr, source_detail) = quality[:2]
    print(
        f"headline: identity G at 1080p, --detail source PSNR {source_psnr} dB, detail ratio {source_detail} "
        f"(--detail model {model_psnr} dB, {model_detail}); tiled vs untiled {tiled[1][1]} dB (trained U-Net); "
        f"the detail step adds {extra:.1%} of the generator's time at 720p; demo at 720p: background "
        f"{background['source']:.1f} dB with --detail source (--detail model {background['model']:.1f}), hand "
        f"{'translated' if translated else 'NOT translated'}, render time {ratio:.2f}x --detail model's, tiled vs "
        f"untiled render {tile_psnr[64]:.1f} dB (tiles of 64; of 32: {tile_psnr[32]:.1f} dB)"
    )


if __name__ == "__main__":
    main()
