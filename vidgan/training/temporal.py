"""The temporal-consistency term of `vidgan train --temporal-weight`, in two forms (--temporal-form):

- equivariance, temporal stability without video (Eilertsen et al. 2019, "Single-frame regularization for
  temporally stable CNNs", CVPR): a generator that translates a slightly moved image as it translates the image
  itself, moved the same way, does not invent texture that swims or flickers when the footage moves. Each call
  draws a small random motion T per image (a shift, a rotation and a zoom: one affine map, applied with
  affine_grid/grid_sample) and compares G(T(x)) with T(G(x)) by L1 over the pixels that T keeps inside the image.
- frames, consecutive frames (ReCycle-GAN, Bansal et al. 2018; the warping loss of Lai et al. 2018): G(frame t+N)
  against G(frame t) moved onto it by the source's optical flow, by L1 over the pixels where that flow is reliable,
  on the pairs `vidgan extract --pair-gap N` keeps (vidgan.io.pairs).

Images are square N×C×S×S batches in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vidgan.core.directions import Direction
from vidgan.core.errors import UsageError, VidganError
from vidgan.core.progress import warn
from vidgan.io.batches import defined, move, random_motion, to_float
from vidgan.io.images import centre_square, read_rgb, resize_image, square_scale
from vidgan.io.pairs import PairFiles, read_pair

Translate = Callable[[torch.Tensor], torch.Tensor]
# The temporal term of one direction: (direction, its generator, a batch of source images, their translations)
# → a loss. CycleGANTask's is `equivariance_term`, or a FramesTerm for --temporal-form frames.
TemporalTerm = Callable[[Direction, Translate, torch.Tensor, torch.Tensor], torch.Tensor]

def equivariance_loss(translate: Translate, images: torch.Tensor, translated: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """Mean L1 between translate(T(images)) and T(translated) over the pixels T keeps defined (the border a
    motion uncovers is left out); `translated` is translate(images), already computed. 0 when `translate`
    commutes with T (e.g. a pointwise colour map); both sides carry gradients."""
    mask = defined(motion, *images.shape[-2:])
    difference = (translate(move(images, motion)) - move(translated, motion)).abs() * mask
    return difference.sum() / (mask.sum() * images.shape[1]).clamp_min(1)


def equivariance_term(direction: Direction, translate: Translate, images: torch.Tensor, translated: torch.Tensor) -> torch.Tensor:
    """The TemporalTerm of training: `equivariance_loss` under a fresh random motion per image (the same for
    either direction)."""
    return equivariance_loss(translate, images, translated, random_motion(len(images), images.device))


def frames_loss(
    translate: Translate, first: torch.Tensor, later: torch.Tensor, flow: torch.Tensor, reliable: torch.Tensor
) -> torch.Tensor:
    """Mean L1 between translate(later) and translate(first) moved onto it by `flow`, over the pixels where `reliable`
    is set and the flow points inside the image. first, later: N×3×H×W in [-1, 1]; flow: N×2×H×W px (x then y),
    pixel (x, y) of `later` was at (x, y) + flow there in `first`; reliable: N×1×H×W, 0 or 1. 0 for a generator that
    moves with the footage (e.g. the identity on a pure shift); both translations carry gradients."""
    height, width = first.shape[-2:]
    pixels = torch.stack(torch.meshgrid(torch.arange(width), torch.arange(height), indexing="xy"), 0).to(flow)
    where = pixels + flow
    size = torch.tensor([width, height], device=flow.device, dtype=flow.dtype)[:, None, None]
    inside = ((where >= 0) & (where <= size - 1)).all(dim=1, keepdim=True)
    grid = ((2 * where + 1) / size - 1).permute(0, 2, 3, 1)  # grid_sample's [-1, 1] (align_corners=False)
    warped = F.grid_sample(translate(first).float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    mask = reliable * inside
    return ((translate(later).float() - warped).abs() * mask).sum() / (first.shape[1] * mask.sum()).clamp_min(1)


@dataclass(frozen=True)
class FramePairs:
    """One domain's frame pairs, kept compactly on the CPU: first and later N×3×H×W uint8, flow N×2×H×W float16
    (px: where each pixel of the later frame was in the first), reliable N×1×H×W bool."""

    first: torch.Tensor
    later: torch.Tensor
    flow: torch.Tensor
    reliable: torch.Tensor

    def __len__(self) -> int:
        return self.first.shape[0]

    def crops(self, count: int, side: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        """`count` random pairs, each cut to a random side×side window shared by its four parts, on `device`:
        (first, later in [-1, 1], flow float32 px, reliable float 0/1), the arguments of `frames_loss`."""
        height, width = self.first.shape[-2:]
        index = torch.randint(len(self), (count,)).tolist()
        tops, lefts = torch.randint(height - side + 1, (count,)).tolist(), torch.randint(width - side + 1, (count,)).tolist()

        def cut(images: torch.Tensor) -> torch.Tensor:
            windows = [images[i, :, top : top + side, left : left + side] for i, top, left in zip(index, tops, lefts)]
            return torch.stack(windows).to(device, non_blocking=True)

        return to_float(cut(self.first)), to_float(cut(self.later)), cut(self.flow).float(), cut(self.reliable).float()


class FramesTerm:
    """The TemporalTerm of --temporal-form frames: `frames_loss` on random crops (the training crop's side) of the
    source domain's frame pairs, as many as the step's images (it draws its own pairs instead of using them)."""

    def __init__(self, pairs: dict[str, FramePairs], side: int) -> None:
        self.pairs = pairs  # domain → its pairs
        self.side = side

    def __call__(self, direction: Direction, translate: Translate, images: torch.Tensor, translated: torch.Tensor) -> torch.Tensor:
        return frames_loss(translate, *self.pairs[direction.source].crops(len(images), self.side, images.device))


def paired_images(folder: Path, names: Iterable[str]) -> list[str]:
    """Those of the images `names` in `folder` that have a pair; UsageError naming the folder when none has."""
    paired = [name for name in names if PairFiles.of(folder, name).exist()]
    if not paired:
        raise UsageError(f"{folder}: no frame pairs for --temporal-form frames; extract the clips with `vidgan extract --pair-gap N`")
    return paired


def load_frame_pairs(folder: Path, names: Iterable[str], scale: int, whole: bool) -> FramePairs:
    """The pairs of the images `names` in `folder` (those that have one), brought to the training images' geometry:
    with `whole`, whole frames with their short side at `scale` px (load_frames); else the centred square at
    scale×scale (load_image). Unreadable pairs, and pairs of another shape than the first, are left out with a
    warning; UsageError when no pair is left."""
    pairs, skipped = [], 0
    for name in paired_images(folder, names):
        try:
            pair = _fit_pair(read_rgb(folder / name), *read_pair(PairFiles.of(folder, name)), scale, whole)
        except VidganError as error:
            warn(f"skipping the pair of {name}: {error}")
            continue
        if pairs and pair[0].shape != pairs[0][0].shape:
            skipped += 1
            continue
        pairs.append(pair)
    if skipped:
        warn(f"{folder}: left out {skipped} frame pairs whose frames have another size than the first pair's")
    if not pairs:
        raise UsageError(f"{folder}: none of the frame pairs could be read; extract the clips again with `vidgan extract --pair-gap N`")
    first, later, flow, reliable = (np.stack(part) for part in zip(*pairs))
    channels_first = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()
    return FramePairs(
        channels_first(first), channels_first(later), channels_first(flow).half(), channels_first(reliable[..., None])
    )


def _fit_pair(
    first: np.ndarray, later: np.ndarray, flow: np.ndarray, reliable: np.ndarray, scale: int, whole: bool
) -> tuple[np.ndarray, ...]:
    """A pair (two H×W×3 uint8 frames, H×W×2 float flow in px, H×W bool) cut and scaled alike, the flow's vectors
    with it: the training images' geometry (see load_frame_pairs)."""
    if first.shape != later.shape:
        raise VidganError(f"frame t is {first.shape[1]}x{first.shape[0]}, its pair {later.shape[1]}x{later.shape[0]}")
    if not whole:  # the centred square, as square_resize cuts it
        first, later, flow, reliable = (centre_square(a) for a in (first, later, flow, reliable))
    height, width = first.shape[:2]
    size = square_scale(width, height, scale) if whole else (scale, scale)
    if size != (width, height):
        first, later = (resize_image(a, size) for a in (first, later))
        between = cv2.INTER_AREA if size[0] < width else cv2.INTER_LINEAR
        flow = cv2.resize(flow, size, interpolation=between) * np.array([size[0] / width, size[1] / height], np.float32)
        reliable = cv2.resize(reliable.astype(np.float32), size, interpolation=between) > 0.99  # reliable all through
    return first, later, flow, reliable
