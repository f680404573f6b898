"""Temporal consistency of video: source motion, the warp error (flicker) metric, and flicker smoothing.

Motion is dense optical flow (OpenCV Farneback) between consecutive *source* frames, trusted only where the
forward and backward flows agree and away from motion boundaries (occlusions and edges of moving objects).
The warp error of a clip is the mean squared difference, over those reliable pixels, between each frame and
the previous frame warped onto it by the source's motion, averaged over all consecutive pairs; RGB in [0, 1].
A clip that changes only as its source moves scores like its source; flicker adds to it. Everything works on
a stream of frames, one pair at a time, in constant memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

# Flow is computed with the long side at most this many pixels: Farneback's cost grows with the pixel count,
# while flicker shows just as clearly at this size.
ANALYSIS_SIDE = 512
# Forward-backward consistency and motion-boundary thresholds (Sundaram et al. 2010, as used by Ruder et al. 2016).
_CONSISTENCY = (0.01, 0.5)
_BOUNDARY = (0.01, 0.002)


@dataclass(frozen=True)
class Motion:
    """How frame t relates to frame t−1, at the analysis size: where each pixel of t was, and whether to trust it."""

    backward: np.ndarray  # H×W×2 float32: pixel (x, y) of frame t was at (x, y) + backward[y, x] in frame t−1
    reliable: np.ndarray  # H×W bool

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the analysis frames."""
        return self.backward.shape[1], self.backward.shape[0]

    def at_size(self, width: int, height: int) -> Motion:
        """The same motion scaled to frames of another size (flow vectors scale with the frame)."""
        if (width, height) == self.size:
            return self
        scale = np.array([width / self.size[0], height / self.size[1]], np.float32)
        backward = cv2.resize(self.backward, (width, height), interpolation=cv2.INTER_LINEAR) * scale
        reliable = cv2.resize(self.reliable.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
        return Motion(backward, reliable.astype(bool))


def analysis_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, ANALYSIS_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_analysis(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _flow(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Farneback flow on grey frames: start pixel (x, y) moves to (x, y) + flow[y, x] in end."""
    return cv2.calcOpticalFlowFarneback(start, end, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def _pixel_grid(width: int, height: int) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return np.stack([xs, ys], axis=-1)


def _sample(image: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """image looked up (bilinear) at each H×W×2 position; positions off the frame take the nearest edge value."""
    return cv2.remap(image, positions[..., 0], positions[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def estimate_motion(previous_rgb: np.ndarray, current_rgb: np.ndarray) -> Motion:
    """Motion from frame t−1 to frame t (both H×W×3 uint8 RGB) at the analysis size."""
    size = analysis_size(current_rgb.shape[1], current_rgb.shape[0])
    previous = cv2.cvtColor(_to_analysis(previous_rgb, size), cv2.COLOR_RGB2GRAY)
    current = cv2.cvtColor(_to_analysis(current_rgb, size), cv2.COLOR_RGB2GRAY)
    backward = _flow(current, previous)
    forward = _flow(previous, current)
    grid = _pixel_grid(*size)
    where_it_was = grid + backward
    # Following the backward flow to t−1 and the forward flow back again should return to the start.
    round_trip = backward + _sample(forward, where_it_was)
    b2 = (backward**2).sum(-1)
    f2 = (_sample(forward, where_it_was) ** 2).sum(-1)
    consistent = (round_trip**2).sum(-1) <= _CONSISTENCY[0] * (b2 + f2) + _CONSISTENCY[1]
    dy_u, dx_u = np.gradient(backward[..., 0])
    dy_v, dx_v = np.gradient(backward[..., 1])
    boundary = dx_u**2 + dy_u**2 + dx_v**2 + dy_v**2 > _BOUNDARY[0] * b2 + _BOUNDARY[1]
    inside = (
        (where_it_was[..., 0] >= 0)
        & (where_it_was[..., 0] <= size[0] - 1)
        & (where_it_was[..., 1] >= 0)
        & (where_it_was[..., 1] <= size[1] - 1)
    )
    return Motion(backward, consistent & ~boundary & inside)


def warp_previous(previous: np.ndarray, motion: Motion) -> np.ndarray:
    """Frame t−1 (any size) moved onto frame t by the motion."""
    height, width = previous.shape[:2]
    motion = motion.at_size(width, height)
    return _sample(previous, _pixel_grid(width, height) + motion.backward)


class MotionTracker:
    """Feed source frames in order; each call returns the Motion from the previous frame (None for the first)."""

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None

    def __call__(self, source_rgb: np.ndarray, estimate: bool = True) -> Motion | None:
        """estimate=False only remembers the frame (optical flow is the costly part; skip it when unused)."""
        previous, self._previous = self._previous, source_rgb
        return None if previous is None or not estimate else estimate_motion(previous, source_rgb)


class WarpErrorMeter:
    """Accumulates the warp error of a stream of frames, given the source Motion for each (None for the first)."""

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None
        self._total = 0.0
        self.pairs = 0

    def add(self, rgb: np.ndarray, motion: Motion | None) -> None:
        size = motion.size if motion is not None else analysis_size(rgb.shape[1], rgb.shape[0])
        current = _to_analysis(rgb, size).astype(np.float32) / 255.0
        if motion is not None and self._previous is not None and motion.reliable.any():
            difference = ((warp_previous(self._previous, motion) - current) ** 2).mean(-1)
            self._total += float(difference[motion.reliable].mean())
            self.pairs += 1
        self._previous = current

    @property
    def value(self) -> float | None:
        """Mean over the pairs seen so far; None before any pair with reliable pixels."""
        return self._total / self.pairs if self.pairs else None


def warp_error(output_frames: Iterable[np.ndarray], source_frames: Iterable[np.ndarray]) -> float | None:
    """Warp error of `output_frames` under the motion of `source_frames` (equal-length H×W×3 uint8 RGB streams).

    warp_error(source, source) is the source clip's own (its natural change), the baseline to compare against.
    None when the clip has fewer than two frames or no reliable pixels.
    """
    tracker = MotionTracker()
    meter = WarpErrorMeter()
    for output, source in zip(output_frames, source_frames, strict=True):
        meter.add(output, tracker(source))
    return meter.value


class TemporalSmoother:
    """Blends each output frame with the previous smoothed one, warped by the source motion, where it is reliable.

    strength 0 changes nothing; towards 1 the previous frame dominates (less flicker, more lag on new detail).
    """

    def __init__(self, strength: float) -> None:
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"smoothing strength must be in [0, 1], got {strength}")
        self.strength = strength
        self._previous: np.ndarray | None = None

    def __call__(self, rgb: np.ndarray, motion: Motion | None) -> np.ndarray:
        if self.strength > 0 and motion is not None and self._previous is not None:
            height, width = rgb.shape[:2]
            scaled = motion.at_size(width, height)
            weight = (self.strength * scaled.reliable)[..., None].astype(np.float32)
            blended = (1 - weight) * rgb + weight * warp_previous(self._previous, scaled)
            rgb = np.clip(blended + 0.5, 0, 255).astype(np.uint8) if rgb.dtype == np.uint8 else blended
        self._previous = rgb
        return rgb

    def follow(self, rgb: np.ndarray) -> None:
        """Take a frame that is already final (kept from an interrupted render) as the previous one."""
        self._previous = rgb
