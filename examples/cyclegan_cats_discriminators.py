"""CycleGAN russian blue ↔ grumpy cats: PatchGAN discriminator vs a DCGAN-style one (one score per image)."""

from _common import CYCLEGAN_FULL, CYCLEGAN_SMALL, experiment

from vidgan.training.options import CycleGANOptions

ex = experiment(__doc__, "cyclegan_cats_discriminators")
cats = {"a_dir": ex.data / "cats" / "russian_blue", "b_dir": ex.data / "cats" / "grumpy"}
ex.run_variants(
    CycleGANOptions,
    cats,
    {"patch": {"disc": "patch"}, "dc": {"disc": "dc", "disc_layers": None}},
    small=CYCLEGAN_SMALL,
    full=CYCLEGAN_FULL,
)
