"""Generators with the module layout of the reference PyTorch CycleGAN/pix2pix code (junyanz), so its saved
state dicts (`latest_net_G_A.pth`) load key for key: ResNet with 6 or 9 blocks, U-Net 128 or 256.

Layouts, with C the base width (ngf, 64 in the reference):
- ResNet: `model.N` — reflect-pad, 7×7 conv to C, norm, ReLU; two stride-2 convs (2C, 4C); the residual
  blocks (`model.K.conv_block.M`); two transposed convs back to C; reflect-pad, 7×7 conv to RGB, tanh.
- U-Net: nested skip blocks `model.model.1.model.3.…`, each down (LeakyReLU, 4×4 stride-2 conv, norm), the
  inner block, up (ReLU, 4×4 transposed conv, norm), its input concatenated to its output.
Norm is InstanceNorm without affine parameters (the reference's default for CycleGAN) or BatchNorm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from vidgan.models.reference_archs import REFERENCE_ARCHS


@dataclass(frozen=True)
class ReferenceConfig:
    arch: str
    channels: int = 64  # the reference's ngf
    in_channels: int = 3
    out_channels: int = 3
    norm: str = "instance"  # "instance" (no affine, no running stats) or "batch"
    dropout: bool = False  # in ResNet blocks it shifts the second convolution's index

    @property
    def size(self) -> int:
        """The crop size the reference trains at: 128 for unet_128, else 256."""
        return 128 if self.arch == "unet_128" else 256

    def to_dict(self) -> dict[str, Any]:
        """Every field (`ReferenceConfig(**config.to_dict()) == config`), as the generator contract asks."""
        return asdict(self)


def _norm(config: ReferenceConfig, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if config.norm == "batch" else nn.InstanceNorm2d(channels)


class ReferenceResnetBlock(nn.Module):
    def __init__(self, config: ReferenceConfig, channels: int, bias: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            _norm(config, channels),
            nn.ReLU(True),
        ]
        if config.dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), _norm(config, channels)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ReferenceResnetGenerator(nn.Module):
    """ResNet generator with 2 down- and 2 up-samplings; input sides must be multiples of 4."""

    stride = 4

    def __init__(self, config: ReferenceConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        bias = config.norm == "instance"  # the reference drops conv biases only before BatchNorm
        blocks = 9 if config.arch == "resnet_9blocks" else 6
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(config.in_channels, c, 7, bias=bias),
            _norm(config, c),
            nn.ReLU(True),
        ]  # C × H × W
        for width in (c, 2 * c):
            layers += [nn.Conv2d(width, 2 * width, 3, 2, 1, bias=bias), _norm(config, 2 * width), nn.ReLU(True)]
        # 4C × H/4 × W/4
        layers += [ReferenceResnetBlock(config, 4 * c, bias) for _ in range(blocks)]
        for width in (4 * c, 2 * c):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 3, 2, 1, output_padding=1, bias=bias),
                _norm(config, width // 2),
                nn.ReLU(True),
            ]
        # C × H × W
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, config.out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ReferenceUnetBlock(nn.Module):
    """One U-Net level: down-sample, the inner levels, up-sample; all but the outermost concatenate their input."""

    def __init__(
        self,
        config: ReferenceConfig,
        outer: int,
        inner: int,
        inner_block: ReferenceUnetBlock | None,
        *,
        in_channels: int | None = None,
        outermost: bool = False,
        dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        bias = config.norm == "instance"
        down_conv = nn.Conv2d(in_channels or outer, inner, 4, 2, 1, bias=bias)
        if outermost:
            layers = [down_conv, inner_block, nn.ReLU(True), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), nn.Tanh()]
        elif inner_block is None:  # innermost: 1×1 at the bottom for the reference's input size
            layers = [
                nn.LeakyReLU(0.2, True),
                down_conv,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias),
                _norm(config, outer),
            ]
        else:
            layers = [
                nn.LeakyReLU(0.2, True),
                down_conv,
                _norm(config, inner),
                inner_block,
                nn.ReLU(True),
                nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=bias),
                _norm(config, outer),
            ]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class ReferenceUnetGenerator(nn.Module):
    """U-Net with 7 (unet_128) or 8 (unet_256) halvings; input sides must be multiples of 2**levels."""

    def __init__(self, config: ReferenceConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.levels = 7 if config.arch == "unet_128" else 8
        block = ReferenceUnetBlock(config, 8 * c, 8 * c, None)  # innermost
        for _ in range(self.levels - 5):
            block = ReferenceUnetBlock(config, 8 * c, 8 * c, block, dropout=config.dropout)
        for outer in (4 * c, 2 * c, c):
            block = ReferenceUnetBlock(config, outer, 2 * outer, block)
        self.model = ReferenceUnetBlock(config, config.out_channels, c, block, in_channels=config.in_channels, outermost=True)

    @property
    def stride(self) -> int:
        return 2**self.levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _config_from_state(arch: str, state: dict[str, torch.Tensor]) -> ReferenceConfig:
    """Base width, channel counts, norm and dropout as the weights' shapes and names show them."""
    if arch.startswith("resnet"):
        blocks = 9 if arch == "resnet_9blocks" else 6
        first, last = state["model.1.weight"], state[f"model.{blocks + 17}.weight"]  # the 7×7 convs at both ends
        batch_norm = "model.2.weight" in state
        second_conv = state.get("model.10.conv_block.6.weight")
        dropout = second_conv is not None and second_conv.dim() == 4
        return ReferenceConfig(arch, first.shape[0], first.shape[1], last.shape[0], "batch" if batch_norm else "instance", dropout)
    first, last = state["model.model.0.weight"], state["model.model.3.weight"]
    batch_norm = "model.model.1.model.2.weight" in state
    return ReferenceConfig(arch, first.shape[0], first.shape[1], last.shape[1], "batch" if batch_norm else "instance")


def build_reference_generator(arch: str, state: dict[str, torch.Tensor]) -> nn.Module:
    """The reference network `arch` with the weights of `state`; raises ValueError when they do not fit it."""
    if arch not in REFERENCE_ARCHS:
        raise ValueError(f"unknown architecture {arch!r} (choose from {', '.join(REFERENCE_ARCHS)})")
    # Saved from DataParallel the keys start with "module."; PyTorch < 0.4 saved InstanceNorm running stats.
    state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        config = _config_from_state(arch, state)
    except KeyError as missing:
        raise ValueError(f"no weight {missing} that {arch} has (another architecture?)") from None
    network = (ReferenceResnetGenerator if arch.startswith("resnet") else ReferenceUnetGenerator)(config)
    if config.norm == "instance":
        stats = ("running_mean", "running_var", "num_batches_tracked")
        state = {k: v for k, v in state.items() if not k.endswith(stats)}
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        problem = str(error).strip().splitlines()[-1].strip()
        raise ValueError(f"weights do not fit {arch}: {problem[:200]}") from None
    return network
