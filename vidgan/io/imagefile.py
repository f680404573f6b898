"""Image files in and out through OpenImageIO (the Academy Software Foundation's library): every format it reads
(PNG, JPEG, TIFF, OpenEXR, DPX, Cineon, WebP, BMP, …) with the metadata vidgan carries from a source to its
outputs, and the layer of a multi-part, multi-layer OpenEXR file that a render translates.

A file is read as the R, G, B (or grey Y) and optional A channels of one layer of one subimage (an OpenEXR part),
at the depth its format stores: uint8, uint16 (10- and 12-bit DPX and Cineon samples scaled to 16 bits, which
OpenImageIO writes back exactly), float16 or float32. The read keeps where the pixels came from (SourceImage), so
an output of the same format can carry the rest of the file unchanged: the other channels and parts, the data
and display windows, the header (timecode, frame rate, DPX transfer), the ICC profile.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from vidgan.core.errors import UsageError, VidganError
from vidgan.core.fsutil import atomic_path
from vidgan.io.tiff import ASSOCIATED, extra_samples

# EXIF Orientation → how to turn the stored pixels so they look as viewers show them.
_ORIENTATIONS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}
_SAMPLES = {"uint8": np.uint8, "uint16": np.uint16, "half": np.float16, "float": np.float32, "double": np.float32}
_TYPES = {np.dtype(np.uint8): "uint8", np.dtype(np.uint16): "uint16", np.dtype(np.float16): "half", np.dtype(np.float32): "float"}
# The display-referred sRGB that OpenImageIO names every PNG, JPEG or WebP without a gAMA, cHRM or ICC saying else.
_DEFAULT_SPACE = "srgb_rec709_scene"
# Attributes OpenImageIO keeps about its own reading (how the file was laid out), never carried to an output.
_BOOKKEEPING = ("oiio:", "tiff:", "openexr:chunkCount", "Orientation", "Exif:", "jpeg:", "png:")
# How vidgan writes each format: lossless Deflate (ZIP) compression; PNG at zlib level 1 with the Sub filter, as fast
# as the OpenCV encoder it replaced give or take a third (OpenImageIO's default, level 6 trying every filter, is
# several times slower on a 1080p frame, which a render to PNG writes per frame); TIFFs without an EXIF directory
# (vidgan's pixels are upright and carry no camera EXIF, and this OpenImageIO's TIFF writer reports an error on every
# empty one).
_TIFF_SETTINGS = {"compression": "zip", "tiff:write_exif": 0}
_SETTINGS: dict[str, dict[str, object]] = {
    ".png": {"png:compressionLevel": 1, "png:filter": 16},
    ".exr": {"compression": "zip"},
    ".tif": _TIFF_SETTINGS,
    ".tiff": _TIFF_SETTINGS,
}
# A DPX header's transfer characteristic → the colour space of its code values (the video transfers are display-referred).
_DPX_SPACES = {"linear": "linear", "printing density": "cineon", "logarithmic": "cineon"}
# The DPX header fields a writer derives from the pixels it is given.
_DPX_LAYOUT = {"dpx:ImageDescriptor", "dpx:Packing", "dpx:EndOfLinePadding", "dpx:EndOfImagePadding", "dpx:DittoKey", "dpx:Version"}


@dataclass(frozen=True)
class SourceImage:
    """Where a frame's pixels came from: the file, OpenImageIO's name for its format ("openexr", "dpx", "png", …),
    the subimage (OpenEXR part) and the channel indices read as R, G, B(, A) (grey Y thrice), that subimage's
    ImageSpec (its header: windows, metadata), and the --layer asked for (None: the plain channels)."""

    path: Path
    format: str
    subimage: int
    channels: tuple[int, ...]
    spec: oiio.ImageSpec
    layer: str | None = None

    @property
    def colour_attributes(self) -> dict[str, tuple[oiio.TypeDesc, object]]:
        """The ICC profile, and OpenImageIO's colour space where the file declares one other than plain sRGB
        (a PNG's gAMA or cHRM, a linear DPX): what an output whose values are in the source's encoding carries."""
        carried = {}
        for attribute in self.spec.extra_attribs:
            if attribute.name == "ICCProfile" or (attribute.name == "oiio:ColorSpace" and attribute.value != _DEFAULT_SPACE):
                carried[attribute.name] = (attribute.type, attribute.value)
        return carried

    @property
    def carries(self) -> bool:
        """Whether an output has anything of this file to carry beyond its pixels."""
        return bool(self.colour_attributes) or self.format in ("openexr", "dpx", "cineon")

    @property
    def native_space(self) -> str:
        """The colour space the file declares (vidgan.io.colorspaces): linear for OpenEXR (scene-linear by
        convention) and DPX whose transfer is linear, cineon for DPX in printing density or log and Cineon files,
        srgb for the rest (video transfers included)."""
        if self.format == "openexr":
            return "linear"
        if self.format == "cineon":
            return "cineon"
        if self.format == "dpx":
            return _DPX_SPACES.get(self.attribute("dpx:Transfer").lower(), "srgb")
        return "srgb"

    @property
    def timecode(self) -> str | None:
        """The SMPTE timecode in the header (DPX, OpenEXR) as HH:MM:SS:FF, or None."""
        return self.spec.get_string_attribute("smpte:TimeCode") or None

    @property
    def bits(self) -> int:
        """Bits per stored sample (10 for a 10-bit DPX read as uint16)."""
        return self.spec.get_int_attribute("oiio:BitsPerSample", self.spec.format.size() * 8)

    def attribute(self, name: str, default: str = "") -> str:
        return self.spec.get_string_attribute(name, default)


@dataclass(frozen=True)
class StoredImage:
    """pixels: H×W×3 RGB or H×W×4 RGBA as stored (uint8, uint16, float16 or float32), upright; premultiplied:
    whether the colour is multiplied by the alpha; source: where it came from."""

    pixels: np.ndarray
    premultiplied: bool
    source: SourceImage


@contextmanager
def _named(path: Path) -> Iterator[str]:
    """A name OpenImageIO can open for `path`: the path itself, or where it is not valid UTF-8 (bytes os.fsdecode
    carries as surrogates, which OpenImageIO's string arguments refuse) a link to it from a temporary folder (one
    to a file yet to be written works too)."""
    name = str(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        with tempfile.TemporaryDirectory() as folder:
            link = os.path.join(folder, "image" + path.suffix.encode("utf-8", "replace").decode())
            os.symlink(os.path.abspath(path), link)
            yield link
        return
    yield name


@contextmanager
def _open(path: Path) -> Iterator[oiio.ImageInput]:
    """The file open for reading (closed after); VidganError where no reader takes it."""
    # Unassociated alpha as stored: without this hint OpenImageIO premultiplies PNG and TIFF colour on reading.
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)
    with _named(path) as name:
        image = oiio.ImageInput.open(name, config)
        if image is None:
            reason = oiio.geterror().strip().splitlines()
            raise VidganError(f"{path}: not a readable image ({reason[-1] if reason else 'no reader recognises it'})")
        try:
            yield image
        finally:
            image.close()


def _specs(image: oiio.ImageInput) -> Iterator[tuple[int, oiio.ImageSpec]]:
    """(index, spec) of every subimage (OpenEXR part) of an open file."""
    index = 0
    while image.seek_subimage(index, 0):
        yield index, image.spec().copy()
        index += 1


def _part_name(spec: oiio.ImageSpec, index: int) -> str:
    return spec.get_string_attribute("oiio:subimagename", f"part {index}")


def _layer_channels(spec: oiio.ImageSpec, prefix: str) -> tuple[int, ...] | None:
    """Indices of PREFIXR, PREFIXG, PREFIXB (and PREFIXA where there is one), or PREFIXY thrice; None if absent."""
    names = list(spec.channelnames)
    if all(prefix + c in names for c in "RGB"):
        colour = [names.index(prefix + c) for c in "RGB"]
    elif prefix + "Y" in names:
        colour = [names.index(prefix + "Y")] * 3
    else:
        return None
    return tuple(colour + ([names.index(prefix + "A")] if prefix + "A" in names else []))


def layers(path: Path) -> list[str]:
    """The layers of a file a render can translate: each part's name (OpenEXR multi-part) and the NAME of each
    group of NAME.R, NAME.G, NAME.B channels; VidganError for an unreadable file."""
    with _open(path) as image:
        specs = list(_specs(image))
    found = []
    for index, spec in specs:
        if len(specs) > 1:
            found.append(_part_name(spec, index))
        prefixes = {name.rpartition(".")[0] for name in spec.channelnames if "." in name}
        found += sorted(p for p in prefixes if _layer_channels(spec, p + ".") is not None and p not in found)
    return found


def _pick(path: Path, specs: list[tuple[int, oiio.ImageSpec]], layer: str | None) -> tuple[int, tuple[int, ...]]:
    """(subimage, channel indices) of `layer`: a part named so (its plain or only layer) or a NAME.R/G/B group;
    for None, the first plain R, G, B (or Y) channels. UsageError listing the layers where there is no such one."""
    for index, spec in specs:
        if layer is None or (len(specs) > 1 and _part_name(spec, index) == layer):
            channels = _layer_channels(spec, "")
            if channels is None and layer is not None:
                named = {name.rpartition(".")[0] for name in spec.channelnames if "." in name}
                channels = _layer_channels(spec, f"{named.pop()}.") if len(named) == 1 else None
            if channels is not None:
                return index, channels
        elif (channels := _layer_channels(spec, f"{layer}.")) is not None:
            return index, channels
    listed = ", ".join(layers(path)) or "none with R, G, B or Y channels"
    if layer is None:
        raise UsageError(f"{path}: no plain R, G, B channels to translate; pick a layer with --layer (layers: {listed})")
    raise UsageError(f"--layer {layer}: no such layer or part in {path} (layers: {listed})")


def read_file(path: Path, layer: str | None = None) -> StoredImage:
    """One image file's picked layer (see _pick) at its stored depth, turned upright as its EXIF Orientation says.

    Colour is premultiplied by alpha where OpenImageIO says the format stores it so (OpenEXR; not PNG, WebP, or a
    TIFF marked unassociated), except a TIFF without an ExtraSamples tag, whose colour is taken as straight, as
    OpenCV and most tools write it (vidgan.io.tiff). CMYK TIFFs come as RGB (OpenImageIO converts them, 8 or
    16-bit). VidganError for an unreadable file or unsupported samples; UsageError for a missing layer.
    """
    path = Path(path)
    with _open(path) as image:
        specs = list(_specs(image))
        subimage, channels = _pick(path, specs, layer)
        spec = specs[subimage][1]
        begin, end = min(channels), max(channels) + 1
        formats = {str(spec.channelformat(c)) for c in channels}
        sample = _SAMPLES.get(formats.pop() if len(formats) == 1 else "float")
        if sample is None:
            raise VidganError(f"{path}: {spec.format} samples are not supported (8 or 16-bit integers, or floats)")
        data = image.read_image(subimage, 0, begin, end, _TYPES[np.dtype(sample)])
        if data is None:
            raise VidganError(f"{path}: not a readable image ({image.geterror() or 'damaged'})")
        format_name = image.format_name()
    pixels = np.ascontiguousarray(data.reshape(spec.height, spec.width, end - begin)[:, :, [c - begin for c in channels]])
    turn = _ORIENTATIONS.get(spec.get_int_attribute("Orientation", 1))
    if turn is not None:
        pixels = np.ascontiguousarray(turn(pixels))
    alpha = len(channels) == 4
    if format_name == "tiff":
        premultiplied = alpha and extra_samples(path) == ASSOCIATED
    else:
        premultiplied = alpha and not spec.get_int_attribute("oiio:UnassociatedAlpha", 0)
    return StoredImage(pixels, premultiplied, SourceImage(path, format_name, subimage, channels, spec, layer))


def image_size(path: Path) -> tuple[int, int, int] | None:
    """(width, height, channels) of a file's first subimage from its header, or None where it is unreadable."""
    try:
        with _open(Path(path)) as image:
            spec = image.spec()
            return spec.width, spec.height, spec.nchannels
    except VidganError:
        return None


def _carried(source: SourceImage, output_format: str, same_space: bool) -> list[tuple[str, oiio.TypeDesc, object]]:
    """What an output takes from its source's header: of the same format, the header less OpenImageIO's notes on
    the layout it read (the timecode, frame rate, DPX transfer and film fields, OpenEXR's attributes); the timecode
    and frame rate always; where the output's values are in the source's encoding, the ICC profile, and the colour
    space OpenImageIO read from the header (a gAMA, a DPX transfer) into PNG or the source's own format (in DPX it
    would stand for the transfer, which another format's name does not say the same way)."""
    same_format = source.format == output_format
    carried = []
    for attribute in source.spec.extra_attribs:
        name = attribute.name
        keep = same_format and not name.startswith(_BOOKKEEPING) and name not in _DPX_LAYOUT and not name.startswith("ICCProfile")
        if keep or name in ("smpte:TimeCode", "FramesPerSecond"):
            carried.append((name, attribute.type, attribute.value))
    if same_space:
        for name, (kind, value) in source.colour_attributes.items():
            if name == "ICCProfile" or same_format or output_format == "png":
                carried.append((name, kind, value))
    return carried


def _spec(pixels: np.ndarray, associated: bool, settings: dict[str, object]) -> oiio.ImageSpec:
    height, width, channels = pixels.shape
    spec = oiio.ImageSpec(width, height, channels, _TYPES[pixels.dtype])
    spec.channelnames = ("Y",) if channels == 1 else tuple("RGBA"[:channels])
    if channels == 4:
        spec.alpha_channel = 3
        if not associated:
            # PNG's writer would otherwise divide the colour by alpha, and TIFF's would mark it associated.
            spec.attribute("oiio:UnassociatedAlpha", 1)
    for name, value in settings.items():
        spec.attribute(name, value)
    return spec


def write_file(
    path: Path,
    pixels: np.ndarray,
    associated: bool = False,
    source: SourceImage | None = None,
    same_space: bool = False,
    attributes: dict[str, object] | None = None,
) -> None:
    """Write H×W grey, H×W×3 RGB or H×W×4 RGBA pixels (uint8, uint16, float16 or float32) atomically, in the
    format of `path`'s suffix; `associated`: the colour is premultiplied by the alpha (OpenEXR, TIFF ExtraSamples 1).

    `source`: the file the frame came from; an output of its format carries its header, an OpenEXR output also its
    other channels and parts and its data and display windows (vidgan.io.imagefile._carried; the source's colour
    attributes where `same_space`). `attributes`: more header fields (oiio:BitsPerSample, dpx:Transfer, …).
    VidganError where OpenImageIO cannot write it.
    """
    path = Path(path)
    pixels = np.ascontiguousarray(pixels if pixels.ndim == 3 else pixels[:, :, None])
    suffix = path.suffix.lower()
    spec = _spec(pixels, associated, _SETTINGS.get(suffix, {}))
    output = oiio.ImageOutput.create(suffix.lstrip(".") or "png")
    if output is None:
        raise VidganError(f"{path}: no writer for {suffix or 'this file'} ({oiio.geterror().strip()})")
    same_format = source is not None and source.format == output.format_name()
    # The source's layout holds where the frame kept its size (a frame letterboxed to the sequence's is another).
    same_layout = same_format and (source.spec.height, source.spec.width) == pixels.shape[:2]
    if source is not None:
        for name, kind, value in _carried(source, output.format_name(), same_space):
            spec.attribute(name, kind, value)
        if same_layout and output.format_name() == "openexr":
            spec.x, spec.y = source.spec.x, source.spec.y
            spec.full_x, spec.full_y = source.spec.full_x, source.spec.full_y
            spec.full_width, spec.full_height = source.spec.full_width, source.spec.full_height
    for name, value in (attributes or {}).items():
        spec.attribute(name, value)
    with atomic_path(path) as temp, _named(temp) as target:
        if same_layout and output.format_name() == "openexr" and _has_more(source):
            done = _rewrite_exr(output, target, source, spec, pixels)
        else:
            done = output.open(target, spec) and output.write_image(pixels)
        # Some writers (PNG) report a failed write (a full disk) only as an error left on the output.
        done = output.close() and done and not output.has_error
        if not done:
            reason = (output.geterror() or oiio.geterror()).strip().splitlines()
            raise VidganError(f"{path}: cannot write the image ({reason[0] if reason else 'the writer failed'})")


def _has_more(source: SourceImage) -> bool:
    """Whether the source file holds more than the channels read: other channels or parts."""
    return source.spec.get_int_attribute("oiio:subimages", 1) > 1 or source.spec.nchannels > len(set(source.channels))


def _rewrite_exr(output: oiio.ImageOutput, target: str, source: SourceImage, spec: oiio.ImageSpec, pixels: np.ndarray) -> bool:
    """Write an OpenEXR file like the source: its other parts copied as stored, and in the picked part its other
    channels as stored and the picked ones (R, G, B(, A) of the layer) replaced by `pixels` at their depth. A grey
    (Y) layer is written as R, G, B in a file of its own instead (nothing else carried)."""
    with _open(source.path) as image:
        specs = [part for _, part in _specs(image)]
        picked = specs[source.subimage].copy()
        names = list(picked.channelnames)
        columns = list(source.channels)
        if len(set(columns)) < 3:
            return output.open(target, spec) and output.write_image(pixels)
        if pixels.shape[2] > len(columns):  # an alpha the source layer had not: --alpha matte
            prefix = names[columns[0]][:-1]
            names.append(prefix + "A")
            columns.append(len(names) - 1)
        sample = oiio.TypeDesc(_TYPES[pixels.dtype])
        formats = [sample if c in columns else picked.channelformat(c) for c in range(len(names))]
        # 32-bit integer channels (object IDs) go through doubles, which hold them exactly; the rest through floats.
        deep_ints = any(f.basetype == oiio.UINT32 for f in formats)
        buffer = np.zeros((picked.height, picked.width, len(names)), np.float64 if deep_ints else np.float32)
        buffer[:, :, : picked.nchannels] = image.read_image(source.subimage, 0, 0, picked.nchannels, "double" if deep_ints else "float")
        buffer[:, :, columns] = pixels
        for attribute in spec.extra_attribs:
            picked.attribute(attribute.name, attribute.type, attribute.value)
        picked.channelnames = tuple(names)
        picked.nchannels = len(names)
        picked.channelformats = tuple(formats)
        picked.alpha_channel = names.index("A") if "A" in names else picked.alpha_channel
        specs[source.subimage] = picked
        if not output.open(target, tuple(specs)):
            return False
        for index in range(len(specs)):
            if index and not output.open(target, specs[index], "AppendSubimage"):
                return False
            if index == source.subimage:
                done = output.write_image(buffer)
            else:
                done = image.seek_subimage(index, 0) and output.copy_image(image)
            if not done:
                return False
        return True
