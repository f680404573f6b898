"""Planning the outputs of `vidgan render`: per input clip its output format and target paths, checked before any
work, and opening their writers.

Formats come from one table (vidgan.render.formats). Outputs are named from --out (one input), --out-dir, or the
input's own folder, as STEM_DIRECTION by the format's default-name rule (a suffix, or a folder for image
sequences); with --matte, each output's change matte goes beside it into the folder OUTPUT_matte/ (OUTPUT without
its suffix, vidgan.render.formats.MATTE), its frames named like the output's would be as a PNG sequence, so that
the frame numbers match the source's. Nothing is written over an input, nor over an earlier output without
--overwrite (or --resume, which continues an image sequence).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from vidgan.core.directions import Direction
from vidgan.core.errors import UsageError
from vidgan.io.plates import DISPLAY
from vidgan.io.ranges import Span, clip_span
from vidgan.io.sequences import Clip, open_clip
from vidgan.io.tracks import track_labels
from vidgan.render.formats import (
    DEFAULT_SEQUENCE,
    DEFAULT_VIDEO,
    MATTE,
    SCENE_LINEAR,
    SOURCE_ENCODED,
    FrameWriter,
    OutputFormat,
    WriterSpec,
    format_names,
    implied_format,
    output_format,
    video_suffixes,
)
from vidgan.render.options import RenderOptions


@dataclass(frozen=True)
class Target:
    """Where one direction of one clip goes."""

    direction: Direction
    path: Path
    compare: Path | None  # the side-by-side, when asked for
    matte: Path | None  # the folder of the change mattes, when asked for


@dataclass(frozen=True)
class Output:
    """One file or folder a clip's render writes: an output, its side-by-side or its matte folder."""

    path: Path
    format: OutputFormat
    width: int  # of its frames, pixels


@dataclass(frozen=True)
class ClipPlan:
    """One input clip, the format of its outputs and a target per direction."""

    clip: Clip
    format: OutputFormat
    targets: tuple[Target, ...]
    span: Span | None = None  # the frames --frames or --start/--end take (vidgan.io.ranges); None: all

    @property
    def tracks_span(self) -> tuple[float | None, float | None]:
        """The seconds of the source's audio and subtitles that go along: the span's, else all."""
        return (None, None) if self.span is None else self.span.seconds

    @property
    def is_sequence(self) -> bool:
        """Whether the outputs are image sequences (folders of frames) rather than video files."""
        return self.format.sequence

    @property
    def deep(self) -> bool:
        """Whether the outputs hold more than 8 bits per sample (so a deep video source is decoded at 16 bits)."""
        return self.format.deep

    def outputs(self, target: Target) -> Iterator[tuple[str, Output]]:
        """The target's output, side-by-side and matte folder (those asked for), each as (role, Output) with role
        "output", "compare" or "matte"."""
        width = self.clip.width
        yield "output", Output(target.path, self.format, width)
        if target.compare is not None:
            yield "compare", Output(target.compare, self.format, 2 * width)
        if target.matte is not None:
            yield "matte", Output(target.matte, MATTE, width)


def _own_format(clip: Clip) -> OutputFormat | None:
    """The format an image-sequence input's frames are in, where the table has it (OpenEXR for .exr)."""
    return None if clip.sequence is None else implied_format(clip.sequence.suffix, sequence=True)


def _format_for(out: Path | None, codec: str | None, clip: Clip) -> OutputFormat:
    """--codec if given (checked against --out's suffix), else what --out's suffix or the input's kind implies: a
    video renders to DEFAULT_VIDEO, an image sequence to its own format (else DEFAULT_SEQUENCE)."""
    sequence = None
    if clip.sequence is not None:
        sequence = _own_format(clip) or output_format(DEFAULT_SEQUENCE)
    if out is None:
        return output_format(codec) if codec else sequence or output_format(DEFAULT_VIDEO)
    suffix = "" if out.is_dir() else out.suffix.lower()
    if suffix and suffix not in video_suffixes():
        named = ", ".join(video_suffixes())
        raise UsageError(f"{out}: output must be a video file ({named}) or a folder for an image sequence")
    if codec:
        fmt = output_format(codec)
    elif suffix:
        fmt = implied_format(suffix, sequence=False)
        if fmt is None:
            raise UsageError(f"{out}: give --codec for a {suffix} output")
    else:
        fmt = sequence or output_format(DEFAULT_SEQUENCE)
    if suffix not in fmt.out_suffixes:
        where = "a folder (no suffix)" if fmt.sequence else " or ".join(fmt.suffixes)
        raise UsageError(f"{out}: --codec {fmt.name} needs {where}")
    return fmt


def _with_suffix_name(path: Path, extra: str) -> Path:
    """shot.mov + _a2b → shot_a2b.mov; a folder shot/ → shot_a2b/."""
    return path.with_name(f"{path.stem}{extra}{path.suffix}")


def _targets(clip: Clip, fmt: OutputFormat, options: RenderOptions) -> tuple[Target, ...]:
    """--out (one direction: as given; both: _a2b/_b2a added), else OUT_DIR or the input's folder / STEM_DIRECTION."""
    targets = []
    for direction in options.directions:
        if options.out is not None:
            one = len(options.directions) == 1
            path = options.out if one else _with_suffix_name(options.out, f"_{direction.name}")
        else:
            folder = options.out_dir if options.out_dir is not None else clip.path.parent
            path = folder / fmt.output_name(f"{clip.stem}_{direction.name}")
        compare = _with_suffix_name(path, "_compare") if options.compare else None
        matte = path.with_name(f"{path.stem}_matte") if options.matte else None
        targets.append(Target(direction, path, compare, matte))
    return tuple(targets)


def _check_target(path: Path, fmt: OutputFormat, inputs: list[Clip], options: RenderOptions) -> None:
    """Refuse to write over an input, or over an existing output without --overwrite (or --resume, for sequences)."""
    resolved = path.resolve()
    for clip in inputs:
        source = clip.path.parent if clip.sequence is not None and not clip.path.is_dir() else clip.path
        if resolved == source.resolve() or (path.exists() and path.samefile(source)):  # also through a hard link
            raise UsageError(f"{path}: the output would overwrite the input {clip.path}")
    if fmt.sequence:
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
        fmt = _format_for(options.out, options.codec, clip)
        if options.alpha == "matte" and not fmt.alpha:
            with_alpha = ", ".join(name for name in format_names() if output_format(name).alpha)
            raise UsageError(f"--alpha matte needs an output with an alpha channel ({with_alpha}), not {fmt.name}")
        span = clip_span(clip, options.frames, options.start, options.end)
        plans.append(ClipPlan(clip, fmt, _targets(clip, fmt, options), span))
    seen: dict[Path, Path] = {}
    for plan in plans:
        for target in plan.targets:
            for _, output in plan.outputs(target):
                resolved = output.path.resolve()
                if resolved in seen:
                    raise UsageError(f"{output.path}: {seen[resolved]} and {plan.clip.path} would both write here")
                seen[resolved] = plan.clip.path
                _check_target(output.path, output.format, clips, options)
    return plans


def writer_spec(plan: ClipPlan, options: RenderOptions, width: int) -> WriterSpec:
    """What the writers of the planned clip's outputs are told, for frames `width` pixels wide."""
    clip = plan.clip
    if clip.sequence is not None:  # named like the source's frames (shot.1001.exr → shot.1001.exr)
        prefix, padding, space = clip.sequence.prefix, clip.sequence.padding, clip.sequence.colorspace
    else:
        prefix, padding, space = f"{clip.stem}_", 6, DISPLAY
    own = _own_format(clip)
    return WriterSpec(
        width=width,
        height=clip.height,
        fps=clip.fps,
        time_base=clip.time_base,
        tags=clip.tags,  # colour, sample aspect ratio and timecode of the source, declared by a video output
        prefix=prefix,
        padding=padding,
        colorspace=space,
        linear_source=own is not None and own.colour in (SCENE_LINEAR, SOURCE_ENCODED),
        crf=options.crf,
        # Every video source: a format that holds tracks carries whatever audio and subtitles it has (none is fine).
        tracks_from=clip.path if options.audio and clip.sequence is None else None,
        tracks_span=plan.tracks_span,
        keep=options.resume,
    )


def open_writer(output: Output, plan: ClipPlan, options: RenderOptions) -> FrameWriter:
    """The writer of one output of the planned clip, in its format."""
    return output.format.open(output.path, writer_spec(plan, options, output.width))


# What a format without tracks holds none of, by the kind of track a label names (vidgan.io.tracks).
_HELD = {"audio": "audio", "subtitle": "subtitles", "data": "data tracks"}


def dropped_tracks(plan: ClipPlan, options: RenderOptions) -> str | None:
    """The warning for a video source's audio, subtitle and data tracks that the outputs' format cannot hold, or None."""
    clip = plan.clip
    if plan.format.tracks or not options.audio or clip.sequence is not None:
        return None
    labels = track_labels(clip.path)
    if not labels:
        return None
    outputs = ", ".join(f"{t.path}/" if plan.is_sequence else str(t.path) for t in plan.targets)
    kind = "image-sequence" if plan.is_sequence else plan.format.name
    kind = f"{kind} outputs hold" if len(plan.targets) > 1 else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} output holds"
    held = " or ".join(dict.fromkeys(_HELD[label.split(" ", 1)[0]] for label in labels))
    tracks = _listed(labels)
    verb = "is" if len(labels) == 1 else "are"
    return f"{outputs}: {kind} no {held}; {clip.path}'s {tracks} {verb} not carried"


def _listed(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def what_was_kept(plan: ClipPlan, writers: list[FrameWriter]) -> str:
    """What an interrupted render of one clip leaves behind, for the error message."""
    if plan.is_sequence and writers:
        folders = ", ".join(f"{w.path} ({len(w.written())} frames)" for w in writers)
        return f"interrupted; the partial image sequence is in {folders}: the same vidgan render command with --resume continues it"
    paths = ", ".join(str(path) for t in plan.targets for path in (t.path, t.compare, t.matte) if path is not None)
    return f"interrupted; not written: {paths}" + ("" if plan.is_sequence else " (a video is kept only when complete)")
