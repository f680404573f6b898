"""CycleGAN apple ↔ orange."""

from _common import CYCLEGAN_FULL, CYCLEGAN_SMALL, experiment

from vidgan.training.options import CycleGANOptions

ex = experiment(__doc__, "cyclegan_fruits")
fruits = {"a_dir": ex.data / "fruits" / "apple", "b_dir": ex.data / "fruits" / "orange"}
ex.run_variants(
    CycleGANOptions,
    fruits,
    {"apple to orange": {}},
    small=CYCLEGAN_SMALL,
    full=CYCLEGAN_FULL,
)
