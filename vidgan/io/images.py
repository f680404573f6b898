"""Reading images: any common format and mode, upright (EXIF orientation) at the depth its format stores; 8-bit RGB
and size×size squares for training (no torch here)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from vidgan.core.errors import UsageError, VidganError
from vidgan.core.fsutil import atomic_path
from vidgan.core.progress import warn
from vidgan.io.exr import read_exr
from vidgan.io.tiff import ASSOCIATED, UNASSOCIATED, extra_samples

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
_TIFF_SUFFIXES = {".tif", ".tiff"}


def list_images(folder: Path, suffixes: set[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Sorted image files (with one of `suffixes`) directly inside `folder`; errors name the folder when there are none."""
    folder = Path(folder)
    if not folder.exists():
        raise VidganError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise VidganError(f"{folder}: expected a folder of images, got a file")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes and p.is_file())
    if not files:
        raise VidganError(f"{folder}: no images found (looked for {', '.join(sorted(suffixes))})")
    return files


def resize_image(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`rgb` (H×W or H×W×C, any depth) at the (width, height) `size`: OpenCV's area averaging when shrinking (no
    aliasing), bicubic when enlarging; `rgb` itself when it has that size already."""
    height, width = rgb.shape[:2]
    if (width, height) == size:
        return rgb
    shrinking = size[0] < width or size[1] < height
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def centre_square(pixels: np.ndarray) -> np.ndarray:
    """The largest centred square of an H×W(×C) array (a view)."""
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return pixels[top : top + side, left : left + side]


def square_resize(rgb: np.ndarray, size: int, crop: str = "center") -> np.ndarray:
    """Largest centred square (crop="center") or the whole frame (crop="none"), resized to size×size."""
    if crop == "center":
        rgb = centre_square(rgb)
    elif crop != "none":
        raise UsageError(f"--crop must be center or none, got {crop!r}")
    return np.ascontiguousarray(resize_image(rgb, (size, size)))


def square_scale(width: int, height: int, size: int, crop: str = "center") -> tuple[int, int]:
    """The (width, height) to scale a width×height frame to so that square_resize then only has to crop."""
    if crop == "none":
        return size, size
    short = min(width, height)
    return max(size, round(width * size / short)), max(size, round(height * size / short))


# EXIF Orientation (tag 0x0112) → how to turn the stored pixels so they look as viewers show them.
_ORIENTATION_TAG = 0x0112
_ORIENTATIONS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def _orientation(path: Path) -> int:
    """The file's EXIF Orientation (1 = as stored), from the file's header only."""
    try:
        with Image.open(path) as image:
            if image.format == "PNG" and "exif" not in image.info:
                # Pillow would decode the whole image to look for an eXIf chunk after the pixels, where the PNG
                # specification does not allow one.
                return 1
            return int(image.getexif().get(_ORIENTATION_TAG, 1))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, TypeError):
        return 1


def _straight_rgba8(path: Path) -> np.ndarray | None:
    """An 8-bit RGBA TIFF's H×W×4 uint8 samples as stored, by Pillow; None for any other file. OpenCV decodes
    8-bit TIFFs through libtiff's RGBA interface, which premultiplies unassociated alpha (the colour under alpha 0
    is lost, the rest rounded)."""
    try:
        with Image.open(path) as image:
            if image.mode == "RGBA" and image.tag_v2.get(258) == (8, 8, 8, 8):  # BitsPerSample
                return np.array(image)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, TypeError):
        pass  # OpenCV has its go, and says what is wrong
    return None


def read_image(path: Path) -> np.ndarray:
    """One image upright (EXIF orientation applied) at its stored depth: read_stored's pixels."""
    return read_stored(path)[0]


def read_stored(path: Path) -> tuple[np.ndarray, bool]:
    """(pixels, premultiplied): one image upright (EXIF orientation applied) at its stored depth, H×W×3 RGB or
    H×W×4 RGBA, uint8, uint16 or float32 (a float TIFF's 1.0 is white; OpenEXR also float16), colour as stored; and
    whether that colour is multiplied by the alpha (associated alpha): always in OpenEXR RGBA (the format's
    convention), in a TIFF whose ExtraSamples tag says 1. PNG (by its specification), TIFFs marked 2 or unmarked
    and the other formats store straight colour. The depth comes from the file's format, never its values.

    Grey images come as RGB, palette and CMYK images as RGB (OpenCV's decoders, IMREAD_UNCHANGED). OpenEXR files
    are read by vidgan.io.exr (scene-linear as stored), 8-bit TIFFs with unassociated alpha by Pillow. Raises
    VidganError when the file can't be decoded.
    """
    path = Path(path)
    if path.suffix.lower() == ".exr":
        pixels = read_exr(path)
        return pixels, pixels.shape[2] == 4
    extra = extra_samples(path) if path.suffix.lower() in _TIFF_SUFFIXES else None
    pixels = _straight_rgba8(path) if extra == UNASSOCIATED else None
    if pixels is None:
        pixels = _decoded(path)
    return _upright(path, pixels), pixels.shape[2] == 4 and extra == ASSOCIATED


def _decoded(path: Path) -> np.ndarray:
    """The file's pixels as OpenCV decodes them, as RGB(A) in a depth vidgan takes."""
    try:
        data = np.fromfile(path, np.uint8)  # then decoded from memory: any file name works, whatever its bytes
    except OSError as error:
        raise VidganError(f"{path}: not a readable image ({error.strerror or error})") from None
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if pixels is None:
        raise VidganError(f"{path}: not a readable image (no decoder recognises it, or it is damaged)")
    if pixels.dtype == np.float64:
        pixels = pixels.astype(np.float32)
    if pixels.dtype not in (np.uint8, np.uint16, np.float32):
        raise VidganError(f"{path}: {pixels.dtype} samples are not supported (8 or 16-bit integers, or floats)")
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    if pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA)
    return cv2.cvtColor(pixels[:, :, :3], cv2.COLOR_BGR2RGB)


def _upright(path: Path, pixels: np.ndarray) -> np.ndarray:
    """The file's pixels turned as its EXIF orientation says."""
    turn = _ORIENTATIONS.get(_orientation(path))
    return np.ascontiguousarray(turn(pixels)) if turn else pixels


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """uint8 of the same shape: uint16 scaled by 255/65535, floats (1.0 = white) by 255, both rounded and clipped."""
    if pixels.dtype == np.uint8:
        return pixels
    top = 65535.0 if pixels.dtype == np.uint16 else 1.0
    if pixels.dtype.kind == "f":
        pixels = pixels.astype(np.float32, copy=False)  # OpenCV has no half floats
    return cv2.convertScaleAbs(np.clip(pixels, 0, top), alpha=255.0 / top)


def unit_float(pixels: np.ndarray) -> np.ndarray:
    """float32 of the same shape with 1.0 = white: integers divided by their type's maximum, floats as they are."""
    if pixels.dtype.kind == "f":
        return pixels.astype(np.float32, copy=False)
    return pixels.astype(np.float32) * np.float32(1 / np.iinfo(pixels.dtype).max)


def read_rgb(path: Path) -> np.ndarray:
    """One image upright at its own size as H×W×3 uint8 RGB (alpha composited onto black); VidganError when it
    can't be decoded."""
    pixels, premultiplied = read_stored(path)
    if pixels.shape[2] == 3:
        return to_8bit(pixels)
    colour = unit_float(pixels[:, :, :3])
    if premultiplied:
        return to_8bit(colour)  # premultiplied colour is already the colour over black
    return to_8bit(colour * unit_float(pixels[:, :, 3:]))


def readable_rgb(paths: Iterable[Path], skipping: str = "skipping") -> Iterator[np.ndarray]:
    """read_rgb of each of `paths` that can be read; the others are skipped with a warning "`skipping` <why>"."""
    for path in paths:
        try:
            yield read_rgb(path)
        except VidganError as error:
            warn(f"{skipping} {error}")


def write_png(path: Path, pixels: np.ndarray) -> None:
    """Write H×W×3 uint8 RGB, or H×W uint8 grey, as a PNG (atomically); VidganError when it cannot."""
    ok, data = cv2.imencode(".png", pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    if not ok:
        raise VidganError(f"{path}: could not encode the image as PNG")
    with atomic_path(path) as temp:
        temp.write_bytes(data.tobytes())


def load_image(path: Path, size: int, channels: int = 3) -> np.ndarray:
    """One image as size×size×channels uint8 (3: RGB, 1: grey); raises VidganError when it can't be decoded."""
    image = square_resize(read_rgb(path), size)
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None]
    return image


def detect_image_size(folder: Path) -> int | None:
    """The side of the folder's first image when it is a square 64 or 128 px image, else None."""
    try:
        with Image.open(list_images(folder)[0]) as image:
            width, height = image.size
    except (VidganError, OSError, UnidentifiedImageError):
        return None
    return width if width == height and width in (64, 128) else None


GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def detect_channels(folder: Path) -> int:
    """1 when the folder's first image is stored as grayscale, else 3."""
    try:
        with Image.open(list_images(folder)[0]) as image:
            return 1 if image.mode in GREY_MODES else 3
    except (OSError, UnidentifiedImageError):
        return 3

