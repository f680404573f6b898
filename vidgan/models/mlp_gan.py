"""Fully connected GAN for small (e.g. 28×28 grayscale) images: batch norm in G, dropout in D."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MLPConfig:
    size: int = 28
    image_channels: int = 1
    noise_dim: int = 100
    hidden: int = 256  # G widens hidden → 2·hidden → 4·hidden; D narrows 4·hidden → 2·hidden → hidden
    dropout: float = 0.3
    slope: float = 0.2  # LeakyReLU negative slope

    @property
    def pixels(self) -> int:
        return self.image_channels * self.size * self.size

    def to_dict(self) -> dict:
        return asdict(self)


class MLPGenerator(nn.Module):
    """N × noise_dim → N × C × size × size in [-1, 1] (tanh)."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.net = nn.Sequential(
            nn.Linear(config.noise_dim, h),
            nn.LeakyReLU(config.slope, inplace=True),
            nn.Linear(h, 2 * h),
            nn.BatchNorm1d(2 * h),
            nn.LeakyReLU(config.slope, inplace=True),
            nn.Linear(2 * h, 4 * h),
            nn.BatchNorm1d(4 * h),
            nn.LeakyReLU(config.slope, inplace=True),
            nn.Linear(4 * h, config.pixels),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c = self.config
        return self.net(z).view(-1, c.image_channels, c.size, c.size)


class MLPDiscriminator(nn.Module):
    """N × C × size × size → N × 1 logits; sigmoid(logit) is D's probability that the image is real.

    The sigmoid is left to the loss (BCE-with-logits is the numerically stable form of sigmoid + BCE).
    """

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        h = config.hidden
        layers: list[nn.Module] = [nn.Flatten()]
        for w_in, w_out in ((config.pixels, 4 * h), (4 * h, 2 * h), (2 * h, h)):
            layers += [nn.Linear(w_in, w_out), nn.LeakyReLU(config.slope, inplace=True), nn.Dropout(config.dropout)]
        layers += [nn.Linear(h, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
