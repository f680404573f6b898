"""Convolutional VAE: strided-convolution encoder → mean and log-variance → sample → DCGAN-style decoder."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from vidgan.models.arch import stages_to_4px
from vidgan.models.cyclegan import strided_conv_stack
from vidgan.models.dcgan import DCGenerator, DCGeneratorConfig


@dataclass(frozen=True)
class VAEConfig:
    size: int = 64  # a power of two from 16 to 128
    image_channels: int = 3
    channels: int = 32
    latent_dim: int = 100

    def decoder_config(self) -> DCGeneratorConfig:
        return DCGeneratorConfig(self.size, self.latent_dim, self.channels, self.image_channels)

    def to_dict(self) -> dict:
        return asdict(self)


class VAE(nn.Module):
    """forward(x) → (reconstruction, mean, log-variance); `decoder(z)` turns latent vectors into images."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        layers, width = strided_conv_stack(config.image_channels, config.channels, stages_to_4px(config.size))
        # width × 4 × 4 → a 4×4 convolution acts as a linear layer to the 2·latent statistics
        self.encoder = nn.Sequential(*layers, nn.Conv2d(width, 2 * config.latent_dim, 4, 1, 0), nn.Flatten())
        self.decoder = DCGenerator(config.decoder_config())

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.encoder(x).chunk(2, dim=1)  # N × latent each
        return mean, log_var

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_var = self.encode(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)  # reparameterisation: gradients reach the encoder
        return self.decoder(z), mean, log_var
