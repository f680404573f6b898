"""Variational autoencoder on one image folder: reconstruction + KL loss; samples by decoding random latents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import make_grid

from vidgan.core.errors import UsageError
from vidgan.models.vae import VAE, VAEConfig
from vidgan.training.data import ImageBank, to_uint8
from vidgan.training.launch import (
    ImageModelOptions,
    image_run_training_images,
    power_of_two_size,
    start_image_run,
    takes_options,
)
from vidgan.training.loop import TrainResult, eval_mode

KIND = "vae"
SAMPLE_COLUMNS = 8


class VAETask:
    """Encode, sample the latent with the reparameterisation trick, decode; loss = reconstruction + kl_weight · KL."""

    kind = KIND

    def __init__(
        self,
        bank: ImageBank,
        config: VAEConfig,
        *,
        kl_weight: float,
        batch_size: int,
        lr: float,
        betas: tuple[float, float],
        seed: int,
        device: torch.device,
    ) -> None:
        self.bank = bank
        self.kl_weight = kl_weight
        self.batch_size = batch_size
        self.arch = {"vae": config.to_dict()}
        self.vae = VAE(config).to(device)
        self.modules = {"vae": self.vae}
        self.optimizers = {"vae": torch.optim.Adam(self.vae.parameters(), lr=lr, betas=betas)}
        self.fixed_inputs = bank.fixed(SAMPLE_COLUMNS)
        noise_rng = torch.Generator().manual_seed(seed)  # the same latents after a resume
        self.fixed_noise = torch.randn(2 * len(self.fixed_inputs), config.latent_dim, generator=noise_rng).to(device)

    def train_step(self, step: int, total_steps: int) -> dict[str, torch.Tensor]:
        images = self.bank.batch(self.batch_size)
        reconstruction, mean, log_var = self.vae(images)
        count = images.shape[0]
        # Sums over pixels and latent dimensions, averaged over the batch: the ELBO's two terms on the same scale.
        loss_reconstruction = F.mse_loss(reconstruction, images, reduction="sum") / count
        loss_kl = -0.5 * torch.sum(1 + log_var - mean.square() - log_var.exp()) / count
        loss = loss_reconstruction + self.kl_weight * loss_kl
        self.optimizers["vae"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["vae"].step()
        return {"recon": loss_reconstruction.detach(), "kl": loss_kl.detach()}

    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        """Row 1: fixed inputs; row 2: their reconstructions (from the mean latent); rows 3–4: decoded fixed noise."""
        with eval_mode(self.vae):
            mean, _ = self.vae.encode(self.fixed_inputs)
            rows = [self.fixed_inputs, self.vae.decoder(mean), self.vae.decoder(self.fixed_noise)]
        return make_grid(to_uint8(torch.cat(rows)), nrow=len(self.fixed_inputs), padding=2)


def load_sampler(checkpoint: dict[str, Any]) -> nn.Module:
    """The trained decoder of a vae checkpoint: N × latent_dim → images."""
    vae = VAE(VAEConfig(**checkpoint["arch"]["vae"]))
    vae.load_state_dict(checkpoint["models"]["vae"])
    return vae.decoder


@takes_options(ImageModelOptions)
def train_vae(
    data: Path,
    out: Path,
    *,
    size: int | None = None,
    channels: int = 32,
    noise_dim: int = 64,
    kl_weight: float = 1.0,
    aug: str = "mirror",
    lr: float = 1e-3,
    beta1: float = 0.9,
    batch_size: int = 32,
    **options: Any,
) -> TrainResult:
    """Train a VAE on one image folder into the run folder `out`; `noise_dim` is the latent size; `options` are any
    of ImageModelOptions."""
    size = power_of_two_size(size, data, KIND)
    if kl_weight < 0:
        raise UsageError(f"--kl-weight must be 0 or more, got {kl_weight}")
    own = {
        "size": size, "channels": channels, "noise_dim": noise_dim, "kl_weight": kl_weight,
        "aug": aug, "lr": lr, "beta1": beta1, "batch_size": batch_size,
    }
    return start_image_run(KIND, data, out, own, ImageModelOptions(**options), build_task)


def build_task(config: dict[str, Any], device: torch.device) -> VAETask:
    size, image_channels = config["size"], config["channels_in"]
    return VAETask(
        ImageBank(image_run_training_images(config), device, config["aug"]),
        VAEConfig(size, image_channels, config["channels"], config["noise_dim"]),
        kl_weight=config["kl_weight"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        betas=(config["beta1"], config["beta2"]),
        seed=config["seed"],
        device=device,
    )
