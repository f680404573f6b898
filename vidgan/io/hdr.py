"""HDR10 static metadata: the mastering display (SMPTE ST 2086) and content light level (CTA-861.3) a PQ or HLG
stream carries, read from a decoded frame's side data and handed to an encoder that writes it into its stream.

FFmpeg's decoders export both as frame side data (AVMasteringDisplayMetadata, AVContentLightMetadata); an output
keeps them where its encoder takes them as options (libx264's `mastering-display` and `cll`, written as SEI).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

import av

# AVMasteringDisplayMetadata: display_primaries[3][2] (R, G, B; x, y), white_point[2], min_luminance, max_luminance
# as AVRational (two int32 each), then has_primaries and has_luminance (int).
_MASTERING = struct.Struct("<22i")
_CONTENT_LIGHT = struct.Struct("<2I")  # AVContentLightMetadata: MaxCLL, MaxFALL (cd/m²)
# x264 and x265 write chromaticities in units of 0.00002 and luminance in units of 0.0001 cd/m² (as HEVC's SEI).
_CHROMA_UNIT, _LUMINANCE_UNIT = Fraction(1, 50000), Fraction(1, 10000)


@dataclass(frozen=True)
class MasteringDisplay:
    """The display a grade was mastered on: CIE 1931 xy chromaticities of its red, green and blue primaries and of
    its white point, and its minimum and maximum luminance in cd/m²."""

    red: tuple[Fraction, Fraction]
    green: tuple[Fraction, Fraction]
    blue: tuple[Fraction, Fraction]
    white: tuple[Fraction, Fraction]
    min_luminance: Fraction
    max_luminance: Fraction


@dataclass(frozen=True)
class HdrMetadata:
    """A stream's HDR10 static metadata; either part may be absent. `content_light` is (MaxCLL, MaxFALL) in cd/m²."""

    mastering: MasteringDisplay | None = None
    content_light: tuple[int, int] | None = None

    @classmethod
    def of(cls, frame: av.VideoFrame) -> HdrMetadata | None:
        """What the frame's side data holds, or None when it holds neither part (SDR, or a stream without them)."""
        mastering = content_light = None
        for side in frame.side_data:
            if side.type == av.sidedata.sidedata.Type.MASTERING_DISPLAY_METADATA:
                mastering = _mastering_display(bytes(side))
            elif side.type == av.sidedata.sidedata.Type.CONTENT_LIGHT_LEVEL:
                content_light = _CONTENT_LIGHT.unpack_from(bytes(side))
        if mastering is None and content_light is None:
            return None
        return cls(mastering, content_light)

    def x264_params(self) -> str:
        """The `x264-params` (and `x265-params`) value that writes this metadata into the stream as SEI messages."""
        params = []
        if self.mastering is not None:
            m = self.mastering
            xy = lambda point: f"({round(point[0] / _CHROMA_UNIT)},{round(point[1] / _CHROMA_UNIT)})"
            luminance = f"L({round(m.max_luminance / _LUMINANCE_UNIT)},{round(m.min_luminance / _LUMINANCE_UNIT)})"
            params.append(f"mastering-display=G{xy(m.green)}B{xy(m.blue)}R{xy(m.red)}WP{xy(m.white)}{luminance}")
        if self.content_light is not None:
            params.append(f"cll={self.content_light[0]},{self.content_light[1]}")
        return ":".join(params)


def _mastering_display(data: bytes) -> MasteringDisplay | None:
    values = _MASTERING.unpack_from(data)
    rationals = [Fraction(values[i], values[i + 1]) if values[i + 1] else Fraction(0) for i in range(0, 20, 2)]
    has_primaries, has_luminance = values[20], values[21]
    if not (has_primaries and has_luminance):  # x264 takes the whole description or none of it
        return None
    red, green, blue, white = (tuple(rationals[i : i + 2]) for i in range(0, 8, 2))
    return MasteringDisplay(red, green, blue, white, min_luminance=rationals[8], max_luminance=rationals[9])
