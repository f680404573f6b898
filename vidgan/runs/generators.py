"""Trained CycleGAN generators from run folders and checkpoint files, ready for inference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidgan.core.directions import Direction
from vidgan.core.errors import VidganError
from vidgan.models.cyclegan import GeneratorConfig, build_generator
from vidgan.runs.checkpoints import (
    checkpoint_contents,
    load_checkpoint,
    load_latest_checkpoint,
)

CYCLEGAN_KIND = "cyclegan"  # the `kind` a CycleGAN run records in config.json and its checkpoints


def load_generator(source: Path, direction: Direction | str = "a2b", device: torch.device | str = "cpu") -> nn.Module:
    """A trained generator from a run folder (its newest checkpoint) or a checkpoint file, ready for inference
    (its averaged weights when the run kept them)."""
    source = Path(source)
    direction = Direction.parse(direction)
    checkpoint = load_latest_checkpoint(source) if source.is_dir() else load_checkpoint(source)
    if checkpoint["kind"] != CYCLEGAN_KIND:
        raise VidganError(f"{source}: holds a {checkpoint['kind']} model, which cannot translate images (need a CycleGAN run)")
    with checkpoint_contents(source):
        return generator_from_checkpoint(checkpoint, direction, device)


def generator_from_checkpoint(
    checkpoint: dict[str, Any], direction: Direction | str, device: torch.device | str = "cpu", *, averaged: bool = True
) -> nn.Module:
    """One direction's generator from a loaded CycleGAN checkpoint, ready for inference: the moving average of its
    weights where the run kept one (--ema) and `averaged` is on, else the trained weights themselves."""
    generator = build_generator(GeneratorConfig(**checkpoint["arch"]["generator"]))
    models = checkpoint["models"]
    state = models["generators_ema"] if averaged and "generators_ema" in models else models["generators"]
    prefix = f"{Direction.parse(direction).name}."
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    generator.load_state_dict(weights)
    return generator.to(device).eval().requires_grad_(False)
