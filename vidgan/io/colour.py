"""Colour description of video: decoding Y'CbCr to RGB with the matrix and range a stream declares, encoding RGB
with the matrix and range the output declares, and the tags (matrix, range, primaries, transfer) written with it.

Values are FFmpeg's: AVColorSpace (the matrix), AVColorRange, AVColorPrimaries and AVColorTransferCharacteristic,
as PyAV's VideoFrame and codec context expose them. A stream that leaves its matrix or range unspecified is
read as players read it: BT.601 up to 1024x576 (SD), BT.709 above (HD), limited range (full for the yuvj
formats of JPEG-like codecs).
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

# AVColorSpace values (libavutil/pixfmt.h).
RGB_MATRIX, BT709, UNSPECIFIED, FCC, BT470BG, SMPTE170M, SMPTE240M, BT2020_NCL, BT2020_CL = 0, 1, 2, 4, 5, 6, 7, 9, 10
# AVColorPrimaries / AVColorTransferCharacteristic values used below (BT709 = 1 and UNSPECIFIED = 2 there too).
PRIMARIES_BT2020, TRANSFER_SRGB, TRANSFER_PQ, TRANSFER_HLG = 9, 13, 16, 18
LIMITED, FULL = int(ColorRange.MPEG), int(ColorRange.JPEG)

# swscale knows these matrices (as SWS_CS_* values, which PyAV's Colorspace names); BT.2020's constant-luminance
# form has no swscale matrix and is read with the non-constant one.
_SWS_MATRIX = {
    BT709: Colorspace.ITU709, FCC: Colorspace.FCC, BT470BG: Colorspace.ITU601, SMPTE170M: Colorspace.ITU601,
    SMPTE240M: Colorspace.SMPTE240M, BT2020_NCL: Colorspace.BT2020, BT2020_CL: Colorspace.BT2020,
}
_HDR_TRANSFERS = {TRANSFER_PQ: "PQ (SMPTE 2084)", TRANSFER_HLG: "HLG (ARIB STD-B67)"}


def is_hd(width: int, height: int) -> bool:
    """Whether an untagged picture of this stored size is read as HD (BT.709) rather than SD (BT.601)."""
    return width > 1024 or height > 576


@dataclass(frozen=True)
class ColourTags:
    """How a video's Y'CbCr relates to RGB (matrix, range) and what that RGB means (primaries, transfer)."""

    matrix: int = UNSPECIFIED
    range: int = 0  # AVCOL_RANGE_UNSPECIFIED
    primaries: int = UNSPECIFIED
    transfer: int = UNSPECIFIED

    @property
    def is_hdr(self) -> bool:
        """Whether the transfer is an HDR one (PQ or HLG)."""
        return self.transfer in _HDR_TRANSFERS

    @classmethod
    def of(cls, frame: av.VideoFrame) -> ColourTags:
        """The frame's tags as decoded, unspecified values kept unspecified."""
        return cls(int(frame.colorspace), int(frame.color_range), int(frame.color_primaries), int(frame.color_trc))

    def resolved(self, width: int, height: int, full_range_format: bool = False) -> ColourTags:
        """These tags with an unspecified or unknown matrix, and an unspecified range, filled in as players do
        (BT.601 SD / BT.709 HD; limited range, full for a yuvj format)."""
        matrix = self.matrix if self.matrix == RGB_MATRIX or self.matrix in _SWS_MATRIX else (
            BT709 if is_hd(width, height) else SMPTE170M)
        colour_range = self.range if self.range in (LIMITED, FULL) else (FULL if full_range_format else LIMITED)
        return ColourTags(matrix, colour_range, self.primaries, self.transfer)

    def for_output(self, width: int, height: int, *, rgb_output: bool, full_range_allowed: bool) -> ColourTags:
        """The tags of a width×height output encoded from RGB decoded with these tags: the same primaries and
        transfer; an RGB output has no matrix and full range; a Y'CbCr one has this matrix and range (resolved,
        limited where the codec takes only that), or from RGB BT.601 SD / BT.709 HD, limited."""
        if rgb_output:
            return ColourTags(RGB_MATRIX, FULL, self.primaries, self.transfer)
        tags = self.resolved(width, height)
        if tags.matrix == RGB_MATRIX:
            return ColourTags(BT709 if is_hd(width, height) else SMPTE170M, LIMITED, self.primaries, self.transfer)
        return ColourTags(tags.matrix, tags.range if full_range_allowed else LIMITED, self.primaries, self.transfer)

    def caveat(self) -> str | None:
        """What the 8-bit display-referred pipeline does to a picture with these (unresolved) tags that it cannot
        carry faithfully (HDR transfer, BT.2020 primaries or matrix, a matrix swscale lacks), or None."""
        hdr = _HDR_TRANSFERS.get(self.transfer)
        wide = self.primaries == PRIMARIES_BT2020 or self.matrix in (BT2020_NCL, BT2020_CL)
        kind = ", ".join(part for part in (f"HDR {hdr}" if hdr else "", "BT.2020" if wide else "") if part)
        notes = [
            f"{kind} video: its code values are processed as 8-bit RGB as they are (no tone mapping or gamut"
            " conversion; the generator sees them as if they were SDR BT.709) and written back with the source's"
            " tags, so smooth gradients may band"
        ] if kind else []
        if self.matrix == BT2020_CL:
            notes.append("the BT.2020 constant-luminance matrix is decoded as the non-constant-luminance one")
        elif self.matrix not in _SWS_MATRIX and self.matrix not in (RGB_MATRIX, UNSPECIFIED):
            notes.append(f"its matrix (AVColorSpace {self.matrix}) is unknown to swscale: read as BT.601 SD / BT.709 HD")
        return "; ".join(notes) or None


def source_tags(frame: av.VideoFrame) -> ColourTags:
    """The frame's tags resolved for decoding: RGB-coded frames (PNG, QuickTime RLE, FFV1 RGB) have no matrix
    and full range whatever they declare; Y'CbCr ones get an unspecified matrix and range filled in from their
    size and format."""
    tags = ColourTags.of(frame)
    if frame.format.is_rgb:
        return ColourTags(RGB_MATRIX, FULL, tags.primaries, tags.transfer)
    return tags.resolved(frame.width, frame.height, full_range_format=frame.format.name.startswith("yuvj"))


# swscale's fast Y'CbCr-to-RGB path is off by a level or two (BT.709 green decodes as 254) and the error grows
# with each decode-encode generation; accurate rounding with full horizontal chroma lands on the exact values,
# for about 25 ms more per 1080p frame. Into 16-bit RGB, full chroma interpolation garbles 4:2:0 sources in this
# FFmpeg (10-bit red (118, 69, 45) came out (118, 0, 117)), and accurate rounding alone is already within 1.6
# levels of 8 bits there, so the deep layouts take accurate rounding only.
_ACCURATE = Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
_ACCURATE_DEEP = Interpolation.ACCURATE_RND
_DEEP_LAYOUTS = ("rgb48le", "rgba64le")


def decode_rgb(
    frame: av.VideoFrame,
    tags: ColourTags,
    *,
    width: int | None = None,
    height: int | None = None,
    interpolation: str = "BILINEAR",
    rgb_format: str = "rgb24",
) -> np.ndarray:
    """The frame as H×W×3 full-range RGB (uint8 for rgb24, uint16 for rgb48le), converted with its matrix and range
    (`tags`, resolved) by swscale, scaled on the way to width×height (default: its own) with `interpolation`
    (an Interpolation name)."""
    flags = Interpolation[interpolation] | (_ACCURATE_DEEP if rgb_format in _DEEP_LAYOUTS else _ACCURATE)
    matrix = _SWS_MATRIX.get(tags.matrix)
    if matrix is None:  # RGB-coded: no matrix to apply
        return frame.to_ndarray(format=rgb_format, width=width, height=height, interpolation=flags)
    return frame.to_ndarray(
        format=rgb_format, width=width, height=height, interpolation=flags,
        src_colorspace=matrix, src_color_range=tags.range, dst_color_range=FULL,
    )


# PyAV's packed layouts of H×W×C arrays by (channels, sample type).
_LAYOUTS = {(3, np.uint8): "rgb24", (4, np.uint8): "rgba", (3, np.uint16): "rgb48le", (4, np.uint16): "rgba64le"}


def encode_frame(pixels: np.ndarray, pix_fmt: str, tags: ColourTags) -> av.VideoFrame:
    """An H×W×3 RGB (or ×4 RGBA) frame, uint8 or uint16, converted to `pix_fmt` with the matrix and range of
    `tags` (output tags, ColourTags.for_output), and tagged with all four, which encoders such as prores_ks write
    into their stream."""
    layout = _LAYOUTS[(pixels.shape[2], pixels.dtype.type)]
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format=layout)
    if tags.matrix == RGB_MATRIX:
        frame = frame.reformat(format=pix_fmt)
    else:
        frame = frame.reformat(
            format=pix_fmt, src_color_range=FULL, dst_colorspace=_SWS_MATRIX[tags.matrix], dst_color_range=tags.range
        )
    frame.colorspace, frame.color_range = tags.matrix, tags.range
    frame.color_primaries, frame.color_trc = tags.primaries, tags.transfer
    return frame


def tag_encoder(codec_context: av.codec.context.CodecContext, tags: ColourTags) -> None:
    """Declare `tags` on an encoder before it opens, so the container (mp4/mov colr, Matroska Colour) carries them."""
    codec_context.colorspace, codec_context.color_range = tags.matrix, tags.range
    codec_context.color_primaries, codec_context.color_trc = tags.primaries, tags.transfer


# RGB from images (sRGB): BT.709 primaries and the sRGB transfer.
IMAGE_TAGS = ColourTags(RGB_MATRIX, FULL, BT709, TRANSFER_SRGB)
