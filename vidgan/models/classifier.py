"""A small CNN that tells two image sets apart: the domain classifier and two-sample test of `vidgan eval`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ClassifierConfig:
    channels: int = 16
    stages: int = 4  # stride-2 convolutions; 64 px → 4 × 4 before pooling
    image_channels: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


class BinaryClassifier(nn.Module):
    """Strided convolutions → global average pool → one logit (positive: class 1)."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width_in, width = config.image_channels, config.channels
        for _ in range(config.stages):
            # Halves the side: C × 32 × 32, 2C × 16 × 16, …; no normalisation (small and shallow enough without).
            layers += [nn.Conv2d(width_in, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            width_in, width = width, width * 2
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())  # N × 8C
        self.head = nn.Linear(width_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)  # N logits
