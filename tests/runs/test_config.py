"""Run configs of older vidgan versions brought to the current form (vidgan.runs.config.upgrade_config)."""

from pathlib import Path

from vidgan.models.arch import DiscriminatorConfig, GeneratorConfig
from vidgan.runs.config import upgrade_config, written_by
from vidgan.training.options import CycleGANOptions, DCGANOptions

# A CycleGAN config as the first vidgan wrote it: the options it had, no version record.
FIRST = {
    "a_dir": "/data/a", "b_dir": "/data/b", "out": "run", "size": 64, "channels": 32, "res_blocks": 6, "disc": "patch",
    "cycle_weight": 10.0, "identity_weight": 0.0, "aug": "mirror", "diffaug": False, "lr": 2e-4, "beta1": 0.5,
    "beta2": 0.999, "batch_size": 4, "iters": 10000, "seed": 0, "device": "auto", "sample_every": 500,
    "checkpoint_every": 1000, "quiet": False,
}  # fmt: skip


def test_a_config_from_before_the_version_record_gets_the_options_its_run_trained_with():
    config = upgrade_config(FIRST)
    assert written_by(FIRST) == (0, 0, 0)
    assert (config["kind"], config["gen"]) == ("cyclegan", "resnet") and (config["ema"], config["pool"], config["holdout"]) == (0.0, 0, 0.0)
    assert config["generator"] == GeneratorConfig(size=64, channels=32, res_blocks=6, downsamplings=2, kind="resnet").to_dict()
    assert config["discriminator"] == DiscriminatorConfig(size=64, kind="patch", channels=64, layers=3).to_dict()
    assert (config["working_scale"], config["crop"], config["disc_layers"], config["disc_channels"]) == (64, None, 3, 64)
    options = CycleGANOptions.from_config(config)
    options.validate()
    assert options.a_dir == Path("/data/a") and options.lr_g is None and options.diffaug_policy == "color,translation,cutout"


def test_unet_runs_from_before_the_generator_record_get_the_unet_of_then():
    config = upgrade_config({**FIRST, "gen": "unet", "versions": {"vidgan": "0.1.0"}})
    assert config["generator"]["kind"] == "unet" and config["generator"]["res_blocks"] == 0  # whatever --res-blocks said
    assert config["generator"]["downsamplings"] == config["downsamplings"] == 4  # down to 4x4


def test_each_version_fills_only_what_it_did_not_record():
    current = CycleGANOptions(a_dir=Path("/a"), b_dir=Path("/b"), disc="dc").resolved(64)
    config = {**current.to_config(), "kind": "cyclegan", "generator": current.generator().to_dict(),
              "discriminator": current.discriminator().to_dict(), "working_scale": 64, "data_folders": {"a_dir": "../a"},
              "versions": {"vidgan": "0.6.0"}}  # fmt: skip
    assert upgrade_config(config) == config
    assert upgrade_config({k: v for k, v in config.items() if k != "data_folders"})["data_folders"] == {}  # absolute only
    before = {k: v for k, v in config.items() if k not in ("discriminator", "working_scale", "crop")}
    old_dc = upgrade_config({**before, "disc_layers": 4, "versions": {"vidgan": "0.5.0"}})
    assert old_dc["disc_layers"] is None and old_dc["working_scale"] == 64 and old_dc["crop"] is None  # 0.5 recorded 4 for dc too
    # `train --resume --iters` before 0.6 restamped config.json with its own version but added no keys.
    restamped = upgrade_config({**FIRST, "versions": {"vidgan": "0.4.0"}})
    assert written_by({**FIRST, "versions": {"vidgan": "0.4.0"}}) == (0, 1, 0) and restamped["disc_layers"] == 3


def test_image_runs_from_before_held_out_splits_train_on_every_image():
    dcgan = DCGANOptions(data=Path("/d")).resolved(64, 3).to_config()
    old = {k: v for k, v in dcgan.items() if k not in ("holdout", "minutes")}
    config = upgrade_config({**old, "kind": "dcgan", "versions": {"vidgan": "0.1.0"}})
    assert (config["holdout"], config["minutes"]) == (0.0, None) and "pool" not in config
    assert DCGANOptions.from_config(config).holdout == 0.0
