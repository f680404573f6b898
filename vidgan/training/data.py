"""In-memory datasets and augmentation (mirror, deluxe, random crops, DiffAugment).

Every dataset here is small enough to live in memory as uint8 (10 000 frames at 128 px are 0.5 GB; whole
frames for crops take (long side / short side) times their working scale squared each: 1000 16:9 frames
at a 256-px working scale are 0.35 GB), so training draws batches by indexing a tensor on the training
device instead of decoding PNGs each step.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from vidgan.io.batches import augment, crop_windows, random_ints, to_float
from vidgan.io.images import list_images, read_rgb
from vidgan.training.options import AUGMENTATIONS, DIFFAUG_POLICY


def short_side(folder: Path) -> int:
    """The short side in pixels of the folder's first image: the working scale of frames that
    `vidgan extract --scale` wrote there."""
    return min(read_rgb(list_images(folder)[0]).shape[:2])


class ImageBank:
    """A domain's images resident on the training device as uint8; draws augmented float batches in [-1, 1]:
    of the whole images, or with `crop` of random crop×crop windows of them (the sample grids' fixed images
    are then their centre windows)."""

    def __init__(self, images: torch.Tensor, device: torch.device, augmentation: str = "mirror", crop: int | None = None) -> None:
        if augmentation not in AUGMENTATIONS:
            raise ValueError(f"augmentation must be one of {', '.join(AUGMENTATIONS)}, got {augmentation!r}")
        if crop is not None and crop > min(images.shape[-2:]):
            raise ValueError(f"{crop}-px crops do not fit {images.shape[-1]}x{images.shape[-2]} images")
        self.images = images.to(device)
        self.augmentation = augmentation
        self.crop = crop

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        index = torch.randint(len(self), (batch_size,), generator=generator).to(self.images.device)
        images = self.images[index]
        if self.crop is not None:
            height, width = images.shape[-2:]
            top = random_ints(height - self.crop + 1, batch_size, images.device, generator)
            left = random_ints(width - self.crop + 1, batch_size, images.device, generator)
            images = crop_windows(images, top, left, self.crop, self.crop)
        return augment(to_float(images), self.augmentation, generator)

    def fixed(self, count: int) -> torch.Tensor:
        """The first `count` images (evenly spread over the bank), unaugmented: for comparable sample grids."""
        index = torch.linspace(0, len(self) - 1, min(count, len(self))).round().long().to(self.images.device)
        images = self.images[index]
        if self.crop is not None:
            height, width = images.shape[-2:]
            top, left = (height - self.crop) // 2, (width - self.crop) // 2
            images = images[..., top : top + self.crop, left : left + self.crop]
        return to_float(images)


def diff_augment(x: torch.Tensor, policy: tuple[str, ...] = DIFFAUG_POLICY) -> torch.Tensor:
    """Differentiable augmentation (Zhao et al. 2020) applied to every discriminator input, real and fake alike.

    Each op is built from differentiable tensor ops, so gradients reach the generator through it.
    """
    n, _, h, w = x.shape
    device = x.device
    if "color" in policy:
        x = x + (torch.rand(n, 1, 1, 1, device=device) - 0.5)  # brightness
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, device=device) * 2) + mean  # saturation
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, device=device) + 0.5) + mean  # contrast
    if "translation" in policy:
        pad_y, pad_x = max(1, int(h / 8 + 0.5)), max(1, int(w / 8 + 0.5))
        padded = F.pad(x, (pad_x, pad_x, pad_y, pad_y))
        top = torch.randint(0, 2 * pad_y + 1, (n,), device=device)
        left = torch.randint(0, 2 * pad_x + 1, (n,), device=device)
        x = crop_windows(padded, top, left, h, w)
    if "cutout" in policy:
        cut_h, cut_w = int(h / 2 + 0.5), int(w / 2 + 0.5)
        cy = torch.randint(0, h + 1 - cut_h % 2, (n, 1, 1), device=device)
        cx = torch.randint(0, w + 1 - cut_w % 2, (n, 1, 1), device=device)
        rows = torch.arange(h, device=device)[None, :, None]
        cols = torch.arange(w, device=device)[None, None, :]
        top, left = cy - cut_h // 2, cx - cut_w // 2  # the box may hang over the border, as in the paper
        inside = (rows >= top) & (rows < top + cut_h) & (cols >= left) & (cols < left + cut_w)
        x = x * (~inside)[:, None].to(x.dtype)
    return x
