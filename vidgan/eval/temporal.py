"""The temporal error `vidgan eval` reports per CycleGAN direction: the warp error of the translations of two
consecutive frames (vidgan.render.temporal: Farneback flow of the input pair, reliable pixels only), set beside
the input pair's own. The pairs are each evaluation image and its frame pair where `vidgan extract --pair-gap`
kept one, else the image and a slightly moved copy of it (a small random shift, rotation and zoom,
vidgan.training.temporal). A generator that invents texture anew for every frame scores well above its input; 1x
its input is as steady as the footage.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from vidgan.io.batches import defined, move, random_motion, to_float, to_uint8
from vidgan.render.temporal import WarpErrorMeter, estimate_motion

SEED = 0  # the motions are drawn from this seed, so every eval of a run moves its images alike


def _defined_margin(inside: torch.Tensor) -> int:
    """The smallest border (px) whose removal leaves only pixels that every motion keeps defined (N×1×H×W bool)."""
    everywhere = inside.all(dim=0)[0]
    height, width = everywhere.shape
    for margin in range(min(height, width) // 2):
        if everywhere[margin : height - margin, margin : width - margin].all():
            return margin
    return min(height, width) // 2


def _frames(images: torch.Tensor, margin: int) -> list[np.ndarray]:
    """uint8 N×3×H×W → H×W×3 arrays with `margin` px cut off every side."""
    height, width = images.shape[-2:]
    inner = images[..., margin : height - margin, margin : width - margin]
    return list(inner.permute(0, 2, 3, 1).cpu().numpy())


@torch.no_grad()
def temporal_errors(
    translate: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, later: torch.Tensor | None = None
) -> tuple[float | None, float | None]:
    """(translations' warp error, the inputs' own) over the pairs (image, later frame) of the uint8 N×3×H×W
    `images` and `later`, or without `later` over pairs (image, moved image), both cut to the part every motion
    keeps inside the image; `translate` maps such a uint8 batch to its translations. None where no pair had
    trackable motion."""
    margin = 0
    if later is None:
        motion = random_motion(len(images), images.device, torch.Generator().manual_seed(SEED))
        later = to_uint8(move(to_float(images), motion))
        margin = _defined_margin(defined(motion, *images.shape[-2:]))
    inputs = zip(_frames(images, margin), _frames(later, margin))
    outputs = zip(_frames(translate(images), margin), _frames(translate(later), margin))
    meters = {"output": WarpErrorMeter(), "input": WarpErrorMeter()}
    for (first, second), pair in zip(inputs, outputs):
        pair_motion = estimate_motion(first, second)
        for meter, (before, after) in zip(meters.values(), (pair, (first, second))):
            meter.add(before, None)  # the pair's first frame: nothing to compare it with
            meter.add(after, pair_motion)
    return meters["output"].value, meters["input"].value
