"""Unconditional GANs on one image folder: DCGAN (convolutional) and the MLP GAN (fully connected, small images).

Both are the same optimisation (D learns to tell real images from G's, G learns to fool D) with different
networks, so one task serves both kinds; `kind` in the config picks the networks.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision.utils import make_grid

from vidgan.io.batches import to_uint8
from vidgan.models.cyclegan import DiscriminatorConfig
from vidgan.models.dcgan import DCGeneratorConfig
from vidgan.models.mlp_gan import MLPConfig
from vidgan.runs.folder import RunFolder
from vidgan.runs.generators import gan_networks
from vidgan.runs.kinds import model_kind
from vidgan.runs.plots import plot_score_histogram
from vidgan.training.data import ImageBank, diff_augment
from vidgan.training.launch import image_run_training_images, start_image_run
from vidgan.training.loop import TrainResult, eval_mode
from vidgan.training.losses import GRADIENT_PENALTY_WEIGHT, adversarial_loss, gradient_penalty
from vidgan.training.options import DCGANOptions, GANOptions, MLPGANOptions

SAMPLE_COUNT = 64  # images in each sample grid, from one fixed noise batch


class GANTask:
    """G: noise → image; D: image → score. `critic_steps` D updates, then one G update, per step."""

    def __init__(self, bank: ImageBank, arch: dict[str, Any], options: GANOptions, device: torch.device) -> None:
        """`options`: the run's dcgan or mlp-gan options (its loss, critic steps, DiffAugment, batch, Adam's rates
        and betas, and the seed of the grids' fixed noise); `arch`: the networks' configs (gan_networks)."""
        self.kind = options.kind
        self.arch = arch
        self.bank = bank
        self.loss = options.loss
        self.critic_steps = options.critic_steps
        self.diffaug = getattr(options, "diffaug", False)  # the mlp-gan has no DiffAugment option
        self.batch_size = options.batch_size
        lr_g, lr_d, betas = options.lr_g, options.lr_d, (options.beta1, options.beta2)
        generator, discriminator = gan_networks(arch)
        self.generator, self.discriminator = generator.to(device), discriminator.to(device)
        self.noise_dim = generator.config.noise_dim
        self.modules = {"generator": self.generator, "discriminator": self.discriminator}
        self.optimizers = {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=lr_g, betas=betas),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=lr_d, betas=betas),
        }
        # Own generator, seeded from the run's seed: the same noise after a resume, so grids stay comparable.
        noise_rng = torch.Generator().manual_seed(options.seed)
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


def train_dcgan(options: DCGANOptions) -> TrainResult:
    """Train a DCGAN on the image folder `options.data` into the run folder `options.out`."""
    return start_image_run(options, build_task)


def train_mlp_gan(options: MLPGANOptions) -> TrainResult:
    """Train the fully connected GAN on a folder of small images (e.g. 28×28 digits) into `options.out`."""
    return start_image_run(options, build_task)


def build_task(config: dict[str, Any], device: torch.device) -> GANTask:
    """The task a dcgan or mlp-gan run config describes."""
    options = model_kind(config["kind"]).options_type.from_config(config)
    size, image_channels = options.size, options.channels_in
    bank = ImageBank(image_run_training_images(options), device, options.aug)
    if isinstance(options, DCGANOptions):
        arch = {
            "generator": DCGeneratorConfig(size, options.noise_dim, options.channels, image_channels).to_dict(),
            "discriminator": DiscriminatorConfig(
                size=size, kind="dc", channels=options.channels, image_channels=image_channels, slope=options.slope
            ).to_dict(),
        }
    else:
        mlp = MLPConfig(size, image_channels, options.noise_dim, options.channels, options.dropout, options.slope)
        arch = {"mlp": mlp.to_dict()}
    return GANTask(bank, arch, options, device)
