"""CycleGAN networks: ResNet or U-Net generators and patch or DC discriminators.

Shapes in comments are for the 64-px configuration with base width C (128 px adds one more
down-sampling and one more up-sampling stage).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from vidgan.models.arch import GENERATOR_KINDS, DiscriminatorConfig, GeneratorConfig, stages_to_4px


def _conv_norm_act(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel, stride, padding, padding_mode="reflect" if padding else "zeros"),
        nn.InstanceNorm2d(c_out, affine=True),
        nn.ReLU(inplace=True),
    ]


def _upsample_norm_act(c_in: int, c_out: int, upsample: str) -> list[nn.Module]:
    """Double the resolution: nearest + 3×3 convolution ("resize") or a transposed convolution."""
    if upsample == "transpose":
        return [
            nn.ConvTranspose2d(c_in, c_out, 3, 2, 1, output_padding=1),
            nn.InstanceNorm2d(c_out, affine=True),
            nn.ReLU(inplace=True),
        ]
    return [nn.Upsample(scale_factor=2, mode="nearest"), *_conv_norm_act(c_in, c_out, 3, 1, 1)]


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with a skip connection; keeps shape."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, padding_mode="reflect"),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, padding_mode="reflect"),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SelfAttention(nn.Module):
    """Self-attention over all positions of a feature map (SAGAN-style): x + gamma · attention(x); keeps shape.

    gamma starts at 0, so a new network begins as its convolutional self and learns how much global context to mix in.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.key_channels = max(1, channels // 8)
        self.query_key = nn.Conv2d(channels, 2 * self.key_channels, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries and keys (N × HW × C/8) and values (N × HW × C) of x's positions."""
        query, key = self.query_key(x).flatten(2).transpose(1, 2).split(self.key_channels, dim=2)
        return query, key, self.value(x).flatten(2).transpose(1, 2)

    def mix(self, x: torch.Tensor, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """x + gamma · the attention of x's queries over the given keys and values, which may come from a larger
        map than x (tiles attend to the whole frame's keys in any order of positions)."""
        n, c, h, w = x.shape
        mixed = F.scaled_dot_product_attention(query, key, value)  # N × hw × C
        return x + self.gamma * mixed.transpose(1, 2).reshape(n, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(x, *self.project(x))


def bottleneck_blocks(config: GeneratorConfig, channels: int) -> list[nn.Module]:
    """The generator's bottleneck: `res_blocks` residual blocks, then self-attention where the config asks for it."""
    blocks: list[nn.Module] = [ResidualBlock(channels) for _ in range(config.res_blocks)]
    return blocks + [SelfAttention(channels)] if config.attention else blocks


class ResnetGenerator(nn.Module):
    """Encoder → residual blocks → decoder; fully convolutional, so any size divisible by 2**downsamplings works."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        widths = [min(c * 2**i, 256) for i in range(config.downsamplings + 1)]  # e.g. C, 2C, 4C
        layers: list[nn.Module] = _conv_norm_act(config.image_channels, c, 7, 1, 3)  # C × 64 × 64
        for w_in, w_out in zip(widths, widths[1:]):
            layers += _conv_norm_act(w_in, w_out, 3, 2, 1)  # 2C × 32 × 32, then 4C × 16 × 16
        layers += bottleneck_blocks(config, widths[-1])  # 4C × 16 × 16
        for w_in, w_out in zip(widths[::-1], widths[::-1][1:]):
            layers += _upsample_norm_act(w_in, w_out, config.upsample)  # 2C × 32 × 32, then C × 64 × 64
        layers += [nn.Conv2d(c, config.image_channels, 7, 1, 3, padding_mode="reflect"), nn.Tanh()]  # 3 × 64 × 64
        self.net = nn.Sequential(*layers)

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this."""
        return 2**self.config.downsamplings

    def encoder_stages(self) -> list[nn.Module]:
        """The encoder in order (see `encoder_features`): the full-resolution stem, each stride-2 stage, each
        bottleneck block (residual blocks, then self-attention where configured)."""
        downs = self.config.downsamplings
        blocks = self.config.res_blocks + int(self.config.attention)
        return [self.net[3 * i : 3 * i + 3] for i in range(downs + 1)] + list(self.net[3 * downs + 3 : 3 * downs + 3 + blocks])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class UnetGenerator(nn.Module):
    """Encoder/decoder with skip connections: each decoder stage sees the encoder's features at its resolution."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        c, levels = config.channels, config.downsamplings
        widths = [min(c * 2**i, 256) for i in range(levels)]  # C, 2C at 32, 16 px (the 64 px default: 2 stages)
        self.down = nn.ModuleList([nn.Sequential(nn.Conv2d(config.image_channels, c, 4, 2, 1), nn.LeakyReLU(0.2))])
        for w_in, w_out in zip(widths, widths[1:]):
            self.down.append(
                nn.Sequential(nn.Conv2d(w_in, w_out, 4, 2, 1), nn.InstanceNorm2d(w_out, affine=True), nn.LeakyReLU(0.2))
            )
        # Residual blocks at the bottleneck widen what each output pixel sees without a deeper (more global) encoder.
        self.bottleneck = nn.Sequential(*bottleneck_blocks(config, widths[-1]))
        # Decoder stage i doubles the resolution; all but the last then concatenate the encoder's skip features.
        self.up = nn.ModuleList()
        for i in range(levels - 1, 0, -1):
            w_in = widths[i] if i == levels - 1 else 2 * widths[i]
            self.up.append(nn.Sequential(*_upsample_norm_act(w_in, widths[i - 1], config.upsample)))
        last_in = 2 * widths[0] if levels > 1 else widths[0]
        self.up.append(nn.Sequential(*_upsample_norm_act(last_in, c, config.upsample)))  # C × 64 × 64
        self.stem = None
        if config.full_res_skip:
            self.stem = nn.Sequential(nn.Conv2d(config.image_channels, c, 3, 1, 1, padding_mode="reflect"), nn.LeakyReLU(0.2))
        out_in = 2 * c if config.full_res_skip else c
        self.out = nn.Sequential(nn.Conv2d(out_in, config.image_channels, 3, 1, 1, padding_mode="reflect"), nn.Tanh())

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this."""
        return 2**self.config.downsamplings

    def encoder_stages(self) -> list[nn.Module]:
        """The encoder in order (see `encoder_features`): each stride-2 stage, then each bottleneck block (the
        full-resolution stem is a side branch, not part of it)."""
        return [*self.down, *self.bottleneck]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        full = None if self.stem is None else self.stem(x)  # C × 64 × 64
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        x = self.bottleneck(skips.pop())  # 2C × 16 × 16 (8C × 4 × 4 with 4 stages)
        for stage in self.up:
            x = stage(x)
            if skips:
                x = torch.cat([x, skips.pop()], dim=1)  # (C + C) × 32 × 32
        if full is not None:
            x = torch.cat([x, full], dim=1)  # (C + C) × 64 × 64
        return self.out(x)  # 3 × 64 × 64


def feature_taps(generator: nn.Module) -> list[str]:
    """The names of the submodules whose outputs are the generator's intermediate features, bottleneck first, then
    each decoder stage (for distillation, vidgan.training.distill): U-Net: `bottleneck` and each `up.i`; ResNet: its
    last bottleneck block and each decoder stage's activation. Two generators of one family and depth give lists of
    equal length whose features match in resolution; a bottleneck without blocks is left out."""
    if isinstance(generator, UnetGenerator):
        names = [f"up.{i}" for i in range(len(generator.up))]
        return ["bottleneck", *names] if len(generator.bottleneck) else names
    layers = list(generator.net)
    blocks = [i for i, layer in enumerate(layers) if isinstance(layer, (ResidualBlock, SelfAttention))]
    start = blocks[-1] if blocks else next(i for i, layer in enumerate(layers) if isinstance(layer, (nn.Upsample, nn.ConvTranspose2d)))
    decoder = [i for i, layer in enumerate(layers) if i > start and isinstance(layer, nn.ReLU)]
    return [f"net.{i}" for i in blocks[-1:] + decoder]


def encoder_features(generator: nn.Module, x: torch.Tensor, taps: tuple[int, ...]) -> list[torch.Tensor]:
    """The features of `x` at the encoder taps `taps` of a generator (either kind), for feature-level losses such as
    PatchNCE: tap 0 is `x` itself, tap i the output of `generator.encoder_stages()[i - 1]`; N × C_tap × H_tap × W_tap
    each, in the order of `taps`. Runs the encoder only as far as the deepest tap."""
    wanted = sorted(set(taps))
    if wanted and not 0 <= wanted[0] <= wanted[-1] <= len(generator.encoder_stages()):
        raise ValueError(f"encoder taps must be from 0 to {len(generator.encoder_stages())}, got {taps}")
    found = {0: x}
    for i, stage in enumerate(generator.encoder_stages()[: wanted[-1]] if wanted else [], start=1):
        x = stage(x)
        found[i] = x
    return [found[tap] for tap in taps]


def build_generator(config: GeneratorConfig) -> nn.Module:
    if config.kind not in GENERATOR_KINDS:
        raise ValueError(f"unknown generator kind {config.kind!r}")
    return {"resnet": ResnetGenerator, "unet": UnetGenerator}[config.kind](config)


def strided_conv_stack(
    image_channels: int, channels: int, stages: int, slope: float = 0.2, norm: bool = True
) -> tuple[list[nn.Module], int]:
    """Convolutions (kernel 4, stride 2, padding 1) with LeakyReLU, each halving the image and doubling the width
    (capped at 512); instance norm after all but the first unless `norm` is off. Returns the layers and the final width."""
    layers: list[nn.Module] = [nn.Conv2d(image_channels, channels, 4, 2, 1), nn.LeakyReLU(slope, inplace=True)]
    width = channels
    for _ in range(stages - 1):
        layers.append(nn.Conv2d(width, min(width * 2, 512), 4, 2, 1))
        if norm:
            layers.append(nn.InstanceNorm2d(min(width * 2, 512), affine=True))
        layers.append(nn.LeakyReLU(slope, inplace=True))
        width = min(width * 2, 512)
    return layers, width


def apply_spectral_norm(module: nn.Module) -> None:
    """Reparametrise every convolution's weight by its largest singular value (one power iteration per step)."""
    for layer in list(module.modules()):
        if isinstance(layer, nn.Conv2d):
            spectral_norm(layer)


class PatchDiscriminator(nn.Module):
    """PatchGAN: strided convolutions ending in a map of real/fake scores, one per overlapping patch."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        layers, width = strided_conv_stack(
            config.image_channels, config.channels, config.layers, config.slope, norm=not config.spectral_norm
        )
        # C × 32 × 32, 2C × 16 × 16, 4C × 8 × 8 with 3 layers; then 8C × 4 × 4 with 4 (train_cyclegan's default)
        self.net = nn.Sequential(*layers, nn.Conv2d(width, 1, 3, 1, 1))  # 1 × 8 × 8 scores (38-px patches); 1 × 4 × 4 (78-px)
        if config.spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DCDiscriminator(nn.Module):
    """DCGAN-style: halve the image down to 4×4, then a 4×4 convolution gives one score per image."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        stages = stages_to_4px(config.size)
        layers, width = strided_conv_stack(
            config.image_channels, config.channels, stages, config.slope, norm=not config.spectral_norm
        )
        # width × 4 × 4
        self.net = nn.Sequential(*layers, nn.Conv2d(width, 1, 4, 1, 0))  # 1 × 1 × 1
        if config.spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)  # N × 1


def build_discriminator(config: DiscriminatorConfig) -> nn.Module:
    return {"patch": PatchDiscriminator, "dc": DCDiscriminator}[config.kind](config)
