"""The output formats of `vidgan render`: one OutputFormat record per `--codec`, in one table, and the FrameWriter
protocol every format's writer meets.

A format is a video file (PyAV: vidgan.io.video) or an image sequence in a folder (vidgan.io.sequences); the
record says what it stores (suffixes, bit depths, alpha, colour, audio and subtitle tracks), when it is chosen
without --codec, how an output is named without --out, and opens its writer. Adding a format is a module with
its writer and one `register_format` call: the command line, planning, the matte, side-by-sides and --segments
then take it like the built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Protocol

import numpy as np

from vidgan.core.errors import UsageError
from vidgan.io.colorspaces import Colorspace
from vidgan.io.plates import DISPLAY
from vidgan.io.sequences import DPX, EXR, LINEAR, PNG, TIFF, ImageEncoding, ImageSequenceWriter
from vidgan.io.video import VIDEO_CODECS, Frame, PictureTags, VideoWriter
from vidgan.render.detail import write_matte

# How a format's values relate to colour (OutputFormat.colour).
TAGGED = "tagged"  # video: Y'CbCr or RGB declaring the source's colour tags (vidgan.io.colour)
DISPLAY_REFERRED = "display"  # the source's values; a scene-linear source (OpenEXR) converted to display sRGB
SCENE_LINEAR = "linear"  # the format's convention (OpenEXR): a display-referred source converted to linear
SOURCE_ENCODED = "source"  # the source's values as they are, its transfer declared (DPX: linear, film log or video)
DATA = "data"  # not colour (a matte)


class FrameWriter(Protocol):
    """What render asks of every output's writer, whatever its format.

    `picture` is H×W×3 uint8, or float32 display-referred straight colour for a frame with a Plate (for a matte
    writer: the H×W float32 change matte in [0, 1]); `alpha` (H×W float32 in [0, 1]) replaces the source's alpha
    where the format stores alpha. Frames come in order; `frame` gives the number, timestamp and Plate."""

    path: Path

    def existing(self, frame: Frame) -> np.ndarray | None:
        """The frame as an earlier, interrupted render wrote it (for --resume), or None."""
        ...

    def write_frame(self, frame: Frame, picture: np.ndarray, alpha: np.ndarray | None = None) -> None: ...

    def written(self) -> list[Path]:
        """The complete files of this output now on disk."""
        ...

    def close(self) -> None:
        """Finish the output (VidganError when no frame was written)."""
        ...

    def abort(self) -> None:
        """Stop after a failure: keep only what --resume can continue."""
        ...


@dataclass(frozen=True)
class WriterSpec:
    """What a format's writer is told about one output."""

    width: int  # pixels (a side-by-side is twice the source's)
    height: int
    fps: Fraction
    time_base: Fraction  # of the frames' pts
    tags: PictureTags  # the source's colour, sample aspect ratio and timecode, for a video to declare
    prefix: str  # image sequences: frames are named PREFIX<number with `padding` digits>SUFFIX
    padding: int
    colorspace: Colorspace  # of the source's values (vidgan.io.colorspaces)
    linear_source: bool  # the source is a scene-linear or film format (OpenEXR, DPX, Cineon), not display-referred
    crf: int  # H.264 quality
    tracks_from: Path | None  # a video whose audio and subtitle tracks go along, where the format holds tracks
    tracks_span: tuple[float | None, float | None]  # the seconds of them that go along (None: from the start, to the end)
    keep: bool  # image sequences: keep the frames already in the folder (--resume, segments), else remove them


@dataclass(frozen=True)
class OutputFormat:
    """One output format: `name` is its --codec value; `open(path, spec)` its FrameWriter.

    `suffixes`: of a video file (the first names outputs), or of an image sequence's frame files. `implied_by`:
    the suffixes that choose it without --codec: of --out for a video, of the input's frames for an image
    sequence rendered to a folder."""

    name: str
    suffixes: tuple[str, ...]
    sequence: bool  # an image sequence in a folder, else one video file (segments are joined by copying packets)
    bits: tuple[int, ...]  # the sample depths it stores (the most for a deeper source)
    alpha: bool  # stores an alpha channel
    colour: str  # TAGGED, DISPLAY_REFERRED, SCENE_LINEAR or DATA
    tracks: bool  # carries the source's audio and subtitle tracks
    open: Callable[[Path, WriterSpec], FrameWriter]
    implied_by: tuple[str, ...] = ()

    @property
    def deep(self) -> bool:
        """Whether it holds more than 8 bits per sample (so a deep video source is decoded at 16 bits)."""
        return max(self.bits) > 8

    @property
    def out_suffixes(self) -> tuple[str, ...]:
        """The suffixes an --out of this format may have: "" (a folder) for an image sequence."""
        return ("",) if self.sequence else self.suffixes

    def output_name(self, stem: str) -> str:
        """The default-name rule (no --out): STEM for an image sequence's folder, else STEM with its first suffix."""
        return stem if self.sequence else f"{stem}{self.suffixes[0]}"


def written_colorspace(colour: str, source: Colorspace, linear_source: bool) -> Colorspace:
    """The space a format of `colour` writes values in, for a source whose values are in `source` (`linear_source`:
    a scene-linear or film format such as OpenEXR or DPX): the source's own, except that a scene-linear format
    takes a display-referred or film-log source to linear and a display-referred format takes a scene-linear or
    film file's to display sRGB."""
    if colour == SCENE_LINEAR:
        return LINEAR if source.is_display or source.is_log else source
    if colour == DISPLAY_REFERRED and linear_source:
        return DISPLAY
    return source


def _open_video(codec: str, path: Path, spec: WriterSpec) -> VideoWriter:
    return VideoWriter(
        path,
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        time_base=spec.time_base,
        codec=codec,
        crf=spec.crf,
        audio_from=spec.tracks_from,
        audio_span=spec.tracks_span,
        tags=spec.tags,
    )


def _video(codec: str, implied_by: tuple[str, ...] = ()) -> OutputFormat:
    """A row for one of vidgan.io.video.VIDEO_CODECS, which holds its encoder settings."""
    settings = VIDEO_CODECS[codec]
    opener = partial(_open_video, codec)
    return OutputFormat(codec, settings.suffixes, False, (settings.bits,), settings.alpha, TAGGED, True, opener, implied_by)


def open_sequence(
    encoding: ImageEncoding, colour: str, path: Path, spec: WriterSpec, kind: type[ImageSequenceWriter] = ImageSequenceWriter
) -> ImageSequenceWriter:
    """An image-sequence writer (of `kind`) in `encoding`; without spec.keep, the frames of an older render go."""
    space = written_colorspace(colour, spec.colorspace, spec.linear_source)
    writer = kind(path, spec.prefix, spec.padding, encoding, space)
    if not spec.keep:
        for stale in writer.written():  # --overwrite: no frames of an older render left behind
            stale.unlink()
    return writer


def _sequence(name: str, encoding: ImageEncoding, bits: tuple[int, ...], colour: str, implied_by: tuple[str, ...]) -> OutputFormat:
    """A row for an image sequence in one of vidgan.io.sequences' encodings (which pick the depth per source)."""
    opener = partial(open_sequence, encoding, colour)
    return OutputFormat(name, (encoding.suffix,), True, bits, True, colour, False, opener, implied_by)


class MatteSequenceWriter(ImageSequenceWriter):
    """Writes H×W float32 change mattes in [0, 1] as 16-bit grey PNGs (vidgan.render.detail.write_matte)."""

    def write_frame(self, frame: Frame, picture: np.ndarray, alpha: np.ndarray | None = None) -> None:
        write_matte(self.frame_path(frame.index), picture)
        self.frames += 1


# The change mattes beside an output (--matte): a 16-bit grey PNG sequence named like the output's frames would be
# as PNGs. Compositing applications load such sequences directly; 16 bits keep a soft matte free of banding.
MATTE = OutputFormat("matte", (".png",), True, (16,), False, DATA, False, partial(open_sequence, PNG, DATA, kind=MatteSequenceWriter))

# Without --codec: a video input renders to DEFAULT_VIDEO (or what --out's suffix implies), an image sequence to
# its own format where a row is implied by its frames' suffix, else to DEFAULT_SEQUENCE.
DEFAULT_VIDEO = "h264"
DEFAULT_SEQUENCE = "png"

FORMATS: dict[str, OutputFormat] = {}


def register_format(fmt: OutputFormat) -> OutputFormat:
    """Add a format to the table: --codec NAME then renders to it. ValueError for a name already taken."""
    if fmt.name in FORMATS:
        raise ValueError(f"an output format named {fmt.name!r} is already registered")
    FORMATS[fmt.name] = fmt
    return fmt


for _row in (
    _video("h264", (".mp4",)),
    _video("prores", (".mov",)),  # ProRes 422 HQ
    _video("prores4444"),  # with alpha: chosen by --codec only
    _video("ffv1", (".mkv",)),
    _sequence("png", PNG, (8, 16), DISPLAY_REFERRED, (".png",)),
    _sequence("tiff", TIFF, (8, 16, 32), DISPLAY_REFERRED, (".tif", ".tiff")),
    _sequence("exr", EXR, (16, 32), SCENE_LINEAR, (".exr",)),
    _sequence("dpx", DPX, (8, 10, 12, 16, 32), SOURCE_ENCODED, (".dpx", ".cin")),
):
    register_format(_row)


def format_names() -> tuple[str, ...]:
    """Every --codec value, in table order."""
    return tuple(FORMATS)


def output_format(name: str) -> OutputFormat:
    """The format of a --codec value; UsageError naming the choices for another."""
    if name not in FORMATS:
        raise UsageError(f"--codec must be one of {', '.join(FORMATS)}, got {name!r}")
    return FORMATS[name]


def implied_format(suffix: str, sequence: bool) -> OutputFormat | None:
    """The format a suffix chooses without --codec: of a video --out (`sequence` False) or of an image-sequence
    input's frames (True); None when none does."""
    return next((f for f in FORMATS.values() if f.sequence == sequence and suffix in f.implied_by), None)


def video_suffixes() -> tuple[str, ...]:
    """Every suffix a video --out may have, in table order."""
    return tuple(dict.fromkeys(s for f in FORMATS.values() if not f.sequence for s in f.suffixes))
