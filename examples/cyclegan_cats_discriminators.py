"""CycleGAN russian blue ↔ grumpy cats: PatchGAN discriminator vs a DCGAN-style one (one score per image)."""

from _common import CYCLEGAN_FULL, CYCLEGAN_SMALL, experiment

from vidgan.training.cyclegan import train_cyclegan

ex = experiment(__doc__, "cyclegan_cats_discriminators")
cats = (ex.data / "cats" / "russian_blue", ex.data / "cats" / "grumpy")
ex.run_variants(train_cyclegan, cats, {"patch": {"disc": "patch"}, "dc": {"disc": "dc", "disc_layers": None}}, small=CYCLEGAN_SMALL, full=CYCLEGAN_FULL)
