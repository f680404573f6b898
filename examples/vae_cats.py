"""Convolutional VAE on the russian blue cats: grids show inputs, reconstructions, then random samples;
walks.png shows rows of latent interpolations."""

from _common import experiment

from vidgan.render.sample import sample_images
from vidgan.training.options import VAEOptions

ex = experiment(__doc__, "vae_cats")
runs = ex.run_variants(
    VAEOptions,
    {"data": ex.data / "cats" / "russian_blue"},
    {"inputs / reconstructions / samples": {}},
    small={"size": 32, "channels": 16, "iters": 400},
    full={"size": 64, "channels": 32, "iters": 10000},
)
sample_images(runs["inputs / reconstructions / samples"], ex.out / "walks.png", count=32, interpolate=True, device=ex.device)
