"""What the networks are, without torch: architecture choices, size arithmetic and the config dataclasses that
checkpoints and run configs record, so that options can be listed and checked (and the CLI loaded) without torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass


def default_channels(size: int) -> int:
    """Base width: 32 at 64 px, 64 at 128 px (the larger image gets the wider network)."""
    return 32 if size <= 64 else 64


def default_downsamplings(size: int) -> int:
    """Stride-2 stages in the generator's encoder: 2 at 64 px, 3 at 128 px, so the bottleneck is 16×16."""
    return 2 if size <= 64 else 3


def deepest_downsamplings(size: int) -> int:
    """The most stride-2 stages a size-px image allows: down to 4×4 (64 px → 4, 128 px → 5)."""
    return max(1, size.bit_length() - 3)


GENERATOR_KINDS = ("unet", "resnet")
DISCRIMINATOR_KINDS = ("patch", "dc")
UPSAMPLINGS = ("resize", "transpose")  # nearest + 3×3 convolution, or a transposed convolution
# Sides a DCGAN generator (and the VAE's decoder, the same network) can make: 4 px doubled 2 to 5 times.
POWER_OF_TWO_SIZES = (16, 32, 64, 128)


@dataclass(frozen=True)
class GeneratorConfig:
    size: int = 64
    channels: int = 32
    res_blocks: int = 6  # residual blocks at the bottleneck, for either kind
    downsamplings: int = 2
    upsample: str = "resize"  # "resize" (nearest + conv, no checkerboards) or "transpose"
    image_channels: int = 3
    kind: str = "resnet"  # "resnet" or "unet"; checkpoints from before U-Nets lack the field and load as ResNets
    # U-Net only: features of the input at full resolution join the last decoder stage, so fine detail need not
    # squeeze through the first stride-2 stage. Checkpoints from before the field load without it.
    full_res_skip: bool = False
    # Self-attention after the bottleneck's residual blocks: every bottleneck position can draw on every other one,
    # so the generator sees the whole face, not a window of it. Checkpoints from before the field load without it.
    attention: bool = False

    @classmethod
    def for_size(
        cls,
        size: int,
        channels: int | None = None,
        res_blocks: int = 6,
        kind: str = "resnet",
        downsamplings: int | None = None,
        **kwargs,
    ) -> GeneratorConfig:
        return cls(
            size=size,
            channels=channels or default_channels(size),
            res_blocks=res_blocks,
            downsamplings=downsamplings or default_downsamplings(size),
            kind=kind,
            **kwargs,
        )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DiscriminatorConfig:
    size: int = 64
    kind: str = "patch"  # "patch": a map of real/fake scores; "dc": one score per image
    channels: int = 64
    layers: int = 3
    image_channels: int = 3
    slope: float = 0.2  # LeakyReLU negative slope
    # Spectral norm on every convolution (Miyato et al. 2018) in place of instance norm: caps D's Lipschitz
    # constant so its gradients to G stay informative. Checkpoints from before the field load without it.
    spectral_norm: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def stages_to_4px(size: int) -> int:
    """Stride-2 stages that take a size-px image down to 4×4: 64 px → 4, 128 px → 5."""
    return max(1, (size // 4).bit_length() - 1)
