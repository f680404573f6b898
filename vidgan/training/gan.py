"""Unconditional GANs on one image folder: DCGAN (convolutional) and the MLP GAN (fully connected, small images).

Both are the same optimisation (D learns to tell real images from G's, G learns to fool D) with different
networks, so one task serves both kinds; `kind` in the config picks the networks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.utils import make_grid

from vidgan.core.errors import UsageError
from vidgan.models.cyclegan import DCDiscriminator, DiscriminatorConfig
from vidgan.models.dcgan import DCGenerator, DCGeneratorConfig
from vidgan.models.mlp_gan import MLPConfig, MLPDiscriminator, MLPGenerator
from vidgan.runs.folder import RunFolder
from vidgan.training.data import ImageBank, diff_augment, to_uint8
from vidgan.training.launch import (
    ImageModelOptions,
    image_run_training_images,
    power_of_two_size,
    start_image_run,
    takes_options,
)
from vidgan.training.loop import TrainResult, eval_mode
from vidgan.training.losses import (
    GAN_LOSSES,
    GRADIENT_PENALTY_WEIGHT,
    adversarial_loss,
    gradient_penalty,
)
from vidgan.training.plots import plot_score_histogram

SAMPLE_COUNT = 64  # images in each sample grid, from one fixed noise batch
WGAN_CRITIC_STEPS = 5  # default critic updates per generator update with wgan-gp (Gulrajani et al.)


class GANTask:
    """G: noise → image; D: image → score. `critic_steps` D updates, then one G update, per step."""

    def __init__(
        self,
        kind: str,
        bank: ImageBank,
        arch: dict[str, Any],
        *,
        loss: str,
        critic_steps: int,
        diffaug: bool,
        batch_size: int,
        lr_g: float,
        lr_d: float,
        betas: tuple[float, float],
        seed: int,
        device: torch.device,
    ) -> None:
        self.kind = kind
        self.arch = arch
        self.bank = bank
        self.loss = loss
        self.critic_steps = critic_steps
        self.diffaug = diffaug
        self.batch_size = batch_size
        generator, discriminator = build_networks(kind, arch)
        self.generator, self.discriminator = generator.to(device), discriminator.to(device)
        self.noise_dim = generator.config.noise_dim
        self.modules = {"generator": self.generator, "discriminator": self.discriminator}
        self.optimizers = {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=lr_g, betas=betas),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=lr_d, betas=betas),
        }
        # Own generator, seeded from the run's seed: the same noise after a resume, so grids stay comparable.
        noise_rng = torch.Generator().manual_seed(seed)
        self.fixed_noise = torch.randn(SAMPLE_COUNT, self.noise_dim, generator=noise_rng).to(device)
        self.fixed_real = bank.fixed(SAMPLE_COUNT)

    def _judge(self, images: torch.Tensor) -> torch.Tensor:
        """D's scores; with DiffAugment every D input, real or generated, in the D and the G step, is augmented."""
        return self.discriminator(diff_augment(images) if self.diffaug else images)

    def _noise(self, count: int) -> torch.Tensor:
        return torch.randn(count, self.noise_dim, device=self.fixed_noise.device)

    def train_step(self, step: int, total_steps: int) -> dict[str, torch.Tensor]:
        # 1. Discriminator (the critic, for WGAN-GP): real images towards "real", generated ones towards "fake".
        self.discriminator.requires_grad_(True)
        for _ in range(self.critic_steps):
            real = self.bank.batch(self.batch_size)
            with torch.no_grad():
                fake = self.generator(self._noise(self.batch_size))
            loss_real = adversarial_loss(self.loss, self._judge(real), True)
            loss_fake = adversarial_loss(self.loss, self._judge(fake), False)
            loss_d = loss_real + loss_fake
            if self.loss == "wgan-gp":
                penalty = gradient_penalty(self._judge, real, fake)
                loss_d = loss_d + GRADIENT_PENALTY_WEIGHT * penalty
            self.optimizers["discriminator"].zero_grad(set_to_none=True)
            loss_d.backward()
            self.optimizers["discriminator"].step()

        # 2. Generator: make D score its images as real.
        self.discriminator.requires_grad_(False)
        loss_g = adversarial_loss(self.loss, self._judge(self.generator(self._noise(self.batch_size))), True)
        self.optimizers["generator"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimizers["generator"].step()

        losses = {"d_real": loss_real, "d_fake": loss_fake, "g": loss_g}
        if self.loss == "wgan-gp":
            losses["gp"] = penalty
        return {name: value.detach() for name, value in losses.items()}

    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        """G's images from the same fixed noise batch every time, 8 per row."""
        with eval_mode(self.generator):
            return make_grid(to_uint8(self.generator(self.fixed_noise)), nrow=8, padding=2)

    @torch.no_grad()
    def on_sample(self, run: RunFolder, step: int) -> None:
        """Histogram of D's outputs on fixed real images vs G's images from the fixed noise (histograms/)."""
        with eval_mode(self.generator, self.discriminator):
            real = self.discriminator(self.fixed_real)
            fake = self.discriminator(self.generator(self.fixed_noise))
        if self.loss == "bce":  # D's logits → its probability that the image is real
            real, fake, label = real.sigmoid(), fake.sigmoid(), "D(x): probability of real"
        else:
            label = "D(x): score"
        plot_score_histogram(real, fake, run.histogram_path(step), title=f"{self.kind}, step {step}", xlabel=label)


def build_networks(kind: str, arch: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """G and D of a dcgan or mlp-gan run from its architecture record."""
    if kind == "dcgan":
        return DCGenerator(DCGeneratorConfig(**arch["generator"])), DCDiscriminator(DiscriminatorConfig(**arch["discriminator"]))
    mlp = MLPConfig(**arch["mlp"])
    return MLPGenerator(mlp), MLPDiscriminator(mlp)


def load_sampler(checkpoint: dict[str, Any]) -> nn.Module:
    """The trained generator of a dcgan or mlp-gan checkpoint: N × noise_dim → images."""
    generator, _ = build_networks(checkpoint["kind"], checkpoint["arch"])
    generator.load_state_dict(checkpoint["models"]["generator"])
    return generator


@dataclass(frozen=True)
class GANOptions(ImageModelOptions):
    """The options both GAN kinds take, with the same defaults, besides those of every one-folder model."""

    noise_dim: int = 100
    loss: str = "bce"
    critic_steps: int | None = None  # D updates per G update; None: WGAN_CRITIC_STEPS with wgan-gp, else 1
    slope: float = 0.2  # LeakyReLU negative slope
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5


@takes_options(GANOptions)
def train_dcgan(
    data: Path,
    out: Path,
    *,
    size: int | None = None,
    channels: int = 32,
    aug: str = "basic",
    diffaug: bool = False,
    batch_size: int = 16,
    **options: Any,
) -> TrainResult:
    """Train a DCGAN on one image folder into the run folder `out`; `options` are any of GANOptions."""
    size = power_of_two_size(size, data, "dcgan")
    own = {"size": size, "channels": channels, "aug": aug, "diffaug": diffaug, "batch_size": batch_size}
    return _start("dcgan", data, out, own, GANOptions(**options))


@takes_options(GANOptions)
def train_mlp_gan(
    data: Path,
    out: Path,
    *,
    size: int = 28,
    channels: int = 256,
    aug: str = "none",
    dropout: float = 0.3,
    batch_size: int = 64,
    **options: Any,
) -> TrainResult:
    """Train the fully connected GAN on one folder of small images (e.g. 28×28 digits) into `out`; `options` are
    any of GANOptions."""
    if not 4 <= size <= 128:
        raise UsageError(f"--size must be from 4 to 128 px for mlp-gan, got {size}")
    if not 0 <= dropout < 1:
        raise UsageError(f"--dropout must be in [0, 1), got {dropout}")
    if batch_size == 1:
        raise UsageError("--batch-size must be at least 2 for mlp-gan (its batch norm needs two images)")
    own = {"size": size, "channels": channels, "aug": aug, "dropout": dropout, "batch_size": batch_size}
    return _start("mlp-gan", data, out, own, GANOptions(**options))


def _start(kind: str, data: Path, out: Path, own: dict[str, Any], options: GANOptions) -> TrainResult:
    """Checks and defaults shared by both GAN kinds, then a new run."""
    if options.loss not in GAN_LOSSES:
        raise UsageError(f"--loss must be one of {', '.join(GAN_LOSSES)}, got {options.loss!r}")
    if options.critic_steps is None:
        options = replace(options, critic_steps=WGAN_CRITIC_STEPS if options.loss == "wgan-gp" else 1)
    if options.critic_steps < 1:
        raise UsageError(f"--critic-steps must be at least 1, got {options.critic_steps}")
    return start_image_run(kind, data, out, own, options, build_task)


def build_task(config: dict[str, Any], device: torch.device) -> GANTask:
    """The task a dcgan or mlp-gan run config describes."""
    kind, size, image_channels = config["kind"], config["size"], config["channels_in"]
    bank = ImageBank(image_run_training_images(config), device, config["aug"])
    if kind == "dcgan":
        arch = {
            "generator": DCGeneratorConfig(size, config["noise_dim"], config["channels"], image_channels).to_dict(),
            "discriminator": DiscriminatorConfig(
                size=size, kind="dc", channels=config["channels"], image_channels=image_channels, slope=config["slope"]
            ).to_dict(),
        }
    else:
        mlp = MLPConfig(size, image_channels, config["noise_dim"], config["channels"], config["dropout"], config["slope"])
        arch = {"mlp": mlp.to_dict()}
    return GANTask(
        kind,
        bank,
        arch,
        loss=config["loss"],
        critic_steps=config["critic_steps"],
        diffaug=config.get("diffaug", False),  # mlp-gan runs have no DiffAugment option
        batch_size=config["batch_size"],
        lr_g=config["lr_g"],
        lr_d=config["lr_d"],
        betas=(config["beta1"], config["beta2"]),
        seed=config["seed"],
        device=device,
    )
