"""Variational autoencoder on one image folder: reconstruction + KL loss; samples by decoding random latents."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchvision.utils import make_grid

from vidgan.io.batches import to_uint8
from vidgan.models.vae import VAE, VAEConfig
from vidgan.training.data import ImageBank
from vidgan.training.launch import image_run_training_images, start_image_run
from vidgan.training.loop import TrainResult, eval_mode
from vidgan.training.options import VAEOptions

SAMPLE_COLUMNS = 8


class VAETask:
    """Encode, sample the latent with the reparameterisation trick, decode; loss = reconstruction + kl_weight · KL."""

    kind = VAEOptions.kind

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


def train_vae(options: VAEOptions) -> TrainResult:
    """Train a VAE on the image folder `options.data` into the run folder `options.out`."""
    return start_image_run(options, build_task)


def build_task(config: dict[str, Any], device: torch.device) -> VAETask:
    """The task a vae run config describes."""
    options = VAEOptions.from_config(config)
    return VAETask(
        ImageBank(image_run_training_images(options), device, options.aug),
        VAEConfig(options.size, options.channels_in, options.channels, options.noise_dim),
        kl_weight=options.kl_weight,
        batch_size=options.batch_size,
        lr=options.lr,
        betas=(options.beta1, options.beta2),
        seed=options.seed,
        device=device,
    )
