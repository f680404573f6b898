"""Image sequences (a folder, or a printf pattern like shot_%04d.png or shot.%04d.exr): reading, writing PNG,
TIFF, OpenEXR and DPX sequences (through OpenImageIO: vidgan.io.imagefile), and `open_clip`, which opens any
render input, video file or sequence, behind one interface.

A frame's number comes from the digits at the end of its file name, so a sequence starting at 1001 or with
gaps keeps its numbering through a render. Frames keep their depth and alpha (vidgan.io.plates); an OpenEXR,
DPX or Cineon plate is converted from its colour space to display-referred sRGB on the way in
(vidgan.io.colorspaces), and back on the way out. An output of the source's format carries its header (timecode,
frame rate, DPX transfer) and, for OpenEXR, its other layers and parts and its windows; image outputs carry the
source's ICC profile and gAMA where their values are in the source's encoding.

Colour premultiplied by alpha (OpenEXR; TIFF with ExtraSamples 1) is read as straight colour and multiplied again
on the way out where the output format stores it so: OpenEXR always (its RGBA is associated by convention), TIFF
where the source's colour was (the file says which in its ExtraSamples tag), never PNG.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path

import numpy as np

from vidgan.core.errors import UsageError, VidganError
from vidgan.core.fsutil import write_text_atomic
from vidgan.core.progress import warn
from vidgan.io.colorspaces import Colorspace, resolve_colorspace
from vidgan.io.colour import IMAGE_TAGS
from vidgan.io.imagefile import read_file, write_file
from vidgan.io.images import IMAGE_SUFFIXES, list_images
from vidgan.io.plates import DISPLAY, Plate, split_plate, stored_pixels
from vidgan.io.video import FirstFrameSize, Frame, PictureTags, iter_frames, probe_video

# Image sequences also take OpenEXR, DPX and Cineon plates (training folders do not).
SEQUENCE_SUFFIXES = IMAGE_SUFFIXES | {".exr", ".dpx", ".cin"}
_PRINTF = re.compile(r"(?P<prefix>.*?)%(?P<padding>0\d+)?d(?P<suffix>.*)")
_TRAILING_NUMBER = re.compile(r"(?P<prefix>.*?)(?P<number>\d+)$")
INCOMPLETE_MARKER = "INCOMPLETE.txt"
INCOMPLETE_NOTE = (
    "vidgan render has not finished this image sequence: it was stopped, or is still running.\n"
    "The same vidgan render command with --resume continues it; this file goes once the last frame is written.\n"
)


@dataclass(frozen=True)
class ImageSequence:
    """Numbered image files of one shot, in frame order; `prefix` and `padding` describe their names."""

    path: Path  # the folder or printf pattern as given
    files: tuple[tuple[int, Path], ...]  # (frame number, file)
    prefix: str
    padding: int
    width: int
    height: int
    colorspace: Colorspace  # of the stored values (vidgan.io.colorspaces)
    layer: str | None = None  # of multi-layer OpenEXR files, the one translated (None: the plain R, G, B)
    timecode: str | None = None  # the first file's SMPTE timecode (DPX, OpenEXR headers), which video outputs start at

    @property
    def suffix(self) -> str:
        """The first frame's file suffix, lower case (.png, .tif, .exr, …)."""
        return self.files[0][1].suffix.lower()

    @property
    def stem(self) -> str:
        """A name for outputs made from this sequence: its file prefix, else its folder's name."""
        return self.prefix.rstrip("._- ") or self.files[0][1].parent.name


def is_image_sequence(path: Path) -> bool:
    """A folder or a printf pattern (shot_%04d.png) names an image sequence; anything else is a video file."""
    path = Path(path)
    return path.is_dir() or _PRINTF.fullmatch(path.name) is not None


def open_image_sequence(path: Path, colorspace: str = "auto", layer: str | None = None) -> ImageSequence:
    """List a sequence's frames and read the first one's size; errors name the folder or pattern. `colorspace` is
    the --colorspace of its values (vidgan.io.colorspaces.resolve_colorspace: auto is what the first file declares,
    linear for OpenEXR); `layer` the --layer of OpenEXR files (UsageError listing the layers where it is missing)."""
    path = Path(path)
    pattern = _PRINTF.fullmatch(path.name)
    if pattern is not None:
        files, prefix, padding = _match_pattern(path, pattern)
    else:
        files, prefix, padding = _number_folder(list_images(path, SEQUENCE_SUFFIXES))
    first = read_file(files[0][1], layer)
    height, width = first.pixels.shape[:2]
    space = resolve_colorspace(colorspace, first.source.native_space)
    return ImageSequence(path, tuple(files), prefix, padding, width, height, space, layer, first.source.timecode)


def _match_pattern(path: Path, pattern: re.Match) -> tuple[list[tuple[int, Path]], str, int]:
    folder = path.parent
    if not folder.is_dir():
        raise VidganError(f"{path}: no such folder {folder}")
    prefix, suffix = pattern["prefix"], pattern["suffix"]
    padding = int(pattern["padding"] or 0)
    digits = rf"\d{{{padding},}}" if padding else r"\d+"
    name = re.compile(re.escape(prefix) + f"({digits})" + re.escape(suffix))
    files = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := name.fullmatch(p.name)) and p.is_file())
    if not files:
        raise VidganError(f"{path}: no files match this pattern")
    return files, prefix, padding or 1


def _number_folder(images: list[Path]) -> tuple[list[tuple[int, Path]], str, int]:
    """A folder's one numbered sequence: its files by the number at the end of their names, with their prefix
    and padding (the shortest number's digits: shot_98 … shot_101 keep their unpadded names). Files without a
    number are left out with a warning naming them; a folder of no numbered files is one sequence in name order.
    VidganError naming the sequences when the folder holds several (passes such as beauty.1001 and matte.1001,
    or one prefix in two formats) or two files of one number."""
    folder = images[0].parent
    groups: dict[tuple[str, str], list[tuple[int, str, Path]]] = {}
    strays = []
    for path in images:
        match = _TRAILING_NUMBER.fullmatch(path.stem)
        if match is None:
            strays.append(path)
        else:
            groups.setdefault((match["prefix"], path.suffix.lower()), []).append((int(match["number"]), match["number"], path))
    if not groups:
        return list(enumerate(images)), "", 6
    if len(groups) > 1:
        found = "; ".join(_described(prefix, suffix, files) for (prefix, suffix), files in sorted(groups.items()))
        (prefix, _), files = max(groups.items(), key=lambda item: len(item[1]))
        pattern = f"{prefix}%0{_padding(files)}d{files[0][2].suffix}"
        raise VidganError(
            f"{folder}: holds {len(groups)} image sequences ({found}); render one by its pattern, e.g. {folder / pattern}"
        )
    (prefix, suffix), files = next(iter(groups.items()))
    numbers = [number for number, _, _ in files]
    if len(set(numbers)) < len(numbers):
        twice = sorted({number for number in numbers if numbers.count(number) > 1})
        names = ", ".join(path.name for number, _, path in sorted(files) if number == twice[0])
        raise VidganError(f"{folder}: frame {twice[0]} is there twice ({names}); keep one")
    if strays:
        warn(f"{folder}: {', '.join(p.name for p in strays)} not numbered like the sequence {_described(prefix, suffix, files)}; left out")
    return sorted((number, path) for number, _, path in files), prefix, _padding(files)


def _padding(files: list[tuple[int, str, Path]]) -> int:
    """The digits of the shortest frame number as written: numbers longer than that are unpadded beyond it."""
    return min(len(digits) for _, digits, _ in files)


def _described(prefix: str, suffix: str, files: list[tuple[int, str, Path]]) -> str:
    """'beauty.1001-1004.exr (4 files)': a sequence's name, its first and last numbers, and how many files."""
    numbers = [number for number, _, _ in files]
    padding = _padding(files)
    return f"{prefix}{min(numbers):0{padding}d}-{max(numbers):0{padding}d}{suffix} ({len(files)} files)"


def iter_sequence_frames(sequence: ImageSequence, fps: Fraction) -> Iterator[Frame]:
    """The sequence's frames: index = frame number; pts in frames (time base 1/fps) from the first number; 8-bit
    RGB, with a Plate where the files hold more (depth, alpha, a scene-linear colour space).

    Every frame comes at the first one's size: an image of another size is letterboxed into it (one warning).
    """
    first = sequence.files[0][0]
    sizes = FirstFrameSize(sequence.path, (sequence.width, sequence.height))
    for number, path in sequence.files:
        stored = read_file(path, sequence.layer)
        pixels = stored.pixels
        if sizes.differs(pixels.shape[1], pixels.shape[0], f"frame {number} ({path.name})"):
            pixels = sizes.fit(pixels)
        rgb, plate = split_plate(pixels, sequence.colorspace, stored.premultiplied, stored.source)
        yield Frame(index=number, time=float((number - first) / fps), pts=number - first, rgb=rgb, plate=plate)


def parse_fps(text: str) -> Fraction:
    """'25', '30000/1001' or '29.97' (the NTSC rates 23.976, 29.97, 59.94 mean their exact n*1000/1001)."""
    try:
        fps = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--fps must be a number like 25, 29.97 or 30000/1001, got {text!r}") from None
    if fps <= 0:
        raise UsageError(f"--fps must be positive, got {text}")
    ntsc = Fraction(round(fps * Fraction(1001, 1000)) * 1000, 1001)
    if fps.denominator != 1 and abs(fps - ntsc) < Fraction(1, 100):
        return ntsc
    return fps


LINEAR = Colorspace("linear")
# The DPX transfer characteristic that declares an output's colour space (others: left undefined).
_DPX_TRANSFERS = {"linear": "Linear", "cineon": "Printing density"}


def _deepest(plate: Plate | None) -> np.dtype:
    return np.dtype(np.uint8) if plate is None else plate.stored.dtype


def png_sample(plate: Plate | None) -> np.dtype:
    """PNG keeps 8 or 16 bits: the source's, 16 for anything deeper."""
    return np.dtype(np.uint8) if _deepest(plate) == np.uint8 else np.dtype(np.uint16)


def tiff_sample(plate: Plate | None) -> np.dtype:
    """TIFF keeps 8 or 16 bits or 32-bit float: the source's (a half-float source as float)."""
    stored = _deepest(plate)
    if stored == np.uint8:
        return stored
    return np.dtype(np.float32) if stored.kind == "f" else np.dtype(np.uint16)


def exr_sample(plate: Plate | None) -> np.dtype:
    """OpenEXR keeps half or float: float for a float source, else half."""
    stored = _deepest(plate)
    return stored if stored.kind == "f" else np.dtype(np.float16)


def source_associated(plate: Plate | None) -> bool:
    """TIFF, DPX: alpha associated (colour premultiplied) where the source's was (a TIFF's ExtraSamples tag says)."""
    return plate is not None and plate.premultiplied


def dpx_header(colorspace: Colorspace, plate: Plate | None) -> dict[str, object]:
    """What a DPX output's header declares beyond what it carries from its source: the source's 10 or 12 bits
    where it was a DPX or Cineon file of those, and the transfer of `colorspace` unless the source DPX's own
    (in that space) is carried."""
    source = plate.source if plate is not None else None
    fields: dict[str, object] = {}
    if source is not None and source.format in ("dpx", "cineon") and plate.stored.dtype == np.uint16:
        fields["oiio:BitsPerSample"] = source.bits
    own = source is not None and source.format == "dpx" and source.native_space == colorspace.name
    if not own and colorspace.name in _DPX_TRANSFERS:
        fields["dpx:Transfer"] = _DPX_TRANSFERS[colorspace.name]
    return fields


def write_frame_file(
    path: Path,
    pixels: np.ndarray,
    associated: bool,
    plate: Plate | None,
    colorspace: Colorspace,
    header: Callable[[Colorspace, Plate | None], dict[str, object]] | None = None,
) -> None:
    """Write one frame's H×W×3|4 pixels, in `colorspace`, through OpenImageIO (vidgan.io.imagefile.write_file,
    atomically, the format from the suffix): an output of the source file's format carries its header (and, for
    OpenEXR, its other layers and parts and its windows), and any carries its ICC profile and gAMA where
    `colorspace` is the plate's; `header(colorspace, plate)`: the fields the format declares on top."""
    source = plate.source if plate is not None else None
    same_space = plate is not None and plate.colorspace == colorspace
    write_file(path, pixels, associated, source, same_space, header(colorspace, plate) if header is not None else None)


@dataclass(frozen=True)
class ImageEncoding:
    """How one image-sequence format stores a frame: its files' suffix, the sample type for a source (`sample`, from
    the frame's Plate or None for 8-bit RGB), whether colour is stored premultiplied by alpha (`associated`), and
    `write(path, pixels, associated, plate, colorspace)`, which writes one H×W×3|4 file atomically in `colorspace`
    (raises VidganError)."""

    suffix: str
    sample: Callable[[Plate | None], np.dtype]
    associated: Callable[[Plate | None], bool]
    write: Callable[[Path, np.ndarray, bool, Plate | None, Colorspace], None]


PNG = ImageEncoding(".png", png_sample, lambda plate: False, write_frame_file)
TIFF = ImageEncoding(".tif", tiff_sample, source_associated, write_frame_file)
EXR = ImageEncoding(".exr", exr_sample, lambda plate: True, write_frame_file)
# DPX keeps TIFF's depths (8 or 16 bits, 32-bit float; a 10 or 12-bit source, read as 16 bits, at its own depth).
DPX = ImageEncoding(".dpx", tiff_sample, source_associated, partial(write_frame_file, header=dpx_header))


class ImageSequenceWriter:
    """Writes frames as PREFIX<number>SUFFIX into a folder in one ImageEncoding (PNG, TIFF, EXR, DPX), each file
    atomically so an interrupted render can resume, at the depth the encoding picks, in `colorspace`
    (vidgan.io.plates.stored_pixels: untouched pixels are the source's own, alpha passes through).

    A FrameWriter (vidgan.render.formats); frames already written stay on abort. Until close() the folder also
    holds INCOMPLETE.txt, so a sequence cut short never passes for a finished one.
    """

    def __init__(
        self, folder: Path, prefix: str, padding: int, encoding: ImageEncoding = PNG, colorspace: Colorspace = DISPLAY
    ) -> None:
        self.path = Path(folder)
        self.prefix = prefix
        self.padding = padding
        self.encoding = encoding
        self.suffix = encoding.suffix
        self.colorspace = colorspace
        if self.path.exists() and not self.path.is_dir():
            raise VidganError(f"{self.path}: is a file, expected a folder for the image sequence")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise VidganError(f"{self.path}: cannot create the folder ({error.strerror or error})") from None
        write_text_atomic(self.marker, INCOMPLETE_NOTE)
        self.frames = 0

    @property
    def marker(self) -> Path:
        return self.path / INCOMPLETE_MARKER

    def frame_path(self, number: int) -> Path:
        return self.path / f"{self.prefix}{number:0{self.padding}d}{self.suffix}"

    def written(self) -> list[Path]:
        """The files of this sequence already in the folder."""
        name = re.compile(re.escape(self.prefix) + r"\d+" + re.escape(self.suffix))
        return sorted(p for p in self.path.iterdir() if name.fullmatch(p.name))

    def existing(self, frame: Frame) -> np.ndarray | None:
        """The frame as written by an earlier, interrupted render (uint8 RGB, or float32 display-referred where the
        file holds more), if it is there and readable."""
        path = self.frame_path(frame.index)
        if not path.is_file():
            return None
        source = frame.plate.source if frame.plate is not None else None
        try:
            stored = read_file(path, source.layer if source is not None else None)
            rgb, plate = split_plate(stored.pixels, self.colorspace, stored.premultiplied)
        except VidganError:
            return None  # a damaged leftover is rendered again
        return rgb if plate is None or frame.plate is None else plate.display

    def write_frame(self, frame: Frame, picture: np.ndarray, alpha: np.ndarray | None = None) -> None:
        """Write the rendered frame (H×W×3 uint8, or float32 display-referred straight colour for a frame with a
        plate), with `alpha` (H×W float32 in [0, 1]) as its alpha channel if given, else the source's if it has
        one; the colour premultiplied by that alpha where the encoding stores it so."""
        associated = self.encoding.associated(frame.plate)
        sample = self.encoding.sample(frame.plate)
        pixels = stored_pixels(picture, frame.plate, self.colorspace, sample, alpha, associated)
        self.encoding.write(self.frame_path(frame.index), pixels, associated, frame.plate, self.colorspace)
        self.frames += 1

    def close(self) -> None:
        if not self.written():
            raise VidganError(f"{self.path}: no frames were written")
        self.marker.unlink(missing_ok=True)

    def abort(self) -> None:
        """Nothing to undo: every file in the folder is a complete frame, which --resume keeps (INCOMPLETE.txt stays)."""


@dataclass(frozen=True)
class Clip:
    """One input to render, a video file or an image sequence, behind one interface."""

    path: Path
    width: int
    height: int
    fps: Fraction
    time_base: Fraction  # of the frames' pts
    frame_count: int | None
    has_audio: bool
    stem: str  # base name for outputs made from it
    sequence: ImageSequence | None = None
    tags: PictureTags = field(default_factory=PictureTags)  # what video outputs declare (colour, aspect, timecode)

    def frames(self, deep: bool = False) -> Iterator[Frame]:
        """The clip's frames; `deep`: with a Plate of 16-bit RGB for video deeper than 8 bits, and of RGBA for
        video with alpha (sequences always carry what their files hold)."""
        if self.sequence is not None:
            return iter_sequence_frames(self.sequence, self.fps)
        return iter_frames(self.path, deep=deep)


def open_clip(path: Path, fps: Fraction = Fraction(25), colorspace: str = "auto", layer: str | None = None) -> Clip:
    """Probe a video file, or list an image sequence (folder or printf pattern) shown at `fps` whose values are in
    `colorspace` (vidgan.io.colorspaces; a video's colours come from its stream: UsageError for any but auto),
    translating its OpenEXR files' `layer` (UsageError for a video)."""
    path = Path(path)
    if is_image_sequence(path):
        sequence = open_image_sequence(path, colorspace, layer)
        count = len(sequence.files)
        tags = PictureTags(colour=IMAGE_TAGS, timecode=sequence.timecode)
        return Clip(path, sequence.width, sequence.height, fps, 1 / fps, count, False, sequence.stem, sequence, tags)
    if colorspace != "auto":
        raise UsageError(f"--colorspace is for image sequences; {path} is a video, whose colours its stream describes")
    if layer is not None:
        raise UsageError(f"--layer is for OpenEXR image sequences; {path} is a video")
    info = probe_video(path)
    return Clip(
        path, info.width, info.height, info.fps, info.time_base, info.frame_count, info.has_audio, path.stem, tags=info.tags
    )
