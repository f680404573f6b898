"""TIFF's ExtraSamples tag (338) through tifffile: what a fourth sample of an RGB pixel is, 1 = associated alpha
(colour premultiplied by it), 2 = unassociated (straight) alpha, 0 = unspecified. OpenImageIO, which reads and
writes vidgan's TIFFs, says where a file is marked 2 but takes a file without the tag for associated alpha; the
files OpenCV and most tools write so hold straight colour, so vidgan reads the tag itself to tell the two apart.
"""

from __future__ import annotations

from pathlib import Path

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
