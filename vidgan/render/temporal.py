"""Temporal consistency of video: source motion, the warp error (flicker) metric, and flicker smoothing.

Motion is dense optical flow between consecutive *source* frames, trusted only where it is reliable
(vidgan.io.motion).
The warp error of a clip is the mean squared difference, over those reliable pixels, between each frame and
the previous frame warped onto it by the source's motion, averaged over all consecutive pairs; RGB in [0, 1].
A clip that changes only as its source moves scores like its source; flicker adds to it. Everything works on
a stream of frames, one pair at a time, in constant memory.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from vidgan.io.motion import Motion, analysis_size, estimate_motion, pixel_grid, sample, to_analysis


def warp_previous(previous: np.ndarray, motion: Motion) -> np.ndarray:
    """Frame t−1 (any size) moved onto frame t by the motion."""
    height, width = previous.shape[:2]
    motion = motion.at_size(width, height)
    return sample(previous, pixel_grid(width, height) + motion.backward)


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
        current = to_analysis(rgb, size).astype(np.float32) / 255.0
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
