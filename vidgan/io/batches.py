"""Image batches as torch tensors, for training and for inference and judging alike: image files read into N×C×H×W
uint8 batches, uint8 [0, 255] ↔ float [-1, 1], the augmentations (flips, the deluxe resize-and-crop) and the
small random affine motions (a shift, a rotation and a zoom) applied to float batches."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidgan.core.errors import VidganError
from vidgan.core.progress import warn
from vidgan.io.images import list_images, load_image, read_rgb, resize_image, square_scale


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


def load_frames(paths: list[Path], scale: int, where: Path | str) -> torch.Tensor:
    """The readable images among `paths` whole (aspect kept), each scaled so its short side is `scale` px, as one
    N×3×H×W uint8 tensor in the first image's shape; images of another shape are trimmed to their centre
    (with a warning). Unreadable files are skipped with a warning; `where` names them in errors."""
    frames = []
    for path in paths:
        try:
            rgb = read_rgb(path)
        except VidganError as error:
            warn(f"skipping {error}")
            continue
        height, width = rgb.shape[:2]
        frames.append(resize_image(rgb, square_scale(width, height, scale)))
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


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] → float [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] → uint8 [0, 255]."""
    return images.detach().add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)


def crop_windows(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Per-sample crop: sample i gets x[i, :, top[i]:top[i]+height, left[i]:left[i]+width] (differentiable)."""
    n, c = x.shape[:2]
    rows = (torch.arange(height, device=x.device)[None, :] + top[:, None])[:, None, :, None]
    cols = (torch.arange(width, device=x.device)[None, :] + left[:, None])[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return x[batch, channel, rows, cols]


def random_ints(high: int, n: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
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
        x = crop_windows(
            x,
            random_ints(big - size + 1, n, x.device, generator),
            random_ints(big - size + 1, n, x.device, generator),
            size,
            size,
        )
    return random_flip(x, generator)


# The largest motion random_motion draws, each uniform in ±: of the order of what the demo's hand moves between two extracted
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
