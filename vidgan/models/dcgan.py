"""DCGAN generator: a noise vector → 4×4 → transposed convolutions doubling the size → tanh image.

Its discriminator is `models.cyclegan.DCDiscriminator` (strided convolutions with LeakyReLU → one score);
the VAE's decoder is this same generator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from vidgan.models.arch import POWER_OF_TWO_SIZES, stages_to_4px


@dataclass(frozen=True)
class DCGeneratorConfig:
    size: int = 64  # a power of two: each stage doubles 4 px up to it
    noise_dim: int = 100
    channels: int = 32  # width of the last stage; the 4×4 stage is 2**(stages-1) times wider (capped at 512)
    image_channels: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


class DCGenerator(nn.Module):
    """N × noise_dim → N × image_channels × size × size in [-1, 1]."""

    def __init__(self, config: DCGeneratorConfig) -> None:
        super().__init__()
        if config.size not in POWER_OF_TWO_SIZES:
            raise ValueError(f"DCGAN size must be one of {POWER_OF_TWO_SIZES}, got {config.size}")
        self.config = config
        stages = stages_to_4px(config.size)  # 64 px: 4 → 8 → 16 → 32 → 64
        widths = [min(config.channels * 2**i, 512) for i in range(stages)][::-1]  # 8C, 4C, 2C, C at 64 px
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(config.noise_dim, widths[0], 4, 1, 0, bias=False),  # 8C × 4 × 4
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU(inplace=True)]
        # C × 32 × 32
        layers += [nn.ConvTranspose2d(widths[-1], config.image_channels, 4, 2, 1), nn.Tanh()]  # 3 × 64 × 64
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])
