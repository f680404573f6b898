"""CycleGAN russian blue ↔ grumpy cats, with and without the cycle-consistency loss."""

from _common import CYCLEGAN_FULL, CYCLEGAN_SMALL, experiment

from vidgan.training.cyclegan import train_cyclegan

ex = experiment(__doc__, "cyclegan_cats_cycle_loss")
cats = (ex.data / "cats" / "russian_blue", ex.data / "cats" / "grumpy")
ex.run_variants(train_cyclegan, cats, {"cycle loss": {"cycle_weight": 10.0}, "no cycle loss": {"cycle_weight": 0.0}}, small=CYCLEGAN_SMALL, full=CYCLEGAN_FULL)
