"""The built-in demo: synthetic glove/hand footage → extract → train → render, sized for a laptop CPU.

The footage is 640×360; extraction keeps whole frames at a small working scale, training runs on square crops of
them, and the render translates each frame at that working scale and composites the result into the
full-resolution shot through the change matte (`--detail source`), so the table-top keeps its own pixels.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidgan.core.directions import A2B
from vidgan.core.errors import UsageError
from vidgan.core.options import option
from vidgan.io.extract import extract_frames
from vidgan.io.video import write_test_clip
from vidgan.render.options import DEVICE_HELP, QUIET, RenderOptions
from vidgan.training.options import CycleGANOptions

SKIN = (224, 172, 140)
GLOVE = (40, 46, 70)
CLIP_FPS = Fraction(24)


@dataclass(frozen=True)
class DemoScale:
    """How big the demo is: the default runs in a few minutes on 2 CPU cores; tests use a smaller one.

    scale: the working scale (short side in px) frames are extracted and rendered at; crop: the side of the square
    crops of them the networks train on (their size, 64 or 128; at most `scale`).
    """

    width: int = 640
    height: int = 360
    seconds: float = 8.0
    every: int = 2
    scale: int = 72
    crop: int = 64
    channels: int = 16
    res_blocks: int = 3
    batch_size: int = 4
    iters: int = 400


@dataclass(frozen=True)
class DemoOptions:
    """What `vidgan demo` (run_demo) builds, where and on which device; a path may be given as a string."""

    out: Path = option(Path("vidgan-demo"), "Folder for the demo's clips, data, run and videos.")
    device: str = option("auto", DEVICE_HELP)
    quiet: bool = option(False, **QUIET)
    scale: DemoScale = option(DemoScale(), "How big the demo is (tests and benches run smaller ones).", cli=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))


def hand_mask(i: int, width: int, height: int, phase: float = 0.0) -> np.ndarray:
    """Where the hand is in frame i: a palm with four fingers and a thumb, drifting and turning (uint8 0/255)."""
    mask = np.zeros((height, width), np.uint8)
    t = i / 24.0 + phase
    unit = min(width, height) / 10.0
    cx = width / 2 + math.sin(0.7 * t) * width * 0.25
    cy = height / 2 + math.cos(0.5 * t) * height * 0.12 + unit
    angle = 0.35 * math.sin(0.9 * t)
    cv2.ellipse(mask, (round(cx), round(cy)), (round(1.6 * unit), round(1.9 * unit)), math.degrees(angle), 0, 360, 255, -1)
    for k, (spread, length) in enumerate([(-0.45, 2.2), (-0.15, 2.6), (0.15, 2.5), (0.45, 2.1), (1.25, 1.7)]):
        direction = angle + spread - math.pi / 2
        base = (cx + math.cos(direction) * 1.4 * unit, cy + math.sin(direction) * 1.6 * unit)
        tip = (base[0] + math.cos(direction) * length * unit, base[1] + math.sin(direction) * length * unit)
        thickness = max(2, round(0.55 * unit if k < 4 else 0.65 * unit))
        cv2.line(mask, tuple(map(round, base)), tuple(map(round, tip)), 255, thickness, cv2.LINE_AA)
    return mask


def draw_frame(i: int, width: int, height: int, gloved: bool, phase: float = 0.0) -> np.ndarray:
    """A hand over a textured table-top; the glove is dark and knitted (stripes), the bare hand skin-toned."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    background = np.stack([150 + 40 * x / width, 160 + 30 * y / height, 175 - 25 * x / width], axis=-1)
    background += 8 * np.sin(x / 5.0 + y / 9.0)[..., None]  # wood-like grain
    mask = hand_mask(i, width, height, phase).astype(np.float32)[..., None] / 255.0
    if gloved:
        knit = 1.0 + 0.35 * (np.sin(y * 1.3) > 0)[..., None]
        hand = np.array(GLOVE, np.float32) * knit
    else:
        hand = np.array(SKIN, np.float32) * (0.92 + 0.08 * np.cos(x / 7.0))[..., None]
    return np.clip(background * (1 - mask) + hand * mask, 0, 255).astype(np.uint8)


SHOT_PHASE = 7.0  # the gloved shot's hand_mask phase


def hand_colours(frames: list[np.ndarray], width: int, height: int, every: int = 10) -> np.ndarray:
    """The mean colour (RGB 0-255) of the shot's hand in every `every`-th of its frames (H×W×3), one row each; the
    mask is taken at near full strength only, so the hand's blurred edge does not count."""
    return np.array([frames[i][hand_mask(i, width, height, SHOT_PHASE) > 250].mean(axis=0) for i in range(0, len(frames), every)])


# The demo's takes: whether the hand is gloved, the phase of its motion (hand_mask), and whether it has sound.
TAKES = {"glove": (True, 0.0, False), "hand": (False, 3.0, False), "shot": (True, SHOT_PHASE, True)}


def write_take(path: Path, take: str, width: int, height: int, frames: int) -> Path:
    """One of TAKES as a width×height H.264 clip of `frames` frames at CLIP_FPS."""
    gloved, phase, audio = TAKES[take]

    def draw(i: int) -> np.ndarray:
        return draw_frame(i, width, height, gloved, phase)

    return write_test_clip(path, width=width, height=height, fps=CLIP_FPS, n_frames=frames, audio=audio, draw=draw)


def make_demo_clips(folder: Path, scale: DemoScale) -> dict[str, Path]:
    """glove.mp4 (domain a), hand.mp4 (domain b) and shot.mp4 (a new gloved take, with sound) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = round(scale.seconds * CLIP_FPS)
    return {take: write_take(folder / f"{take}.mp4", take, scale.width, scale.height, frames) for take in TAKES}


def training_options(data: Path, run_dir: Path, scale: DemoScale, *, device: str = "auto", quiet: bool = False) -> CycleGANOptions:
    """The demo's CycleGAN: square crops of the frames `extract` wrote into `data` (a/ and b/), sized by `scale`."""
    return CycleGANOptions(
        a_dir=data / "a",
        b_dir=data / "b",
        out=run_dir,
        crop=scale.crop,
        channels=scale.channels,
        res_blocks=scale.res_blocks,
        batch_size=scale.batch_size,
        iters=scale.iters,
        sample_every=max(1, scale.iters // 8),
        checkpoint_every=scale.iters,
        device=device,
        quiet=quiet,
    )


def render_options(out: Path, *, device: str = "auto", quiet: bool = False) -> RenderOptions:
    """The demo's render: glove → bare hand, with a side-by-side, detail from the source (the default). On the CPU
    an ONNX runtime runs the generator (--runtime auto): in one run at load 9, the demo's 640×360 render took 45 s
    with torch, 17 s with ONNX Runtime (44 s with its one-off export) and 11 s with OpenVINO."""
    return RenderOptions(out=out, directions=(A2B,), compare=True, overwrite=True, runtime="auto", device=device, quiet=quiet)


MARKER = ".vidgan-demo"


def _clear_previous_demo(out_dir: Path) -> None:
    """A re-run replaces the demo's own earlier output; any other existing folder is left alone."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise UsageError(f"{out_dir}: exists and was not made by vidgan demo (choose another --out)")
    for stale in ("data", "run"):
        shutil.rmtree(out_dir / stale, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).touch()


@dataclass
class DemoResult:
    translated: Path
    side_by_side: Path
    run_dir: Path


def train_demo_run(
    out_dir: Path, scale: DemoScale = DemoScale(), *, device: str = "auto", quiet: bool = False
) -> tuple[dict[str, Path], Path]:
    """The demo's footage in OUT/clips and its trained run in OUT/run: (the clips by name, the run folder)."""
    # Imported here, so that the command line, which imports DemoOptions when it starts, starts without torch.
    from vidgan.training.cyclegan import train_cyclegan

    # 1. Footage: a gloved take, a bare-hand take, and a new gloved shot to fix.
    clips = make_demo_clips(out_dir / "clips", scale)
    # 2. Extract every Nth frame of each take into the two domains, whole, at the working scale, each with the next
    #    kept frame and the optical flow between them (its pair).
    data = out_dir / "data"
    domains = {"a": [clips["glove"]], "b": [clips["hand"]]}
    extract_frames(domains, data, every=scale.every, pair_gap=scale.every, scale=scale.scale, quiet=quiet)
    # 3. Train the CycleGAN on square crops of them (the run records the working scale); with the pairs there, its
    #    temporal term trains on consecutive frames by default.
    return clips, train_cyclegan(training_options(data, out_dir / "run", scale, device=device, quiet=quiet)).run_dir


def run_demo(options: DemoOptions = DemoOptions()) -> DemoResult:
    """Remove the glove from a synthetic shot, going through the same three stages a user runs."""
    from vidgan.render.video import render_video  # (as train_demo_run's import)

    _clear_previous_demo(options.out)
    clips, run_dir = train_demo_run(options.out, options.scale, device=options.device, quiet=options.quiet)
    # 4. Render the shot glove → bare hand at the run's working scale, its detail from the source (the defaults),
    #    plus a side-by-side (source | result) for a quick look.
    render = render_options(options.out / "shot_nogloves.mp4", device=options.device, quiet=options.quiet)
    clip = render_video(clips["shot"], run_dir, render).clips[0]
    return DemoResult(clip.outputs["a2b"], clip.compares["a2b"], run_dir)
