"""Framing: how a full-resolution frame becomes the image a generator sees, and how its output goes back.

A fit (short-side, stretch, crop, native) maps a whole image to the network's input and back. A Framing
applies a fit to the whole frame, or (Region) to a box of it that may move from frame to frame, then
composites the result into the untouched frame with a feathered edge.

Each framing restores in two ways: `restore` scales the generator's output back up (`--detail model`), and
`restore_detail` composites it into the full-resolution frame through the change matte (`--detail source`,
vidgan.render.detail); `matte` gives that matte alone, for `--matte` with `--detail model`.

The generator sees 8-bit images (Frame.rgb). A frame with a Plate (16-bit, float, EXR: vidgan.io.plates) is
restored into its float32 display-referred pixels instead, so the untouched pixels keep the source's full depth and
range; the change matte is still computed on the 8-bit view. Both are straight colour: the plate divides colour
stored premultiplied by alpha (OpenEXR) by it, and its writer multiplies it in again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from vidgan.core.errors import VidganError
from vidgan.io.images import resize_image
from vidgan.io.video import Frame
from vidgan.render.boxes import Box
from vidgan.render.detail import SourceDetail

# (image, matte): an H×W×3 frame (uint8, or float32 for a frame with a Plate) and its H×W float32 change matte in [0, 1].
Detailed = tuple[np.ndarray, np.ndarray]


def picture(frame: Frame) -> np.ndarray:
    """The pixels a frame's output is restored into: its plate's float32 display values, else its 8-bit RGB."""
    return frame.rgb if frame.plate is None else frame.plate.display


def _like(translated: np.ndarray, under: np.ndarray) -> np.ndarray:
    """The generator's uint8 output in `under`'s representation (float32 with 1.0 = white for a float picture)."""
    return translated if under.dtype == np.uint8 else translated.astype(np.float32) * np.float32(1 / 255)


def working_size(width: int, height: int, short_side: int, stride: int) -> tuple[int, int]:
    """Scale so the short side is the training size, keeping the aspect ratio; round to the generator's stride."""
    scale = short_side / min(width, height)
    return (
        max(stride, round(width * scale / stride) * stride),
        max(stride, round(height * scale / stride) * stride),
    )


@dataclass(frozen=True)
class Fit:
    """Maps an image to the generator's input (`shrink`) and the generator's output back onto it (`restore`)."""

    mode: str  # one of vidgan.render.options.FITS
    size: int  # the generator's training size
    stride: int  # input sides must be multiples of this

    def _square(self, rgb: np.ndarray) -> tuple[int, int, int]:
        """(top, left, side) of the centred square."""
        height, width = rgb.shape[:2]
        side = min(height, width)
        return (height - side) // 2, (width - side) // 2, side

    def shrink(self, rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        if self.mode == "short-side":
            return resize_image(rgb, working_size(width, height, self.size, self.stride))
        if self.mode == "stretch":
            return resize_image(rgb, (self.size, self.size))
        if self.mode == "crop":
            top, left, side = self._square(rgb)
            return resize_image(rgb[top : top + side, left : left + side], (self.size, self.size))
        # native: reflect-pad up to the stride; the pad is cut off again in restore
        pad_y, pad_x = -height % self.stride, -width % self.stride
        return cv2.copyMakeBorder(rgb, 0, pad_y, 0, pad_x, cv2.BORDER_REFLECT_101) if pad_x or pad_y else rgb

    def restore(self, rgb: np.ndarray, translated: np.ndarray) -> np.ndarray:
        """The translation at rgb's size and type (for crop: the centre square pasted into a copy of rgb)."""
        height, width = rgb.shape[:2]
        translated = _like(translated, rgb)
        if self.mode == "native":
            return np.ascontiguousarray(translated[:height, :width])
        if self.mode == "crop":
            top, left, side = self._square(rgb)
            result = rgb.copy()
            result[top : top + side, left : left + side] = resize_image(translated, (side, side))
            return result
        return resize_image(translated, (width, height))

    def _plate(self, rgb: np.ndarray, x: np.ndarray, gx: np.ndarray) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
        """(top, left, plate, x, gx): the part of rgb the generator saw, with x and gx cut to match it (native
        pads to the stride; the pad is cut off)."""
        if self.mode == "crop":
            top, left, side = self._square(rgb)
            return top, left, rgb[top : top + side, left : left + side], x, gx
        if self.mode == "native":
            height, width = rgb.shape[:2]
            return 0, 0, rgb, np.ascontiguousarray(x[:height, :width]), np.ascontiguousarray(gx[:height, :width])
        return 0, 0, rgb, x, gx

    def restore_detail(
        self,
        rgb: np.ndarray,
        x: np.ndarray,
        gx: np.ndarray,
        detail: SourceDetail,
        limit: np.ndarray | None = None,
        deep: np.ndarray | None = None,
    ) -> Detailed:
        """`--detail source`: rgb (or `deep`, its float32 display values at full depth) with the translation gx
        (of x = shrink(rgb)) composited in through the change matte, and the matte, both at rgb's size. `limit`
        (H×W float32 in [0, 1]) caps the matte."""
        top, left, plate, x, gx = self._plate(rgb, x, gx)
        matte = self._limited(detail.matte(plate, x, gx), limit, top, left)
        under = rgb if deep is None else deep
        output = detail.composite(under[top : top + plate.shape[0], left : left + plate.shape[1]], x, gx, matte)
        return _paste(output, top, left, under), _paste(matte, top, left, _no_matte(rgb))

    def matte(self, rgb: np.ndarray, x: np.ndarray, gx: np.ndarray, detail: SourceDetail, limit: np.ndarray | None = None) -> np.ndarray:
        """The change matte restore_detail would use, at rgb's size (H×W float32 in [0, 1])."""
        top, left, plate, x, gx = self._plate(rgb, x, gx)
        return _paste(self._limited(detail.matte(plate, x, gx), limit, top, left), top, left, _no_matte(rgb))

    @staticmethod
    def _limited(matte: np.ndarray, limit: np.ndarray | None, top: int, left: int) -> np.ndarray:
        if limit is None:
            return matte
        return cv2.multiply(matte, limit[top : top + matte.shape[0], left : left + matte.shape[1]], dst=matte)


def _no_matte(rgb: np.ndarray) -> np.ndarray:
    """A read-only H×W matte of zeros for rgb (H×W×3), allocated only when _paste copies it."""
    return np.broadcast_to(np.float32(0), rgb.shape[:2])


def _paste(part: np.ndarray, top: int, left: int, under: np.ndarray) -> np.ndarray:
    """`part` placed at (top, left) on a copy of `under`; `part` itself when it covers all of `under`."""
    if part.shape == under.shape:
        return part
    result = under.copy()
    result[top : top + part.shape[0], left : left + part.shape[1]] = part
    return result


def feather_mask(box: Box, frame_width: int, frame_height: int, feather: int) -> np.ndarray:
    """H×W×1 float weights for the box: 1 inside, falling to 0 over `feather` px towards its edges.

    Edges that lie on the frame border are not feathered (there is nothing outside to blend with).
    """
    ys = np.arange(box.height, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(box.width, dtype=np.float32)[None, :] + 0.5
    far = np.float32(np.inf)
    distances = [
        xs if box.x > 0 else far,
        box.width - xs if box.x + box.width < frame_width else far,
        ys if box.y > 0 else far,
        box.height - ys if box.y + box.height < frame_height else far,
    ]
    nearest = np.minimum(np.minimum(distances[0], distances[1]), np.minimum(distances[2], distances[3]))
    weight = np.ones_like(nearest) if feather <= 0 else np.clip(nearest / feather, 0.0, 1.0)
    return np.broadcast_to(weight, (box.height, box.width))[..., None].astype(np.float32)


class WholeFrame:
    """The fit applied to the whole frame."""

    def __init__(self, fit: Fit) -> None:
        self.fit = fit

    def shrink(self, frame: Frame) -> np.ndarray:
        return self.fit.shrink(frame.rgb)

    def restore(self, frame: Frame, translated: np.ndarray) -> np.ndarray:
        return self.fit.restore(picture(frame), translated)

    def restore_detail(self, frame: Frame, x: np.ndarray, gx: np.ndarray, detail: SourceDetail) -> Detailed:
        return self.fit.restore_detail(frame.rgb, x, gx, detail, deep=None if frame.plate is None else picture(frame))

    def matte(self, frame: Frame, x: np.ndarray, gx: np.ndarray, detail: SourceDetail) -> np.ndarray:
        return self.fit.matte(frame.rgb, x, gx, detail)


class Region:
    """The fit applied to one box of each frame; pixels outside the box are the source's, bit for bit.

    A box narrower or shorter than twice the generator's stride (a 1×1 --roi, a thin strip) gives the generator
    too few pixels for its deepest layers; it then sees a window around the box, grown to that size (inside the
    frame), and only the box is composited back.
    """

    def __init__(self, fit: Fit, box_at: Callable[[int], Box], feather: int) -> None:
        self.fit = fit
        self.box_at = box_at
        self.feather = feather

    def _box(self, frame: Frame) -> Box:
        """The frame's box, clipped to the frame."""
        height, width = frame.rgb.shape[:2]
        box = self.box_at(frame.index)
        inside = box.within(width, height)
        if inside is None:
            raise VidganError(f"frame {frame.index}: the region {box} lies outside the {width}x{height} frame")
        return inside

    def _window(self, box: Box, width: int, height: int) -> Box:
        """The part of a width×height frame the generator sees for `box`: the box, each side that is shorter than
        twice the stride grown about its centre to that (or to the frame's side), shifted to lie in the frame."""
        least = 2 * self.fit.stride

        def grown(start: int, length: int, limit: int) -> tuple[int, int]:
            if length >= least:
                return start, length
            wanted = min(least, limit)
            return min(max(0, start - (wanted - length) // 2), limit - wanted), wanted

        (x, w), (y, h) = grown(box.x, box.width, width), grown(box.y, box.height, height)
        return Box(x, y, w, h)

    def shrink(self, frame: Frame) -> np.ndarray:
        height, width = frame.rgb.shape[:2]
        window = self._window(self._box(frame), width, height)
        return self.fit.shrink(frame.rgb[window.y : window.y + window.height, window.x : window.x + window.width])

    def _inside(self, frame: Frame, pixels: np.ndarray) -> tuple[Box, np.ndarray, np.ndarray]:
        """The window the generator sees, the frame's `pixels` in it, and its h×w weights: the box's feathered
        mask, 0 around the box where the window is larger."""
        box = self._box(frame)
        height, width = frame.rgb.shape[:2]
        window = self._window(box, width, height)
        inside = pixels[window.y : window.y + window.height, window.x : window.x + window.width]
        mask = feather_mask(box, width, height, self.feather)[..., 0]
        if window == box:
            return window, inside, np.ascontiguousarray(mask)
        weight = np.zeros((window.height, window.width), np.float32)
        top, left = box.y - window.y, box.x - window.x
        weight[top : top + box.height, left : left + box.width] = mask
        return window, inside, weight

    def restore(self, frame: Frame, translated: np.ndarray) -> np.ndarray:
        under = picture(frame)
        box, inside, weight = self._inside(frame, under)
        weight = weight[..., None]
        blended = weight * self.fit.restore(inside, translated) + (1 - weight) * inside
        if under.dtype == np.uint8:
            blended = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        return _paste(blended, box.y, box.x, under)

    def restore_detail(self, frame: Frame, x: np.ndarray, gx: np.ndarray, detail: SourceDetail) -> Detailed:
        """As Fit.restore_detail inside the box, the matte limited to the box's feathered mask; outside the box the
        frame is the source and the matte 0."""
        box, inside, weight = self._inside(frame, frame.rgb)
        deep = None if frame.plate is None else self._inside(frame, frame.plate.display)[1]
        output, matte = self.fit.restore_detail(inside, x, gx, detail, limit=weight, deep=deep)
        return _paste(output, box.y, box.x, picture(frame)), _paste(matte, box.y, box.x, _no_matte(frame.rgb))

    def matte(self, frame: Frame, x: np.ndarray, gx: np.ndarray, detail: SourceDetail) -> np.ndarray:
        box, inside, weight = self._inside(frame, frame.rgb)
        return _paste(self.fit.matte(inside, x, gx, detail, limit=weight), box.y, box.x, _no_matte(frame.rgb))
