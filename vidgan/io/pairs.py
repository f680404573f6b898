"""Frame pairs that `vidgan extract --pair-gap N` keeps beside the training images, for `vidgan train
--temporal-form frames`.

For a training image DOMAIN/NAME.png (frame t of a clip), its pair lives in DOMAIN/pairs/ (a subfolder, so image
listings of DOMAIN/, which look at files directly inside it, never take the pairs for training images):
- NAME.png: frame t+N of the same clip, at the same size;
- NAME.flo: the backward optical flow from it to frame t (pixel (x, y) of frame t+N was at (x, y) + flow[y, x] in
  frame t; px), in the Middlebury .flo format (cv2.readOpticalFlow reads it);
- NAME_reliable.png: 8-bit, 255 where that flow is trusted, 0 where not (occlusions, motion boundaries:
  vidgan.io.motion).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidgan.core.errors import VidganError
from vidgan.core.fsutil import atomic_path
from vidgan.io.images import list_images, read_rgb, write_png
from vidgan.io.motion import Motion

MANIFEST = "manifest.json"  # what `vidgan extract` kept of which clip, at which time, beside its domain folders
PAIRS = "pairs"  # the subfolder of a domain folder that holds its pairs
RELIABLE = "_reliable"


@dataclass(frozen=True)
class PairFiles:
    """The three files of one training image's pair."""

    later: Path  # frame t+N, PNG
    flow: Path  # .flo
    reliable: Path  # 8-bit PNG mask

    @classmethod
    def of(cls, domain_dir: Path, image_name: str) -> PairFiles:
        """The pair files of the training image `image_name` (a PNG directly in `domain_dir`)."""
        stem = Path(image_name).stem
        folder = Path(domain_dir) / PAIRS
        return cls(folder / f"{stem}.png", folder / f"{stem}.flo", folder / f"{stem}{RELIABLE}.png")

    def names(self) -> tuple[str, ...]:
        """The files' names inside the pairs folder."""
        return self.later.name, self.flow.name, self.reliable.name

    def exist(self) -> bool:
        return self.later.is_file() and self.flow.is_file() and self.reliable.is_file()


def has_frame_pairs(domain_dir: Path) -> bool:
    """Whether any training image directly in `domain_dir` has its complete pair (False for a folder without pairs,
    or none at all)."""
    domain_dir = Path(domain_dir)
    if not (domain_dir / PAIRS).is_dir():
        return False
    return any(PairFiles.of(domain_dir, path.name).exist() for path in list_images(domain_dir))


def write_pair(files: PairFiles, later_rgb: np.ndarray, motion: Motion) -> None:
    """Write frame t+N (H×W×3 uint8 RGB) and the motion from it back to frame t, scaled to its size."""
    height, width = later_rgb.shape[:2]
    motion = motion.at_size(width, height)
    write_png(files.later, later_rgb)
    with atomic_path(files.flow) as temp:
        if not cv2.writeOpticalFlow(str(temp), np.ascontiguousarray(motion.backward, np.float32)):
            raise VidganError(f"{files.flow}: could not write the optical flow")
    write_png(files.reliable, motion.reliable.astype(np.uint8) * 255)


def read_pair(files: PairFiles) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame t+N as H×W×3 uint8 RGB, backward flow H×W×2 float32 px, reliable H×W bool); VidganError for a file
    that cannot be read or whose size differs from the frame's."""
    later = read_rgb(files.later)
    flow = cv2.readOpticalFlow(str(files.flow))
    if flow is None or flow.size == 0:
        raise VidganError(f"{files.flow}: not a readable .flo optical flow file")
    reliable = read_rgb(files.reliable)[..., 0] > 127
    if flow.shape[:2] != later.shape[:2] or reliable.shape != later.shape[:2]:
        raise VidganError(f"{files.later.parent}: the flow or mask of {files.later.name} is not the frame's size")
    return later, flow, reliable
