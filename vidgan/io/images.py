"""Reading images: any common format and mode, upright (EXIF orientation) at the depth its format stores, through
OpenImageIO (vidgan.io.imagefile); 8-bit RGB and size×size squares for training (no torch here)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from vidgan.core.errors import UsageError, VidganError
from vidgan.core.progress import warn
from vidgan.io.imagefile import image_size, read_file, write_file

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


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


def read_image(path: Path) -> np.ndarray:
    """One image upright (EXIF orientation applied) at its stored depth: read_stored's pixels."""
    return read_stored(path)[0]


def read_stored(path: Path) -> tuple[np.ndarray, bool]:
    """(pixels, premultiplied): one image upright (EXIF orientation applied) at its stored depth, H×W×3 RGB or
    H×W×4 RGBA, uint8, uint16 or float32 (a float TIFF's 1.0 is white; OpenEXR also float16), colour as stored; and
    whether that colour is multiplied by the alpha (associated alpha): always in OpenEXR RGBA (the format's
    convention), in a TIFF whose ExtraSamples tag says 1. PNG (by its specification), TIFFs marked 2 or unmarked
    and the other formats store straight colour. The depth comes from the file's format, never its values.

    Read by OpenImageIO (vidgan.io.imagefile.read_file): grey images come as RGB, palette and CMYK images as RGB,
    an OpenEXR file's plain R, G, B(, A) channels scene-linear as stored. Raises VidganError when the file can't be
    decoded.
    """
    stored = read_file(path)
    return stored.pixels, stored.premultiplied


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
    return over_black(*read_stored(path))


def over_black(pixels: np.ndarray, premultiplied: bool) -> np.ndarray:
    """H×W×3 uint8 RGB of read_stored's pixels: their colour at 8 bits, alpha composited onto black."""
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
    """Write H×W×3 RGB or H×W grey (uint8 or uint16) as the PNG `path` (atomically); VidganError when it cannot."""
    write_file(path, pixels)


def load_image(path: Path, size: int, channels: int = 3) -> np.ndarray:
    """One image as size×size×channels uint8 (3: RGB, 1: grey); raises VidganError when it can't be decoded."""
    image = square_resize(read_rgb(path), size)
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None]
    return image


def _first_size(folder: Path) -> tuple[int, int, int] | None:
    try:
        return image_size(list_images(folder)[0])
    except VidganError:
        return None


def detect_image_size(folder: Path) -> int | None:
    """The side of the folder's first image when it is a square 64 or 128 px image, else None."""
    size = _first_size(folder)
    return size[0] if size is not None and size[0] == size[1] and size[0] in (64, 128) else None


def detect_channels(folder: Path) -> int:
    """1 when the folder's first image is stored as grayscale (Y, or Y and alpha), else 3."""
    size = _first_size(folder)
    return 1 if size is not None and size[2] in (1, 2) else 3

