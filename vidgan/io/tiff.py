"""TIFF's ExtraSamples tag (338) through tifffile: what a fourth sample of an RGB pixel is, 1 = associated alpha
(colour premultiplied by it), 2 = unassociated (straight) alpha, 0 = unspecified. OpenCV, which decodes vidgan's
TIFFs, exposes no tags and its encoder leaves this one out, though the TIFF 6.0 specification requires it wherever
there are extra samples; so vidgan's TIFF outputs are written by tifffile, which declares it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import tifffile

ASSOCIATED = int(tifffile.EXTRASAMPLE.ASSOCALPHA)
UNASSOCIATED = int(tifffile.EXTRASAMPLE.UNASSALPHA)


def extra_samples(path: Path) -> int | None:
    """The first ExtraSamples value of the file's first image, or None where it has none or is no readable TIFF."""
    try:
        with tifffile.TiffFile(path) as tiff:
            values = tiff.pages.first.extrasamples
    except (tifffile.TiffFileError, OSError, ValueError, IndexError):
        return None
    return int(values[0]) if values else None


def encode_tiff(pixels: np.ndarray, associated: bool) -> bytes:
    """A Deflate-compressed TIFF of H×W×3 RGB or H×W×4 RGBA pixels (uint8, uint16 or float32), a fourth sample
    declared associated or unassociated alpha."""
    extra = {"extrasamples": [ASSOCIATED if associated else UNASSOCIATED]} if pixels.shape[2] == 4 else {}
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, photometric="rgb", compression="zlib", **extra)
    return buffer.getvalue()
