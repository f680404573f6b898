"""CycleGAN apple ↔ orange."""

from _common import CYCLEGAN_FULL, CYCLEGAN_SMALL, experiment

from vidgan.training.cyclegan import train_cyclegan

ex = experiment(__doc__, "cyclegan_fruits")
fruits = (ex.data / "fruits" / "apple", ex.data / "fruits" / "orange")
ex.run_variants(train_cyclegan, fruits, {"apple to orange": {}}, small=CYCLEGAN_SMALL, full=CYCLEGAN_FULL)
