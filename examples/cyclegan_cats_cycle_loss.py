"""CycleGAN russian blue ↔ grumpy cats, with and without the cycle-consistency loss."""

from _common import CYCLEGAN_FULL, CYCLEGAN_SMALL, experiment

from vidgan.training.options import CycleGANOptions

ex = experiment(__doc__, "cyclegan_cats_cycle_loss")
cats = {"a_dir": ex.data / "cats" / "russian_blue", "b_dir": ex.data / "cats" / "grumpy"}
ex.run_variants(
    CycleGANOptions,
    cats,
    {"cycle loss": {"cycle_weight": 10.0}, "no cycle loss": {"cycle_weight": 0.0}},
    small=CYCLEGAN_SMALL,
    full=CYCLEGAN_FULL,
)
