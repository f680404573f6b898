"""DCGAN on the grumpy cats: basic vs deluxe augmentation, each with and without DiffAugment (4 runs)."""

from _common import experiment

from vidgan.training.options import DCGANOptions

ex = experiment(__doc__, "dcgan_grumpy_augmentation")
variants = {
    aug + ("+diffaug" if diffaug else ""): {"aug": aug, "diffaug": diffaug} for aug in ("basic", "deluxe") for diffaug in (False, True)
}
ex.run_variants(
    DCGANOptions,
    {"data": ex.data / "cats" / "grumpy"},
    variants,
    small={"size": 32, "channels": 16, "batch_size": 16, "iters": 400},
    full={"size": 64, "channels": 32, "batch_size": 16, "iters": 6000},
)
