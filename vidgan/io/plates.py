"""Frames deeper than 8-bit RGB: 16-bit and float images, OpenEXR plates, 10-bit video, and anything with alpha.

Every frame has an 8-bit display-referred RGB view (Frame.rgb) that the networks, the change matte, optical flow
and previews use. A frame whose source holds more also carries a Plate: its pixels display-referred in float32
(for the composite, at full depth) and as stored (for the output: untouched pixels are written back exactly as
they were read, with no round trip through a colour transform), plus its alpha, passed through untouched. Plain
8-bit RGB frames carry none, so their path costs nothing extra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidgan.io.colorspaces import Colorspace
from vidgan.io.images import to_8bit, unit_float

DISPLAY = Colorspace("srgb")


@dataclass(frozen=True)
class Plate:
    """display: H×W×3 float32, display-referred sRGB (1.0 = white), beyond [0, 1] where the source is (EXR);
    stored: H×W×3 as read (uint8, uint16, or float16/float32 in `colorspace`); alpha: H×W as read, or None."""

    display: np.ndarray
    stored: np.ndarray
    alpha: np.ndarray | None
    colorspace: Colorspace


def split_plate(pixels: np.ndarray, colorspace: Colorspace = DISPLAY) -> tuple[np.ndarray, Plate | None]:
    """(H×W×3 uint8 display view, Plate or None) of H×W×3 or H×W×4 pixels as read; None for plain 8-bit RGB in
    a display colour space, which needs no plate."""
    if pixels.dtype == np.uint8 and pixels.shape[2] == 3 and colorspace.is_display:
        return pixels, None
    stored = pixels[:, :, :3]
    display = colorspace.to_display(unit_float(stored))
    alpha = pixels[:, :, 3] if pixels.shape[2] == 4 else None
    return to_8bit(display), Plate(display, stored, alpha, colorspace)


def _cast(values: np.ndarray, sample: np.dtype) -> np.ndarray:
    """float32 (1.0 = white) to `sample`: integers rounded and clipped to their range, floats as they are."""
    if sample.kind == "f":
        return values.astype(sample)
    top = np.iinfo(sample).max
    return np.rint(np.clip(values, 0.0, 1.0) * top).astype(sample)


def at_depth(values: np.ndarray, sample: np.dtype) -> np.ndarray:
    """Pixels (uint8, uint16, or float with 1.0 = white) as `sample`; unchanged when they already are."""
    sample = np.dtype(sample)
    return values if values.dtype == sample else _cast(unit_float(values), sample)


def stored_pixels(
    output: np.ndarray, plate: Plate | None, colorspace: Colorspace, sample: np.dtype, alpha: np.ndarray | None = None
) -> np.ndarray:
    """What an output file holds for one frame: H×W×3, or H×W×4 with `alpha` (H×W, float32 in [0, 1] or stored
    values) or else the plate's alpha, in `sample`.

    `output` is the rendered frame (H×W×3 uint8, or float32 display-referred for a frame with a plate); it goes
    back to `colorspace`, except where it equals the plate's display values, which are the source's own pixels:
    there (when `colorspace` is the plate's) the stored values are copied, exactly.
    """
    sample = np.dtype(sample)
    if plate is None and alpha is None and output.dtype == sample and colorspace.is_display:
        return output  # plain 8-bit in, 8-bit out
    stored = _cast(colorspace.to_stored(unit_float(output)), sample)
    if plate is not None and output.dtype == plate.display.dtype and colorspace == plate.colorspace:
        untouched = (output == plate.display).all(axis=2)
        stored[untouched] = at_depth(plate.stored, sample)[untouched]
    if alpha is None and plate is not None:
        alpha = plate.alpha
    return stored if alpha is None else np.dstack([stored, at_depth(alpha, sample)])
