"""Reading images from folders: any common format and mode in, size×size 8-bit RGB out (no torch here)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from vidgan.core.errors import UsageError, VidganError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def list_images(folder: Path) -> list[Path]:
    """Sorted image files directly inside `folder`; errors name the folder when there are none."""
    folder = Path(folder)
    if not folder.exists():
        raise VidganError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise VidganError(f"{folder}: expected a folder of images, got a file")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise VidganError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert grayscale, palette, RGBA (onto black), CMYK and 16-bit images to 8-bit RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grey: scale the full range down to 8 bits rather than clipping.
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def square_resize(rgb: np.ndarray, size: int, crop: str = "center") -> np.ndarray:
    """Largest centred square (crop="center") or the whole frame (crop="none"), resized to size×size."""
    h, w = rgb.shape[:2]
    if crop == "center":
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        rgb = rgb[top : top + side, left : left + side]
    elif crop != "none":
        raise UsageError(f"--crop must be center or none, got {crop!r}")
    if rgb.shape[0] == size and rgb.shape[1] == size:
        return np.ascontiguousarray(rgb)
    # INTER_AREA averages source pixels (no aliasing) when shrinking; cubic is the better choice for enlarging.
    shrinking = rgb.shape[0] > size or rgb.shape[1] > size
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def square_scale(width: int, height: int, size: int, crop: str = "center") -> tuple[int, int]:
    """The (width, height) to scale a width×height frame to so that square_resize then only has to crop."""
    if crop == "none":
        return size, size
    short = min(width, height)
    return max(size, round(width * size / short)), max(size, round(height * size / short))


def read_rgb(path: Path) -> np.ndarray:
    """One image at its own size as H×W×3 uint8 RGB; raises VidganError when it can't be decoded."""
    try:
        with Image.open(path) as image:
            image.load()
            return np.asarray(to_rgb(image))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise VidganError(f"{path}: not a readable image ({error})") from None


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

