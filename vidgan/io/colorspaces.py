"""Colour spaces of image-sequence plates: scene-linear values to the display-referred space the networks were
trained in (sRGB-encoded, 1.0 = white) on the way in, and back on the way out.

`linear` and `srgb` need no library: the sRGB transfer of IEC 61966-2-1 (mirrored for negative values, so they
survive the round trip), with Rec.709/sRGB primaries. `cineon` is the printing-density log of film scans (DPX
with that transfer, Cineon files): Kodak's Cineon conversion (code value 685 of 1023 white, 95 black, 0.002
density per code value, negative gamma 0.6) to Linear Rec.709, as an OpenColorIO LogAffineTransform, then the
sRGB transfer. Any other name is a colour space of OpenColorIO's built-in CG config ("ocio://default": ACEScg,
ACES2065-1, Linear Rec.2020, …, or their aliases), converted to its 'sRGB Encoded Rec.709 (sRGB)' and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from vidgan.core.errors import UsageError

# auto: what the file declares (vidgan.io.imagefile.SourceImage.native_space): linear for OpenEXR (scene-linear by
# convention) and DPX marked linear, cineon for DPX in printing density and Cineon files, srgb for the rest.
COLORSPACES = ("auto", "linear", "srgb", "cineon")
_DISPLAY = "sRGB Encoded Rec.709 (sRGB)"
_LINEAR = "Linear Rec.709 (sRGB)"
# Kodak's Cineon log: code values (of 1023) per decade of density, white and black points.
_CINEON_WHITE, _CINEON_BLACK, _CINEON_DENSITY, _CINEON_GAMMA = 685, 95, 0.002, 0.6


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """float32 linear → sRGB-encoded (IEC 61966-2-1), sign-mirrored below 0; values above 1 continue the curve."""
    magnitude = np.abs(linear)
    encoded = np.where(magnitude <= 0.0031308, 12.92 * magnitude, 1.055 * np.power(magnitude, 1 / 2.4) - 0.055)
    return np.copysign(encoded, linear).astype(np.float32)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """The inverse of srgb_encode."""
    magnitude = np.abs(encoded)
    linear = np.where(magnitude <= 0.04045, magnitude / 12.92, np.power((magnitude + 0.055) / 1.055, 2.4))
    return np.copysign(linear, encoded).astype(np.float32)


@dataclass(frozen=True)
class Colorspace:
    """How a plate's stored values (H×W×3 float32) map to display-referred sRGB (`to_display`) and back."""

    name: str

    @property
    def is_display(self) -> bool:
        return self.name == "srgb"

    @property
    def is_log(self) -> bool:
        """Film log (cineon), which a scene-linear output converts to linear."""
        return self.name == "cineon"

    def to_display(self, stored: np.ndarray) -> np.ndarray:
        if self.name == "srgb":
            return stored
        if self.name == "linear":
            return srgb_encode(stored)
        if self.name == "cineon":
            return srgb_encode(_apply(_cineon_processor(False), stored))
        return _ocio_apply(self.name, _DISPLAY, stored)

    def to_stored(self, display: np.ndarray) -> np.ndarray:
        if self.name == "srgb":
            return display
        if self.name == "linear":
            return srgb_decode(display)
        if self.name == "cineon":
            return _apply(_cineon_processor(True), srgb_decode(display))
        return _ocio_apply(_DISPLAY, self.name, display)


def resolve_colorspace(name: str, native: str = "srgb") -> Colorspace:
    """The plate's colour space for --colorspace `name` (auto: `native`, the one the file declares); UsageError
    for a name that is neither ours nor one of OpenColorIO's built-in config."""
    if name == "auto":
        return Colorspace(native)
    if name in COLORSPACES:
        return Colorspace(name)
    space = _ocio_config().getColorSpace(name)
    if space is None:
        raise UsageError(
            f"--colorspace must be one of {', '.join(COLORSPACES)} or a colour space of OpenColorIO's built-in config"
            f" (e.g. ACEScg, 'Linear Rec.2020'), got {name!r}"
        )
    return Colorspace(space.getName())


@cache
def _ocio_config() -> Any:
    try:
        import PyOpenColorIO as ocio
    except ImportError:
        raise UsageError("colour spaces other than linear and srgb need OpenColorIO: pip install opencolorio") from None
    return ocio.Config.CreateFromFile("ocio://default")


@cache
def _cineon_processor(to_log: bool) -> Any:
    """Cineon code values (0..1 for 0..1023) to Linear Rec.709 (`to_log`: back), an OpenColorIO
    LogAffineTransform: code = 0.6 / 0.002 / 1023 · log10(linear · (1 - black) + black) + 685 / 1023."""
    import PyOpenColorIO as ocio

    black = 10 ** ((_CINEON_BLACK - _CINEON_WHITE) * _CINEON_DENSITY / _CINEON_GAMMA)
    transform = ocio.LogAffineTransform()
    transform.setBase(10)
    transform.setLogSideSlopeValue([_CINEON_GAMMA / _CINEON_DENSITY / 1023] * 3)
    transform.setLogSideOffsetValue([_CINEON_WHITE / 1023] * 3)
    transform.setLinSideSlopeValue([1 - black] * 3)
    transform.setLinSideOffsetValue([black] * 3)
    transform.setDirection(ocio.TRANSFORM_DIR_FORWARD if to_log else ocio.TRANSFORM_DIR_INVERSE)
    return _ocio_config().getProcessor(transform).getDefaultCPUProcessor()


@cache
def _ocio_processor(source: str, target: str) -> Any:
    return _ocio_config().getProcessor(source, target).getDefaultCPUProcessor()


def _ocio_apply(source: str, target: str, pixels: np.ndarray) -> np.ndarray:
    return _apply(_ocio_processor(source, target), pixels)


def _apply(processor: Any, pixels: np.ndarray) -> np.ndarray:
    converted = np.array(pixels, np.float32, copy=True, order="C")
    processor.applyRGB(converted)
    return converted
