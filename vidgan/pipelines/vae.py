"""Variational autoencoder on one image folder: reconstruction + KL loss; samples by decoding random latents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import make_grid

from vidgan.data import ImageBank, load_image_folder, to_uint8
from vidgan.errors import UsageError
from vidgan.images import detect_image_size, resolve_channels
from vidgan.models.dcgan import SIZES
from vidgan.models.vae import VAE, VAEConfig
from vidgan.pipelines.launch import start_training
from vidgan.training import TrainResult, eval_mode

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


def train_vae(
    data: Path,
    out: Path,
    *,
    size: int | None = None,
    channels_in: int | None = None,
    channels: int = 32,
    noise_dim: int = 64,
    kl_weight: float = 1.0,
    aug: str = "mirror",
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    batch_size: int = 32,
    iters: int = 5000,
    seed: int = 0,
    device: str = "auto",
    sample_every: int = 500,
    checkpoint_every: int = 1000,
    minutes: float | None = None,
    quiet: bool = False,
) -> TrainResult:
    """Train a VAE on one image folder into the run folder `out`; `noise_dim` is the latent size."""
    config = dict(locals())
    config["size"] = size = size or detect_image_size(data) or 64
    if size not in SIZES:
        raise UsageError(f"--size must be one of {', '.join(map(str, SIZES))} for vae, got {size}")
    config["channels_in"] = resolve_channels(channels_in, data)
    if kl_weight < 0:
        raise UsageError(f"--kl-weight must be 0 or more, got {kl_weight}")
    config.update(kind=KIND, data=str(Path(data).resolve()), out=str(out))
    return start_training(config, build_task, device=device, quiet=quiet)


def build_task(config: dict[str, Any], device: torch.device) -> VAETask:
    size, image_channels = config["size"], config["channels_in"]
    return VAETask(
        ImageBank(load_image_folder(config["data"], size, image_channels), device, config["aug"]),
        VAEConfig(size, image_channels, config["channels"], config["noise_dim"]),
        kl_weight=config["kl_weight"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        betas=(config["beta1"], config["beta2"]),
        seed=config["seed"],
        device=device,
    )
