"""A small CNN that tells two image sets apart: the domain classifier and two-sample test of `vidgan eval`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vidgan.models.cyclegan import strided_conv_stack


@dataclass(frozen=True)
class ClassifierConfig:
    channels: int = 16
    stages: int = 4  # stride-2 convolutions; 64 px → 4 × 4 before pooling
    image_channels: int = 3


class BinaryClassifier(nn.Module):
    """Strided convolutions → global average pool → one logit (positive: class 1).

    No normalisation: instance norm would wash out the per-image colour statistics that often tell domains apart.
    """

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        layers, width = strided_conv_stack(config.image_channels, config.channels, config.stages, norm=False)
        # C × 32 × 32, 2C × 16 × 16, 4C × 8 × 8, 8C × 4 × 4 at 64 px
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())  # N × 8C
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)  # N logits
