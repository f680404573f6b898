"""Temporal stability without video: the transform-equivariance term of Eilertsen et al. 2019 ("Single-frame
regularization for temporally stable CNNs", CVPR).

A generator that translates a slightly moved image as it translates the image itself, moved the same way, does not
invent texture that swims or flickers when the footage moves. Each call draws a small random motion T per image (a
shift, a rotation and a zoom: one affine map, applied with affine_grid/grid_sample) and compares G(T(x)) with
T(G(x)) by L1 over the pixels that T keeps inside the image. Images are square N×C×S×S batches in [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from vidgan.core.directions import Direction

Translate = Callable[[torch.Tensor], torch.Tensor]
# The temporal term of one direction: (direction, its generator, a batch of source images, their translations)
# → a loss. CycleGANTask uses `equivariance_term`; bench/temporal.py swaps in a consecutive-frames form to compare.
TemporalTerm = Callable[[Direction, Translate, torch.Tensor, torch.Tensor], torch.Tensor]

# The largest motion T draws, each uniform in ±: of the order of what the demo's hand moves between two extracted
# frames (about 2 px of a 64-px crop and 1.5°).
MAX_SHIFT = 0.04  # share of the image side
MAX_ROTATION = math.radians(3.0)
MAX_ZOOM = 0.04  # relative scale change
_INSIDE = 0.999  # a pixel whose bilinear footprint lies wholly in the image samples ones to within rounding


def random_motion(n: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
    """N×2×3 affine matrices (affine_grid's [-1, 1] coordinates) of small random motions about the image centre.

    Drawn on the CPU (with `generator` when given), so a seed draws the same motions on any device."""
    u = torch.rand(n, 4, generator=generator) * 2 - 1
    angle, zoom = u[:, 0] * MAX_ROTATION, 1 + u[:, 1] * MAX_ZOOM
    shift = u[:, 2:] * 2 * MAX_SHIFT  # the image spans 2 in these coordinates
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    rows = [torch.stack([cos, -sin, shift[:, 0]], -1), torch.stack([sin, cos, shift[:, 1]], -1)]
    return torch.stack(rows, 1).to(device)


def move(images: torch.Tensor, motion: torch.Tensor, padding: str = "reflection") -> torch.Tensor:
    """`images` (N×C×H×W) resampled (bilinear) by the N×2×3 `motion`; what comes from outside the image is
    `padding` (grid_sample's padding_mode). Differentiable; float32 (as autocast runs grid_sample)."""
    grid = F.affine_grid(motion.float(), list(images.shape), align_corners=False)
    return F.grid_sample(images.float(), grid, mode="bilinear", padding_mode=padding, align_corners=False)


def defined(motion: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """N×1×H×W bool: the pixels of a moved image that `motion` takes from inside the original."""
    ones = torch.ones(motion.shape[0], 1, height, width, device=motion.device)
    return move(ones, motion, padding="zeros") > _INSIDE


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
