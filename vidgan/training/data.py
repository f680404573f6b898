"""In-memory datasets and augmentation (mirror, deluxe, random crops, DiffAugment).

Every dataset here is small enough to live in memory as uint8 (10 000 frames at 128 px are 0.5 GB; whole
frames for crops take (long side / short side) times their working scale squared each: 1000 16:9 frames
at a 256-px working scale are 0.35 GB), so training draws batches by indexing a tensor on the training
device instead of decoding PNGs each step.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from vidgan.core.errors import VidganError
from vidgan.core.progress import warn
from vidgan.io.images import list_images, load_image, read_rgb, readable_rgb, resize_image, square_scale
from vidgan.training.options import AUGMENTATIONS, DIFFAUG_POLICY

if TYPE_CHECKING:
    from vidgan.runs.splits import DomainSplit


def load_image_folder(folder: Path, size: int, channels: int = 3) -> torch.Tensor:
    """All readable images of a folder as an N×channels×size×size uint8 tensor (3: RGB, 1: grey);
    unreadable files are skipped with a warning."""
    return load_image_files(list_images(folder), size, folder, channels)


def load_image_files(paths: list[Path], size: int, where: Path | str, channels: int = 3) -> torch.Tensor:
    """The readable images among `paths` as an N×channels×size×size uint8 tensor; `where` names them in errors."""
    images = []
    for path in paths:
        try:
            images.append(load_image(path, size, channels))
        except VidganError as error:
            warn(f"skipping {error}")
    if not images:
        raise VidganError(f"{where}: none of the images could be read")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def load_training_images(
    folder: Path, split: DomainSplit | None, size: int, channels: int = 3, *, working_scale: int | None = None
) -> torch.Tensor:
    """The images a run trains on from one folder: the training share of its split, or all of them (no split);
    size×size squares, or with `working_scale` whole frames at that scale (see load_frames)."""
    if working_scale is not None:
        paths, where = (list_images(folder), folder) if split is None else (split.train_paths(), split.folder)
        return load_frames(paths, working_scale, where)
    if split is None:
        return load_image_folder(folder, size, channels)
    return load_image_files(split.train_paths(), size, split.folder, channels)


def short_side(folder: Path) -> int:
    """The short side in pixels of the folder's first image: the working scale of frames that
    `vidgan extract --scale` wrote there."""
    return min(read_rgb(list_images(folder)[0]).shape[:2])


def load_frames(paths: list[Path], scale: int, where: Path | str) -> torch.Tensor:
    """The readable images among `paths` whole (aspect kept), each scaled so its short side is `scale` px, as one
    N×3×H×W uint8 tensor in the first image's shape; images of another shape are trimmed to their centre
    (with a warning). Unreadable files are skipped with a warning; `where` names them in errors."""
    frames = [resize_image(rgb, square_scale(rgb.shape[1], rgb.shape[0], scale)) for rgb in readable_rgb(paths)]
    if not frames:
        raise VidganError(f"{where}: none of the images could be read")
    height, width = frames[0].shape[:2]
    other = [i for i, frame in enumerate(frames) if frame.shape[:2] != (height, width)]
    if other:
        height, width = min(f.shape[0] for f in frames), min(f.shape[1] for f in frames)
        warn(f"{where}: {len(other)} of {len(frames)} images have another aspect ratio; training on the centred {width}x{height} of each")
        frames = [_centre(frame, height, width) for frame in frames]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()


def _centre(image: np.ndarray, height: int, width: int) -> np.ndarray:
    top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return image[top : top + height, left : left + width]


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
            top = _random_ints(height - self.crop + 1, batch_size, images.device, generator)
            left = _random_ints(width - self.crop + 1, batch_size, images.device, generator)
            images = _crop_windows(images, top, left, self.crop, self.crop)
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


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] → float [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] → uint8 [0, 255]."""
    return images.detach().add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)


def _crop_windows(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Per-sample crop: sample i gets x[i, :, top[i]:top[i]+height, left[i]:left[i]+width] (differentiable)."""
    n, c = x.shape[:2]
    rows = (torch.arange(height, device=x.device)[None, :] + top[:, None])[:, None, :, None]
    cols = (torch.arange(width, device=x.device)[None, :] + left[:, None])[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return x[batch, channel, rows, cols]


def _random_ints(high: int, n: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randint(high, (n,), generator=generator).to(device)


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    flip = torch.rand(x.shape[0], generator=generator).to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def augment(x: torch.Tensor, mode: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """mirror: random horizontal flip; deluxe: upscale to 1.1×, random crop back, flip; none/basic: as is."""
    if mode in ("none", "basic"):
        return x
    if mode == "deluxe":
        size = x.shape[-1]
        big = int(math.ceil(size * 1.1))
        x = F.interpolate(x, size=(big, big), mode="bilinear", align_corners=False)
        n = x.shape[0]
        x = _crop_windows(
            x,
            _random_ints(big - size + 1, n, x.device, generator),
            _random_ints(big - size + 1, n, x.device, generator),
            size,
            size,
        )
    return random_flip(x, generator)


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
        x = _crop_windows(padded, top, left, h, w)
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
