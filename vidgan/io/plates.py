"""Frames deeper than 8-bit RGB: 16-bit and float images, OpenEXR plates, 10-bit video, and anything with alpha.

Every frame has an 8-bit display-referred RGB view (Frame.rgb) that the networks, the change matte, optical flow
and previews use. A frame whose source holds more also carries a Plate: its pixels display-referred in float32
(for the composite, at full depth) and as stored (for the output: untouched pixels are written back exactly as
they were read, with no round trip through a colour transform), plus its alpha, passed through untouched. Plain
8-bit RGB frames carry none, so their path costs nothing extra.

Colour stored premultiplied by alpha (associated alpha: OpenEXR, TIFF with ExtraSamples 1) is divided by it on
the way in, so the display values, the 8-bit view and everything the render does with them are straight colour,
as in PNG and video; an output format that stores associated alpha gets it multiplied in again on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidgan.io.colorspaces import Colorspace
from vidgan.io.imagefile import SourceImage
from vidgan.io.images import to_8bit, unit_float

DISPLAY = Colorspace("srgb")


@dataclass(frozen=True)
class Plate:
    """display: H×W×3 float32, display-referred sRGB (1.0 = white), straight colour, beyond [0, 1] where the source
    is (EXR); stored: H×W×3 as read (uint8, uint16, or float16/float32 in `colorspace`); alpha: H×W as read, or
    None; premultiplied: whether `stored` is colour multiplied by `alpha` (never without an alpha); source: the
    image file it was read from, whose header (and other channels and parts) outputs carry, or None."""

    display: np.ndarray
    stored: np.ndarray
    alpha: np.ndarray | None
    colorspace: Colorspace
    premultiplied: bool = False
    source: SourceImage | None = None


def split_plate(
    pixels: np.ndarray, colorspace: Colorspace = DISPLAY, premultiplied: bool = False, source: SourceImage | None = None
) -> tuple[np.ndarray, Plate | None]:
    """(H×W×3 uint8 display view, Plate or None) of H×W×3 or H×W×4 pixels as read; None for plain 8-bit RGB in
    a display colour space from a file with nothing else to carry (vidgan.io.imagefile.SourceImage.carries), which
    needs no plate. `premultiplied`: H×W×4 pixels whose colour is multiplied by their alpha, divided by it here
    where alpha > 0 (where it is 0 the colour stays as stored: OpenImageIO's unpremult does the same), in the
    stored colour space, before the transform to display."""
    plain = pixels.dtype == np.uint8 and pixels.shape[2] == 3 and colorspace.is_display
    if plain and (source is None or not source.carries):
        return pixels, None
    stored = pixels[:, :, :3]
    alpha = pixels[:, :, 3] if pixels.shape[2] == 4 else None
    premultiplied = premultiplied and alpha is not None
    colour = unit_float(stored)
    if premultiplied:
        opacity = unit_float(alpha)[:, :, None]
        colour = np.divide(colour, opacity, out=colour.copy(), where=opacity > 0)
    display = colorspace.to_display(colour)
    return to_8bit(display), Plate(display, stored, alpha, colorspace, premultiplied, source)


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
    output: np.ndarray,
    plate: Plate | None,
    colorspace: Colorspace,
    sample: np.dtype,
    alpha: np.ndarray | None = None,
    premultiply: bool = False,
) -> np.ndarray:
    """What an output file holds for one frame: H×W×3, or H×W×4 with `alpha` (H×W, float32 in [0, 1] or stored
    values) or else the plate's alpha, in `sample`; `premultiply`: for a format that stores associated alpha, the
    colour multiplied by that alpha everywhere (after the transform to `colorspace`), so 0 where alpha is 0.

    `output` is the rendered frame (H×W×3 uint8, or float32 display-referred straight colour for a frame with a
    plate); it goes back to `colorspace`, except where it equals the plate's display values, which are the
    source's own pixels: there (when `colorspace` and the association are the plate's, and so is the alpha of
    premultiplied colour) the stored values are copied, exactly.
    """
    sample = np.dtype(sample)
    if plate is None and alpha is None and output.dtype == sample and colorspace.is_display:
        return output  # plain 8-bit in, 8-bit out
    own_alpha = alpha is None and plate is not None
    if own_alpha:
        alpha = plate.alpha
    premultiply = premultiply and alpha is not None
    colour = colorspace.to_stored(unit_float(output))
    stored = _cast(colour * unit_float(alpha)[:, :, None] if premultiply else colour, sample)
    if (
        plate is not None
        and output.dtype == plate.display.dtype
        and colorspace == plate.colorspace
        and plate.premultiplied == premultiply
        and (own_alpha or not premultiply)
    ):
        untouched = (output == plate.display).all(axis=2)
        stored[untouched] = at_depth(plate.stored, sample)[untouched]
    return stored if alpha is None else np.dstack([stored, at_depth(alpha, sample)])
