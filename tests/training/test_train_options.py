"""Training options: one typed object per job, the `vidgan train MODEL` commands built from them, and every numeric
option refusing what is no sensible number before any work starts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BAD_NUMBERS, REPO_ROOT, assert_clean_failure, numeric_options
from PIL import Image

from vidgan.core.errors import UsageError
from vidgan.runs.kinds import TWO_DOMAINS, kind_names, model_kind
from vidgan.training.options import CycleGANOptions, DCGANOptions, MLPGANOptions, VAEOptions

MODELS = kind_names()  # vidgan's own kinds, at collection

# The numeric options whose 0 means something (off, none, a seed, the first step); every other one refuses 0.
ZERO_MEANS = {
    "--seed", "--res-blocks", "--ema", "--cycle-weight", "--identity-weight", "--temporal-weight", "--pool", "--lr-decay-from",
    "--beta1", "--beta2", "--holdout", "--slope", "--dropout", "--kl-weight", "--recon-weight", "--feature-weight", "--gan-weight",
}  # fmt: skip
# The numeric options every kind has, and those of the kinds that train networks of their own size.
SHARED = {"--iters", "--batch-size", "--seed", "--minutes"}
SIZED = {"--holdout", "--size", "--channels"}


@pytest.fixture(scope="module")
def train_data(tmp_path_factory) -> dict[str, Path]:
    """DATA for each model: a folder with a/ and b/ for the kinds that translate, one image folder for the others."""
    root = tmp_path_factory.mktemp("data")
    for domain, colour in (("a", (200, 30, 30)), ("b", (30, 30, 200))):
        (root / domain).mkdir()
        for i in range(2):
            Image.new("RGB", (64, 64), tuple(c + i for c in colour)).save(root / domain / f"{i}.png")
    return {model: root if model_kind(model).data == TWO_DOMAINS else root / "a" for model in MODELS}


def test_the_cli_loads_without_torch():
    code = "import sys, vidgan.cli; assert 'torch' not in sys.modules, 'vidgan.cli imported torch'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("model", MODELS)
def test_every_numeric_option_refuses_bad_numbers_before_any_work(model, train_data, run_cli, tmp_path):
    taken = tmp_path / "taken"  # a run folder that holds a run: where a command whose options all pass stops
    (taken / "checkpoints").mkdir(parents=True)
    (taken / "checkpoints" / "latest.pt").touch()
    flags = numeric_options("train", model)
    # a distilled run takes its size, images and split from its teacher, and sets its width
    assert SHARED | ({"--width"} if model == "distill" else SIZED) <= set(flags)
    for flag in flags:
        for value in BAD_NUMBERS:
            if value == "0" and flag in ZERO_MEANS:
                done = run_cli("train", model, train_data[model], flag, value, "--out", taken)
                assert_clean_failure(done, "already has checkpoints", code=2)  # 0 passed the checks
                continue
            done = run_cli("train", model, train_data[model], flag, value, "--out", tmp_path / "run")
            assert_clean_failure(done, flag, code=2)
            assert not (tmp_path / "run").exists(), (flag, value)


def test_each_model_command_shows_its_own_options_and_their_defaults(run_cli):
    helps = {}
    for model in MODELS:
        done = run_cli("train", model, "--help")
        assert done.code == 0, done.stderr
        helps[model] = " ".join(done.stdout.split())
    assert "Training steps. [default: 10000]" in helps["cyclegan"] and "Training steps. [default: 5000]" in helps["vae"]
    assert "[default: deluxe]" in helps["cyclegan"] and "[default: mirror]" in helps["vae"] and "[default: basic]" in helps["dcgan"]
    assert "Adam beta1. [default: 0.9]" in helps["vae"] and "Adam beta1. [default: 0.5]" in helps["dcgan"]
    assert "--pool" in helps["cyclegan"] and not any("--pool" in helps[m] for m in ("dcgan", "mlp-gan", "vae"))
    assert "--kl-weight" in helps["vae"] and "--kl-weight" not in helps["dcgan"] and "--dropout" in helps["mlp-gan"]
    assert "unet|resnet" in helps["cyclegan"] and "bce|lsgan|wgan-gp" in helps["dcgan"]  # choices from the library's constants
    legacy = run_cli("train", "--model", "vae", "--help")  # the older spelling shows the same command
    assert " ".join(legacy.stdout.split()) == helps["vae"]


def test_options_survive_the_run_config_and_check_themselves():
    cases = [
        CycleGANOptions(a_dir=Path("/x/a"), b_dir=Path("/x/b"), out=Path("run"), crop=64, lr_g=1e-3, gen="resnet"),
        DCGANOptions(data=Path("/x"), loss="wgan-gp", size=32),
        MLPGANOptions(data=Path("/x"), dropout=0.0),
        VAEOptions(data=Path("/x"), kl_weight=0.5, minutes=2.5),
    ]
    for options in cases:
        options.validate()
        config = json.loads(json.dumps(options.to_config()))
        assert type(options).from_config(config) == options and model_kind(options.kind).options_type is type(options)
    with pytest.raises(UsageError, match=r"--lr must be above 0, got nan"):
        VAEOptions(data=Path("/x"), lr=float("nan")).validate()
    with pytest.raises(UsageError, match=r"--beta2 must be from 0 to below 1, got 1.0"):
        DCGANOptions(data=Path("/x"), beta2=1.0).validate()
    with pytest.raises(UsageError, match=r"--crop 64 trains the networks at 64 px; leave out --size 128"):
        CycleGANOptions(a_dir=Path("a"), b_dir=Path("b"), crop=64, size=128).validate()
    resolved = CycleGANOptions(a_dir=Path("a"), b_dir=Path("b")).resolved(None)
    assert (resolved.size, resolved.channels, resolved.downsamplings, resolved.full_res_skip, resolved.disc_layers) == (128, 64, 3, True, 4)
    resolved = DCGANOptions(data=Path("/x"), loss="wgan-gp").resolved(None, 1)
    assert (resolved.size, resolved.channels_in, resolved.critic_steps) == (64, 1, 5)
