"""Render: run trained generators over whole clips, frame by frame, and write what a VFX artist can use.

Inputs are video files or image sequences; outputs H.264, ProRes 422 HQ, FFV1 or PNG sequences at the source's
resolution, frame numbers, timestamps and audio. Decoding, translation and encoding overlap: frames are decoded
on one thread, translated in batches on the calling thread, and smoothed, measured and encoded on another, with
bounded queues between them so memory stays flat however long the clip is.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from vidgan.core import distributed
from vidgan.core.background import BackgroundWriter, in_background
from vidgan.core.devices import fast_layout, inference_dtype, resolve_device
from vidgan.core.directions import DIRECTION_NAMES
from vidgan.core.errors import (
    Interrupted,
    StopRequest,
    UsageError,
    VidganError,
    interrupts_deferred,
)
from vidgan.core.progress import make_progress, warn
from vidgan.io.sequences import Clip, PngSequenceWriter, open_clip
from vidgan.io.video import VIDEO_CODECS, Frame, VideoWriter
from vidgan.models.reference import REFERENCE_ARCHS, build_reference_generator
from vidgan.render.framing import Box, Fit, Region, WholeFrame, read_box_track
from vidgan.render.temporal import MotionTracker, TemporalSmoother, WarpErrorMeter
from vidgan.runs.checkpoints import load_state_dict_file
from vidgan.runs.generators import load_generator
from vidgan.training.data import to_float, to_uint8

OUTPUT_CODECS = (*VIDEO_CODECS, "png")
_CODEC_OF_SUFFIX = {".mp4": "h264", ".mov": "prores", ".mkv": "ffv1", "": "png"}
_SUFFIX_OF_CODEC = {"h264": ".mp4", "prores": ".mov", "ffv1": ".mkv", "png": ""}
# Under torchrun, a rank that finishes its share early waits this long for the others' results.
SHARE_TIMEOUT = timedelta(hours=24)


@dataclass
class RenderedClip:
    """What became of one input: an output (and side-by-side) per direction, and how much each flickers."""

    source: Path
    outputs: dict[str, Path]  # direction → output file or PNG folder
    compares: dict[str, Path]  # direction → side-by-side, when asked for
    frames: int
    resumed: int  # frames kept from an interrupted earlier render (--resume)
    warp_errors: dict[str, float | None]  # direction → the output's warp error (vidgan.render.temporal)
    source_warp_error: float | None  # the source clip's own, the baseline


@dataclass
class RenderResult:
    clips: list[RenderedClip]
    seconds: float

    @property
    def frames(self) -> int:
        return sum(clip.frames for clip in self.clips)

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


class FrameTranslator:
    """Translates batches of full-resolution frames: framing → generator → framing back.

    Framings that give images of different sizes (a tracked region that changes size) run as one batch per size.
    """

    def __init__(
        self, generator: nn.Module, framing: WholeFrame | Region, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> None:
        self.generator = generator
        self.framing = framing
        self.device = device
        self.dtype = dtype  # the generator's weights are in this dtype (float32, or half precision with --half)

    @torch.inference_mode()
    def __call__(self, frames: list[Frame]) -> list[np.ndarray]:
        inputs = [self.framing.shrink(frame) for frame in frames]
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, image in enumerate(inputs):
            by_shape[image.shape].append(i)
        outputs: list[np.ndarray | None] = [None] * len(inputs)
        for indices in by_shape.values():
            batch = torch.from_numpy(np.stack([inputs[i] for i in indices])).to(self.device).permute(0, 3, 1, 2)
            translated = self.generator(to_float(batch).to(self.dtype)).float()
            translated = to_uint8(translated).permute(0, 2, 3, 1).cpu().numpy()
            for i, image in zip(indices, translated):
                outputs[i] = image
        return [self.framing.restore(frame, image) for frame, image in zip(frames, outputs)]


def load_render_generator(source: Path, direction: str, arch: str | None, device: torch.device) -> nn.Module:
    """A vidgan generator (run folder or checkpoint), or with `arch` a reference CycleGAN state dict file."""
    if arch is None:
        return load_generator(source, direction, device)
    if arch not in REFERENCE_ARCHS:
        raise UsageError(f"--arch must be one of {', '.join(REFERENCE_ARCHS)}, got {arch!r}")
    try:
        generator = build_reference_generator(arch, load_state_dict_file(Path(source)))
    except ValueError as error:
        raise VidganError(f"{source}: {error}") from None
    return generator.to(device).eval().requires_grad_(False)


def _batches(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def default_batch_size(device: torch.device) -> int:
    """Larger batches pay off on a GPU; on the CPU a few frames already use the cores fully."""
    return 16 if device.type == "cuda" else 4


@dataclass(frozen=True)
class _Target:
    """Where one direction of one clip goes."""

    direction: str
    path: Path
    compare: Path | None


def _codec_for(out: Path | None, codec: str | None, clip: Clip) -> str:
    """--codec if given (checked against --out's suffix), else what --out's suffix or the input's kind implies."""
    if codec is not None and codec not in OUTPUT_CODECS:
        raise UsageError(f"--codec must be one of {', '.join(OUTPUT_CODECS)}, got {codec!r}")
    if out is None:
        return codec or ("png" if clip.sequence is not None else "h264")
    suffix = "" if out.is_dir() else out.suffix.lower()
    if suffix not in _CODEC_OF_SUFFIX:
        raise UsageError(f"{out}: output must be a .mp4, .mov or .mkv file, or a folder for a PNG sequence")
    codec = codec or _CODEC_OF_SUFFIX[suffix]
    allowed = ("",) if codec == "png" else VIDEO_CODECS[codec].suffixes
    if suffix not in allowed:
        where = "a folder (no suffix)" if codec == "png" else " or ".join(allowed)
        raise UsageError(f"{out}: --codec {codec} needs {where}")
    return codec


def _with_suffix_name(path: Path, extra: str) -> Path:
    """shot.mov + _a2b → shot_a2b.mov; a folder shot/ → shot_a2b/."""
    return path.with_name(f"{path.stem}{extra}{path.suffix}")


def _plan(
    clip: Clip, directions: tuple[str, ...], codec: str, out: Path | None, out_dir: Path | None, compare: bool
) -> list[_Target]:
    """--out (one direction: as given; both: _a2b/_b2a added), else OUT_DIR or the input's folder / STEM_DIRECTION."""
    targets = []
    for direction in directions:
        if out is not None:
            path = out if len(directions) == 1 else _with_suffix_name(out, f"_{direction}")
        else:
            folder = out_dir if out_dir is not None else clip.path.parent
            path = folder / f"{clip.stem}_{direction}{_SUFFIX_OF_CODEC[codec]}"
        targets.append(_Target(direction, path, _with_suffix_name(path, "_compare") if compare else None))
    return targets


def _check_target(path: Path, codec: str, inputs: list[Clip], *, overwrite: bool, resume: bool) -> None:
    """Refuse to write over an input, or over an existing output without --overwrite (or --resume, for PNGs)."""
    resolved = path.resolve()
    for clip in inputs:
        source = clip.path.parent if clip.sequence is not None and not clip.path.is_dir() else clip.path
        if resolved == source.resolve() or (path.exists() and path.samefile(source)):  # also through a hard link
            raise UsageError(f"{path}: the output would overwrite the input {clip.path}")
    if codec == "png":
        if path.exists() and not path.is_dir():
            raise UsageError(f"{path}: is a file, the PNG sequence needs a folder here")
        if path.is_dir() and any(path.iterdir()) and not (overwrite or resume):
            raise UsageError(f"{path}: folder is not empty (pass --resume to continue it, --overwrite to replace it)")
        return
    if resume:
        raise UsageError("--resume works with PNG sequence outputs only (a video is only kept when complete)")
    if path.exists() and not overwrite:
        raise UsageError(f"{path}: already exists (pass --overwrite to replace it)")


def _open_writer(
    path: Path, codec: str, clip: Clip, width: int, *, crf: int, audio: bool, resume: bool
) -> VideoWriter | PngSequenceWriter:
    if codec == "png":
        if clip.sequence is not None:  # keep the source's file names: shot_0001.png → shot_0001.png
            writer = PngSequenceWriter(path, clip.sequence.prefix, clip.sequence.padding)
        else:
            writer = PngSequenceWriter(path, f"{clip.stem}_", 6)
        if not resume:
            for stale in writer.written():  # --overwrite: no frames of an older render left behind
                stale.unlink()
        return writer
    return VideoWriter(
        path,
        width=width,
        height=clip.height,
        fps=clip.fps,
        time_base=clip.time_base,
        codec=codec,
        crf=crf,
        audio_from=clip.path if audio and clip.has_audio else None,
    )


def _what_was_kept(codec: str, targets: list[_Target], writers: list[VideoWriter | PngSequenceWriter]) -> str:
    """What an interrupted render of one clip leaves behind, for the error message."""
    if codec == "png" and writers:
        folders = ", ".join(f"{w.path} ({len(w.written())} frames)" for w in writers)
        return f"interrupted; the partial PNG sequence is in {folders}: the same vidgan render command with --resume continues it"
    paths = ", ".join(str(path) for t in targets for path in (t.path, t.compare) if path is not None)
    return f"interrupted; not written: {paths}" + ("" if codec == "png" else " (a video is kept only when complete)")


def _labelled(rgb: np.ndarray, text: str) -> np.ndarray:
    """A copy of rgb with `text` in its top-left corner, white on a dark outline, sized to the frame."""
    labelled = rgb.copy()
    scale = max(0.35, rgb.shape[0] / 720)
    origin = (max(2, round(8 * scale)), max(10, round(28 * scale)))
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(labelled, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)
    return labelled


def _check_roi(roi: Box | None, clips: list[Clip]) -> None:
    """A fixed --roi needs a size and must overlap every input's frame (a --roi-track is checked frame by frame)."""
    if roi is None:
        return
    if roi.width < 1 or roi.height < 1:
        raise UsageError(f"--roi width and height must be positive, got {roi.width}x{roi.height}")
    for clip in clips:
        if roi.within(clip.width, clip.height) is None:
            raise UsageError(f"--roi {roi} lies outside the {clip.width}x{clip.height} frame of {clip.path}")


def _framing(fit: Fit, roi: Box | None, roi_track: Path | None, feather: int) -> WholeFrame | Region:
    if roi is not None and roi_track is not None:
        raise UsageError("give --roi or --roi-track, not both")
    if roi_track is not None:
        return Region(fit, read_box_track(roi_track), feather)
    if roi is not None:
        return Region(fit, lambda _frame: roi, feather)
    return WholeFrame(fit)


def render_video(
    inputs: Path | list[Path],
    source: Path,
    out: Path | None = None,
    *,
    out_dir: Path | None = None,
    direction: str = "a2b",
    arch: str | None = None,
    codec: str | None = None,
    crf: int = 18,
    fit: str = "short-side",
    roi: Box | None = None,
    roi_track: Path | None = None,
    feather: int = 16,
    fps: Fraction = Fraction(25),
    temporal_smooth: float = 0.0,
    warp_error_every: int = 10,
    compare: bool = False,
    audio: bool = True,
    overwrite: bool = False,
    resume: bool = False,
    batch_size: int | None = None,
    half: bool = False,
    device: str = "auto",
    quiet: bool = False,
) -> RenderResult:
    """Translate every frame of each input (video file, image folder or printf pattern) with the generator in `source`.

    `source` is a vidgan run folder or checkpoint, or with `arch` a reference CycleGAN state dict. Outputs go to
    `out` (one input), into `out_dir`, or beside each input as STEM_DIRECTION.mp4 (PNG folder for sequences).
    The warp error is measured on every `warp_error_every`-th pair of consecutive frames (0: not at all).
    Ctrl-C or SIGTERM raises Interrupted: a video is then not written, a PNG sequence keeps its finished frames
    (and INCOMPLETE.txt) for `resume`.
    Under torchrun, rank i of N renders inputs i, i+N, …, and every rank returns every clip.
    """
    paths = [Path(p) for p in ([inputs] if isinstance(inputs, (str, Path)) else inputs)]
    out = Path(out) if out is not None else None
    out_dir = Path(out_dir) if out_dir is not None else None
    # 1. Check everything before any work: options, inputs, outputs, models.
    if not paths:
        raise UsageError("give at least one input")
    if out is not None and (len(paths) > 1 or out_dir is not None):
        raise UsageError("--out names one output: with several inputs (or --out-dir) use --out-dir only")
    if direction not in (*DIRECTION_NAMES, "both"):
        raise UsageError(f"--direction must be a2b, b2a or both, got {direction!r}")
    directions = DIRECTION_NAMES if direction == "both" else (direction,)
    if arch is not None and len(directions) > 1:
        raise UsageError("a reference checkpoint holds one generator: --direction both needs a vidgan run")
    if not 0.0 <= temporal_smooth <= 1.0:
        raise UsageError(f"--temporal-smooth must be between 0 and 1, got {temporal_smooth}")
    if overwrite and resume:
        raise UsageError("give --overwrite or --resume, not both")
    if not 0 <= crf <= 51:
        raise UsageError(f"--crf must be between 0 and 51, got {crf}")
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    if warp_error_every < 0:
        raise UsageError(f"--warp-error-every must be 0 (off) or more, got {warp_error_every}")
    clips = [open_clip(path, fps) for path in paths]
    _check_roi(roi, clips)
    plans = []
    for clip in clips:
        clip_codec = _codec_for(out, codec, clip)
        plans.append((clip, clip_codec, _plan(clip, directions, clip_codec, out, out_dir, compare)))
    seen: dict[Path, Path] = {}
    for clip, clip_codec, targets in plans:
        for target in targets:
            for path in filter(None, (target.path, target.compare)):
                if path.resolve() in seen:
                    raise UsageError(f"{path}: {seen[path.resolve()]} and {clip.path} would both write here")
                seen[path.resolve()] = clip.path
                _check_target(path, clip_codec, clips, overwrite=overwrite, resume=resume)
    torch_device = resolve_device(device)
    dtype = inference_dtype(torch_device, half)
    distributed.join(torch_device, timeout=SHARE_TIMEOUT)
    distributed.barrier()  # every rank has checked the outputs before any is written
    batch_size = batch_size or default_batch_size(torch_device)
    generators = {
        d: fast_layout(load_render_generator(source, d, arch, torch_device), torch_device).to(dtype) for d in directions
    }
    any_generator = generators[directions[0]]
    fitting = Fit(fit, any_generator.config.size, any_generator.stride)
    framing = _framing(fitting, roi, roi_track, feather)
    translators = {d: FrameTranslator(g, framing, torch_device, dtype) for d, g in generators.items()}

    # 2. Render this rank's clips one after the other, with a bar per clip and one for all of them (rank 0's).
    started = time.perf_counter()
    share = plans[distributed.rank() :: distributed.world_size()]
    rendered = []
    with make_progress(quiet=quiet or not distributed.is_main_process()) as progress, interrupts_deferred() as stop:
        counts = [clip.frame_count for clip, _, _ in share]
        overall = None
        if len(share) > 1:
            total = sum(counts) if all(counts) else None
            overall = progress.add_task(f"{len(share)} clips", total=total, info="")
        for clip, clip_codec, targets in share:
            bar = progress.add_task(f"{clip.stem} {direction}", total=clip.frame_count, info="")

            def advance(frames: int, fps_now: float, bar: int = bar) -> None:
                progress.update(bar, advance=frames, info=f"{fps_now:.1f} fps")
                if overall is not None:
                    progress.update(overall, advance=frames)

            rendered.append(
                _render_clip(
                    clip,
                    clip_codec,
                    targets,
                    translators,
                    crf=crf,
                    audio=audio,
                    resume=resume,
                    temporal_smooth=temporal_smooth,
                    warp_error_every=warp_error_every,
                    batch_size=batch_size,
                    advance=advance,
                    stop=stop,
                )
            )
    shares = distributed.gather(rendered)  # rank r rendered inputs r, r+N, …: back into input order
    rendered = [shares[i % len(shares)][i // len(shares)] for i in range(len(plans))]
    return RenderResult(rendered, time.perf_counter() - started)


def _render_clip(
    clip: Clip,
    codec: str,
    targets: list[_Target],
    translators: dict[str, FrameTranslator],
    *,
    crf: int,
    audio: bool,
    resume: bool,
    temporal_smooth: float,
    warp_error_every: int,
    batch_size: int,
    advance: Callable[[int, float], None],
    stop: StopRequest,
) -> RenderedClip:
    """Decode (thread) → translate in batches → smooth, measure and encode (thread), keeping each frame's timestamp.

    Ctrl-C or SIGTERM (`stop`) is taken between batches, where no queue between the threads is half-updated.
    """
    if codec == "png" and audio and clip.has_audio:
        warn(f"{clip.path}: a PNG sequence holds no audio; its audio is not written")
    writers: dict[str, VideoWriter | PngSequenceWriter] = {}
    compares: dict[str, VideoWriter | PngSequenceWriter] = {}
    tracker = MotionTracker()
    source_meter = WarpErrorMeter()
    meters = {t.direction: WarpErrorMeter() for t in targets}
    smoothers = {t.direction: TemporalSmoother(temporal_smooth) for t in targets}
    frames = resumed = finished = 0

    def measured(position: int) -> bool:
        """Whether the pair (frame position − 1, frame position) counts towards the warp error."""
        return warp_error_every > 0 and position > 0 and position % warp_error_every == 0

    def finish(item: tuple[Frame, dict[str, tuple[np.ndarray, bool]]]) -> None:
        """Runs on the encoder thread, in frame order: motion, smoothing and flicker measures are sequential.

        Optical flow is the costly part (a fifth of a second per 1080p frame on a CPU), so it is estimated only
        for frames that smoothing or a measured pair needs; meters see only the two frames of each measured pair.
        """
        nonlocal finished
        frame, results = item
        position, finished = finished, finished + 1
        measure = measured(position)
        metered = measure or measured(position + 1)
        motion = tracker(frame.rgb, estimate=measure or temporal_smooth > 0)
        if metered:
            source_meter.add(frame.rgb, motion if measure else None)
        for direction, (rgb, done_before) in results.items():
            if done_before:
                smoothers[direction].follow(rgb)
            else:
                rgb = smoothers[direction](rgb, motion)
                if direction in compares:  # before the output, so a resumed output always has its side-by-side
                    side_by_side = [_labelled(frame.rgb, "source"), _labelled(rgb, direction)]
                    compares[direction].write_frame(frame, np.concatenate(side_by_side, axis=1))
                writers[direction].write_frame(frame, rgb)
            if metered:
                meters[direction].add(rgb, motion if measure else None)

    started = time.perf_counter()
    encoder = BackgroundWriter(finish, maxsize=2 * batch_size)
    try:
        for target in targets:
            writers[target.direction] = _open_writer(
                target.path, codec, clip, clip.width, crf=crf, audio=audio, resume=resume
            )
            if target.compare is not None:
                compares[target.direction] = _open_writer(
                    target.compare, codec, clip, 2 * clip.width, crf=crf, audio=audio, resume=resume
                )
        for batch in _batches(in_background(clip.frames(), 2 * batch_size), batch_size):
            if stop.requested:
                raise KeyboardInterrupt  # cleaned up and reported below, as one that could not wait
            results: dict[str, list[tuple[np.ndarray, bool]]] = {}
            for direction, translate in translators.items():
                earlier = [writers[direction].existing(f) if resume else None for f in batch]
                fresh = iter(translate([f for f, e in zip(batch, earlier) if e is None]))
                results[direction] = [(next(fresh), False) if e is None else (e, True) for e in earlier]
                resumed += sum(e is not None for e in earlier)
            for i, frame in enumerate(batch):
                encoder.submit((frame, {d: results[d][i] for d in translators}))
            frames += len(batch)
            advance(len(batch), frames / (time.perf_counter() - started))
        encoder.finish()
        # Only complete files are moved to their final names.
        for writer in (*writers.values(), *compares.values()):
            writer.close()
    except BaseException as error:
        encoder.finish(check=False)
        for writer in (*writers.values(), *compares.values()):
            writer.abort()
        if isinstance(error, KeyboardInterrupt):
            raise Interrupted(_what_was_kept(codec, targets, [*writers.values(), *compares.values()])) from None
        raise
    return RenderedClip(
        source=clip.path,
        outputs={t.direction: t.path for t in targets},
        compares={t.direction: t.compare for t in targets if t.compare is not None},
        frames=frames,
        resumed=resumed // len(translators),
        warp_errors={d: meter.value for d, meter in meters.items()},
        source_warp_error=source_meter.value,
    )
