"""Sampling from a trained dcgan, mlp-gan or vae run: a grid of images from random latents, or latent walks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from torchvision.utils import make_grid

from vidgan.core.devices import resolve_device
from vidgan.core.errors import UsageError, VidganError
from vidgan.core.fsutil import atomic_path
from vidgan.core.options import AT_LEAST_1, NOT_NEGATIVE, check_number
from vidgan.io.batches import to_uint8
from vidgan.io.images import IMAGE_SUFFIXES
from vidgan.runs.checkpoints import load_checkpoint, load_latest_checkpoint
from vidgan.runs.kinds import model_kind

WALK_STEPS = 8  # images per row of --interpolate
DECODE_BATCH = 256


@dataclass
class SampleResult:
    out: Path
    count: int
    kind: str


def slerp(start: torch.Tensor, end: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latent rows: stays at the norm Gaussian latents have, unlike a straight line."""
    cosine = torch.nn.functional.cosine_similarity(start, end, dim=-1).clamp(-1 + 1e-6, 1 - 1e-6)
    angle = torch.acos(cosine)[:, None, None]  # rows × 1 × 1
    t = fractions[None, :, None]  # 1 × steps × 1
    return (torch.sin((1 - t) * angle) * start[:, None] + torch.sin(t * angle) * end[:, None]) / torch.sin(angle)


def sampler_from_checkpoint(checkpoint: dict[str, Any], source: Path, device: torch.device) -> nn.Module:
    """The network of a dcgan, mlp-gan or vae checkpoint that turns N × noise_dim latents into images, ready for
    inference; `source` names the run or checkpoint in the error for a model that translates instead."""
    kind = model_kind(checkpoint["kind"], source)
    if kind.load_sampler is None:
        raise VidganError(f"{source}: holds a {kind.name} model, which translates images (use vidgan translate)")
    return kind.get("load_sampler")(checkpoint).to(device).eval().requires_grad_(False)


@torch.no_grad()
def decode(sampler: nn.Module, latents: torch.Tensor) -> torch.Tensor:
    """uint8 images from a sampler's latents (on any device), in batches."""
    device = next(sampler.parameters()).device
    batches = latents.split(DECODE_BATCH)
    return torch.cat([to_uint8(sampler(batch.to(device))) for batch in batches])


def sample_images(
    source: Path,
    out: Path,
    *,
    count: int = 64,
    seed: int = 0,
    interpolate: bool = False,
    device: str = "auto",
) -> SampleResult:
    """Write a grid of `count` generated images (or count/8 rows of 8-step latent walks) from a run or checkpoint."""
    source, out = Path(source), Path(out)
    check_number("-n", count, AT_LEAST_1)
    check_number("--seed", seed, NOT_NEGATIVE)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"--out {out}: give an image file name ({', '.join(sorted(IMAGE_SUFFIXES))})")
    checkpoint = load_latest_checkpoint(source) if source.is_dir() else load_checkpoint(source)
    decoder = sampler_from_checkpoint(checkpoint, source, resolve_device(device))
    rng = torch.Generator().manual_seed(seed)
    noise_dim = decoder.config.noise_dim
    if interpolate:
        rows = math.ceil(count / WALK_STEPS)
        ends = torch.randn(2, rows, noise_dim, generator=rng)
        latents = slerp(ends[0], ends[1], torch.linspace(0, 1, WALK_STEPS)).reshape(-1, noise_dim)
        columns = WALK_STEPS
    else:
        latents = torch.randn(count, noise_dim, generator=rng)
        columns = math.ceil(math.sqrt(count))
    images = decode(decoder, latents)
    grid = make_grid(images, nrow=columns, padding=2)
    with atomic_path(out) as temp:
        Image.fromarray(grid.permute(1, 2, 0).cpu().numpy()).save(temp)
    return SampleResult(out, len(images), checkpoint["kind"])
