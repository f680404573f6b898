"""Source motion between two frames: dense optical flow (OpenCV Farneback) and where it can be trusted.

Flow is trusted only where the forward and backward flows agree and away from motion boundaries (occlusions and
edges of moving objects). Here rather than beside the warp error (vidgan.render.temporal) because `extract
--pair-gap` stores the flow of each frame pair it keeps, and io may not import from render.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Flow is computed with the long side at most this many pixels: Farneback's cost grows with the pixel count,
# while flicker shows just as clearly at this size …
ANALYSIS_SIDE = 512
# … unless that leaves the short side below this: Farneback's three-level pyramid and 15 px window find no motion
# in a strip a few pixels high (an 8192x128 LED-wall strip at 512x8 measured its own motion as 10⁻⁶ of the truth).
MIN_SHORT_SIDE = 64
# Frames with a short side below this are too thin to track at all: no motion is trusted in them.
MIN_TRACKABLE_SIDE = 16
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
    """(width, height) of a width×height frame scaled so its long side is at most ANALYSIS_SIDE, but its short side
    at least MIN_SHORT_SIDE (or its own, where that is smaller): 8192x128 is analysed at 4096x64."""
    scale = min(1.0, ANALYSIS_SIDE / max(width, height))
    scale = max(scale, min(1.0, MIN_SHORT_SIDE / min(width, height)))
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_analysis(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`rgb` at the (width, height) `size` (INTER_AREA), or as it is when it has that size."""
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _flow(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Farneback flow on grey frames: start pixel (x, y) moves to (x, y) + flow[y, x] in end."""
    return cv2.calcOpticalFlowFarneback(start, end, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def pixel_grid(width: int, height: int) -> np.ndarray:
    """H×W×2 float32: each pixel's own (x, y)."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return np.stack([xs, ys], axis=-1)


def sample(image: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """image looked up (bilinear) at each H×W×2 position; positions off the frame take the nearest edge value."""
    return cv2.remap(image, positions[..., 0], positions[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def estimate_motion(previous_rgb: np.ndarray, current_rgb: np.ndarray) -> Motion:
    """Motion from frame t−1 to frame t (both H×W×3 uint8 RGB) at the analysis size; none of it reliable in a frame
    whose short side is below MIN_TRACKABLE_SIDE."""
    size = analysis_size(current_rgb.shape[1], current_rgb.shape[0])
    if min(size) < MIN_TRACKABLE_SIDE:
        return Motion(np.zeros((size[1], size[0], 2), np.float32), np.zeros((size[1], size[0]), bool))
    previous = cv2.cvtColor(to_analysis(previous_rgb, size), cv2.COLOR_RGB2GRAY)
    current = cv2.cvtColor(to_analysis(current_rgb, size), cv2.COLOR_RGB2GRAY)
    backward = _flow(current, previous)
    forward = _flow(previous, current)
    grid = pixel_grid(*size)
    where_it_was = grid + backward
    # Following the backward flow to t−1 and the forward flow back again should return to the start.
    round_trip = backward + sample(forward, where_it_was)
    b2 = (backward**2).sum(-1)
    f2 = (sample(forward, where_it_was) ** 2).sum(-1)
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
