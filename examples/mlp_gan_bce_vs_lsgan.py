"""Fully connected GAN on 28×28 grayscale images, BCE vs LSGAN loss; D-score histograms land in each run's
histograms/. With a digits/ folder (28×28 digit images) under --data it trains on digits; without one it uses
the grumpy cats, converted to 28×28 grey."""

from _common import experiment

from vidgan.training.options import MLPGANOptions

ex = experiment(__doc__, "mlp_gan_bce_vs_lsgan")
images = ex.data / "digits" if (ex.data / "digits").is_dir() else ex.data / "cats" / "grumpy"
ex.run_variants(
    MLPGANOptions,
    {"data": images},
    {loss: {"loss": loss, "size": 28, "channels_in": 1} for loss in ("bce", "lsgan")},
    small={"channels": 128, "batch_size": 64, "iters": 600},
    full={"channels": 256, "batch_size": 64, "iters": 20000},
)
