"""Trained networks from run folders and checkpoint files, ready for inference: translating generators (of any
model kind that translates, or reference CycleGAN weights) and the samplers of image models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidgan.core.directions import Direction
from vidgan.core.errors import VidganError
from vidgan.models.cyclegan import DCDiscriminator, DiscriminatorConfig, GeneratorConfig, build_generator
from vidgan.models.dcgan import DCGenerator, DCGeneratorConfig
from vidgan.models.mlp_gan import MLPConfig, MLPDiscriminator, MLPGenerator
from vidgan.models.protocol import Generator, check_generator
from vidgan.models.reference import build_reference_generator
from vidgan.models.vae import VAE, VAEConfig
from vidgan.runs.checkpoints import (
    checkpoint_contents,
    load_checkpoint,
    load_latest_checkpoint,
    load_state_dict_file,
)
from vidgan.runs.kinds import model_kind


def load_generator(
    source: Path, direction: Direction | str = "a2b", device: torch.device | str = "cpu", *, arch: str | None = None
) -> Generator:
    """A trained generator ready for inference: from a run folder (its newest checkpoint) or a checkpoint file of a
    kind that translates `direction` (its averaged weights when the run kept them), or with `arch` (one of
    REFERENCE_ARCHS) from a reference CycleGAN state dict file. VidganError for a kind that translates nothing,
    UsageError for a direction the kind does not translate."""
    source = Path(source)
    direction = Direction.parse(direction)
    if arch is not None:
        try:
            generator = build_reference_generator(arch, load_state_dict_file(source))
        except ValueError as error:
            raise VidganError(f"{source}: {error}") from None
        return check_generator(generator.to(device).eval().requires_grad_(False), source)
    checkpoint = load_latest_checkpoint(source) if source.is_dir() else load_checkpoint(source)
    kind = model_kind(checkpoint["kind"], source)
    kind.check_direction(direction, source)
    with checkpoint_contents(source):
        return check_generator(kind.get("load_generator")(checkpoint, direction, device, True), source)


def generator_from_checkpoint(
    checkpoint: dict[str, Any], direction: Direction | str, device: torch.device | str = "cpu", averaged: bool = True
) -> Generator:
    """One direction's generator from a loaded CycleGAN checkpoint, ready for inference: the moving average of its
    weights where the run kept one (--ema) and `averaged` is on, else the trained weights themselves."""
    generator = build_generator(GeneratorConfig(**checkpoint["arch"]["generator"]))
    models = checkpoint["models"]
    state = models["generators_ema"] if averaged and "generators_ema" in models else models["generators"]
    prefix = f"{Direction.parse(direction).name}."
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    generator.load_state_dict(weights)
    return generator.to(device).eval().requires_grad_(False)


def gan_networks(arch: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """G and D of a dcgan run (arch records "generator" and "discriminator") or an mlp-gan run (arch records "mlp")."""
    if "mlp" in arch:
        mlp = MLPConfig(**arch["mlp"])
        return MLPGenerator(mlp), MLPDiscriminator(mlp)
    return DCGenerator(DCGeneratorConfig(**arch["generator"])), DCDiscriminator(DiscriminatorConfig(**arch["discriminator"]))


def gan_sampler(checkpoint: dict[str, Any]) -> nn.Module:
    """The trained generator of a dcgan or mlp-gan checkpoint: N × noise_dim → images in [-1, 1]."""
    generator, _ = gan_networks(checkpoint["arch"])
    generator.load_state_dict(checkpoint["models"]["generator"])
    return generator


def vae_sampler(checkpoint: dict[str, Any]) -> nn.Module:
    """The trained decoder of a vae checkpoint: N × latent_dim → images in [-1, 1]."""
    vae = VAE(VAEConfig(**checkpoint["arch"]["vae"]))
    vae.load_state_dict(checkpoint["models"]["vae"])
    return vae.decoder
