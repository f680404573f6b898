"""CycleGAN russian blue ↔ grumpy cats: ResNet generator vs U-Net generator."""

from _common import CYCLEGAN_FULL, CYCLEGAN_SMALL, experiment

from vidgan.training.options import CycleGANOptions

ex = experiment(__doc__, "cyclegan_resnet_vs_unet")
cats = {"a_dir": ex.data / "cats" / "russian_blue", "b_dir": ex.data / "cats" / "grumpy"}
ex.run_variants(
    CycleGANOptions,
    cats,
    {"resnet": {"gen": "resnet"}, "unet": {"gen": "unet", "downsamplings": 4, "res_blocks": 0}},
    small=CYCLEGAN_SMALL,
    full=CYCLEGAN_FULL,
)
