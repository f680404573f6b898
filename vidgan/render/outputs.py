"""Planning the outputs of `vidgan render`: per input clip its codec and target paths, checked before any work.

Outputs are named from --out (one input), --out-dir, or the input's own folder, as STEM_DIRECTION with the
codec's suffix (a folder for image sequences); with --matte, each output's change matte goes beside it into the
folder OUTPUT_matte/ (OUTPUT without its suffix) as 16-bit grey PNGs named like the output's frames would be as a
PNG sequence: compositing applications load such sequences directly, 16 bits keep a soft matte free of banding,
and the frame numbers match the source's. Nothing is written over an input, nor over an earlier output
without --overwrite (or --resume, which continues an image sequence).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidgan.core.directions import Direction
from vidgan.core.errors import UsageError
from vidgan.io.plates import DISPLAY
from vidgan.io.sequences import PLATE_SUFFIXES, SEQUENCE_FORMATS, Clip, ImageSequenceWriter, open_clip, output_colorspace
from vidgan.io.video import VIDEO_CODECS, Frame, VideoWriter
from vidgan.render.detail import write_matte
from vidgan.render.options import RenderOptions

_CODEC_OF_SUFFIX = {".mp4": "h264", ".mov": "prores", ".mkv": "ffv1", "": "png"}
_SUFFIX_OF_CODEC = {codec: suffix for suffix, codec in _CODEC_OF_SUFFIX.items()} | {codec: "" for codec in SEQUENCE_FORMATS}
# An image sequence renders to its own format by default: OpenEXR to OpenEXR, TIFF to TIFF, DPX and Cineon to DPX,
# the rest to PNG.
_SEQUENCE_CODEC_OF_SUFFIX = {".exr": "exr", ".tif": "tiff", ".tiff": "tiff", ".dpx": "dpx", ".cin": "dpx"}

Writer = VideoWriter | ImageSequenceWriter


@dataclass(frozen=True)
class Target:
    """Where one direction of one clip goes."""

    direction: Direction
    path: Path
    compare: Path | None  # the side-by-side, when asked for
    matte: Path | None  # the folder of the change mattes, when asked for


@dataclass(frozen=True)
class ClipPlan:
    """One input clip, the codec of its outputs and a target per direction."""

    clip: Clip
    codec: str
    targets: tuple[Target, ...]

    @property
    def is_sequence(self) -> bool:
        """Whether the outputs are image sequences (folders of frames) rather than video files."""
        return self.codec in SEQUENCE_FORMATS

    @property
    def deep(self) -> bool:
        """Whether the outputs hold more than 8 bits per sample (so a deep video source is decoded at 16 bits)."""
        return self.is_sequence or VIDEO_CODECS[self.codec].bits > 8


def _sequence_codec(clip: Clip) -> str:
    return "png" if clip.sequence is None else _SEQUENCE_CODEC_OF_SUFFIX.get(clip.sequence.suffix, "png")


def _codec_for(out: Path | None, codec: str | None, clip: Clip) -> str:
    """--codec if given (checked against --out's suffix), else what --out's suffix or the input's kind implies."""
    if out is None:
        return codec or (_sequence_codec(clip) if clip.sequence is not None else "h264")
    suffix = "" if out.is_dir() else out.suffix.lower()
    if suffix not in _CODEC_OF_SUFFIX:
        raise UsageError(f"{out}: output must be a .mp4, .mov or .mkv file, or a folder for an image sequence")
    codec = codec or (_sequence_codec(clip) if suffix == "" else _CODEC_OF_SUFFIX[suffix])
    allowed = ("",) if codec in SEQUENCE_FORMATS else VIDEO_CODECS[codec].suffixes
    if suffix not in allowed:
        where = "a folder (no suffix)" if codec in SEQUENCE_FORMATS else " or ".join(allowed)
        raise UsageError(f"{out}: --codec {codec} needs {where}")
    return codec


def _with_suffix_name(path: Path, extra: str) -> Path:
    """shot.mov + _a2b → shot_a2b.mov; a folder shot/ → shot_a2b/."""
    return path.with_name(f"{path.stem}{extra}{path.suffix}")


def _targets(clip: Clip, codec: str, options: RenderOptions) -> tuple[Target, ...]:
    """--out (one direction: as given; both: _a2b/_b2a added), else OUT_DIR or the input's folder / STEM_DIRECTION."""
    targets = []
    for direction in options.directions:
        if options.out is not None:
            one = len(options.directions) == 1
            path = options.out if one else _with_suffix_name(options.out, f"_{direction.name}")
        else:
            folder = options.out_dir if options.out_dir is not None else clip.path.parent
            path = folder / f"{clip.stem}_{direction.name}{_SUFFIX_OF_CODEC[codec]}"
        compare = _with_suffix_name(path, "_compare") if options.compare else None
        matte = path.with_name(f"{path.stem}_matte") if options.matte else None
        targets.append(Target(direction, path, compare, matte))
    return tuple(targets)


def _check_target(path: Path, codec: str, inputs: list[Clip], options: RenderOptions) -> None:
    """Refuse to write over an input, or over an existing output without --overwrite (or --resume, for sequences)."""
    resolved = path.resolve()
    for clip in inputs:
        source = clip.path.parent if clip.sequence is not None and not clip.path.is_dir() else clip.path
        if resolved == source.resolve() or (path.exists() and path.samefile(source)):  # also through a hard link
            raise UsageError(f"{path}: the output would overwrite the input {clip.path}")
    if codec in SEQUENCE_FORMATS:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{path}: is a file, the image sequence needs a folder here")
        if path.is_dir() and any(path.iterdir()) and not (options.overwrite or options.resume):
            raise UsageError(f"{path}: folder is not empty (pass --resume to continue it, --overwrite to replace it)")
        return
    if options.resume:
        raise UsageError("--resume works with image sequence outputs only (a video is only kept when complete)")
    if path.exists() and not options.overwrite:
        raise UsageError(f"{path}: already exists (pass --overwrite to replace it)")


def _check_roi(options: RenderOptions, clips: list[Clip]) -> None:
    """A fixed --roi must overlap every input's frame (a --roi-track is checked frame by frame)."""
    if options.roi is None:
        return
    for clip in clips:
        if options.roi.within(clip.width, clip.height) is None:
            raise UsageError(f"--roi {options.roi} lies outside the {clip.width}x{clip.height} frame of {clip.path}")


def plan_outputs(paths: Sequence[Path], options: RenderOptions) -> list[ClipPlan]:
    """Open each input (video file, image folder or printf pattern) and plan its outputs; raises UsageError (or
    VidganError for an unreadable input) before anything is written."""
    if not paths:
        raise UsageError("give at least one input")
    if options.out is not None and (len(paths) > 1 or options.out_dir is not None):
        raise UsageError("--out names one output: with several inputs (or --out-dir) use --out-dir only")
    clips = [open_clip(path, options.fps, options.colorspace, options.layer) for path in paths]
    _check_roi(options, clips)
    plans = []
    for clip in clips:
        codec = _codec_for(options.out, options.codec, clip)
        if options.alpha == "matte" and codec not in SEQUENCE_FORMATS and not VIDEO_CODECS[codec].alpha:
            raise UsageError(f"--alpha matte needs an output with an alpha channel: prores4444 or an image sequence, not {codec}")
        plans.append(ClipPlan(clip, codec, _targets(clip, codec, options)))
    seen: dict[Path, Path] = {}
    for plan in plans:
        for target in plan.targets:
            for path, codec in ((target.path, plan.codec), (target.compare, plan.codec), (target.matte, "png")):
                if path is None:
                    continue
                if path.resolve() in seen:
                    raise UsageError(f"{path}: {seen[path.resolve()]} and {plan.clip.path} would both write here")
                seen[path.resolve()] = plan.clip.path
                _check_target(path, codec, clips, options)
    return plans


class MatteSequenceWriter(ImageSequenceWriter):
    """Writes H×W float32 change mattes in [0, 1] as 16-bit grey PNGs (vidgan.render.detail.write_matte)."""

    def write_frame(self, frame: Frame, matte: np.ndarray) -> None:
        write_matte(self.frame_path(frame.index), matte)
        self.frames += 1


def _sequence_writer(
    path: Path, plan: ClipPlan, options: RenderOptions, kind: type[ImageSequenceWriter], codec: str = "png"
) -> ImageSequenceWriter:
    """An image sequence named like the source's frames (shot.1001.exr → shot.1001.exr), else STEM_NNNNNN."""
    clip = plan.clip
    if clip.sequence is not None:
        space = output_colorspace(codec, clip.sequence.colorspace, clip.sequence.suffix in PLATE_SUFFIXES)
        writer = kind(path, clip.sequence.prefix, clip.sequence.padding, codec, space)
    else:
        writer = kind(path, f"{clip.stem}_", 6, codec, output_colorspace(codec, DISPLAY, False))
    if not options.resume:
        for stale in writer.written():  # --overwrite: no frames of an older render left behind
            stale.unlink()
    return writer


def open_matte_writer(path: Path, plan: ClipPlan, options: RenderOptions) -> MatteSequenceWriter:
    """The writer of one output's change mattes, its frames named as the output's would be as PNGs."""
    return _sequence_writer(path, plan, options, MatteSequenceWriter)


def open_writer(path: Path, plan: ClipPlan, width: int, options: RenderOptions) -> Writer:
    """A writer for one output of the planned clip, `width` pixels wide (twice the clip's for a side-by-side)."""
    clip = plan.clip
    if plan.is_sequence:
        return _sequence_writer(path, plan, options, ImageSequenceWriter, plan.codec)
    return VideoWriter(
        path,
        width=width,
        height=clip.height,
        fps=clip.fps,
        time_base=clip.time_base,
        codec=plan.codec,
        crf=options.crf,
        # Every video source: the writer carries whatever audio and subtitle tracks it has (none is fine).
        audio_from=clip.path if options.audio and clip.sequence is None else None,
        tags=clip.tags,  # colour, sample aspect ratio and timecode of the source, declared by the output
    )


def what_was_kept(plan: ClipPlan, writers: list[Writer]) -> str:
    """What an interrupted render of one clip leaves behind, for the error message."""
    if plan.is_sequence and writers:
        folders = ", ".join(f"{w.path} ({len(w.written())} frames)" for w in writers)
        return f"interrupted; the partial image sequence is in {folders}: the same vidgan render command with --resume continues it"
    paths = ", ".join(str(path) for t in plan.targets for path in (t.path, t.compare, t.matte) if path is not None)
    return f"interrupted; not written: {paths}" + ("" if plan.is_sequence else " (a video is kept only when complete)")
