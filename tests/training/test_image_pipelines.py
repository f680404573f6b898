"""Image pipelines end to end on tiny runs: train (every kind) → resume → sample / translate, plots and GIF,
and the usage errors of `vidgan train --model …`, `sample`, `translate` and `plot`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA, assert_clean_failure
from PIL import Image

from vidgan.core.errors import UsageError, VidganError
from vidgan.render.options import TranslateOptions
from vidgan.render.sample import sample_images
from vidgan.render.translate import translate_folder
from vidgan.runs.folder import RunFolder
from vidgan.runs.options import RunFolderOptions
from vidgan.runs.plots import plot_run
from vidgan.training.gan import train_dcgan, train_mlp_gan
from vidgan.training.launch import resume_training, train
from vidgan.training.options import CycleGANOptions, DCGANOptions, MLPGANOptions, VAEOptions
from vidgan.training.vae import train_vae

CATS = SHARED_DATA / "cats"
TINY = {"iters": 2, "sample_every": 1, "checkpoint_every": 2, "batch_size": 2, "device": "cpu", "quiet": True}


def _few_images(source: Path, folder: Path, count: int, *, grey: bool = False) -> Path:
    """A small copy of a shared image folder (optionally converted to grayscale) in the test's tmp dir."""
    folder.mkdir(parents=True)
    for path in sorted(source.iterdir())[:count]:
        if grey:
            Image.open(path).convert("L").resize((28, 28)).save(folder / path.name)
        else:
            shutil.copy(path, folder / path.name)
    return folder


def _assert_plots(run_dir: Path, samples: int) -> None:
    with Image.open(run_dir / "losses.png") as plot:
        assert plot.format == "PNG" and plot.width > 100
    with Image.open(run_dir / "progress.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == samples


def test_dcgan_run_resume_and_sample_round_trip(tmp_path, run_cli):
    data = _few_images(CATS / "grumpy", tmp_path / "grumpy", 8)
    run_dir = tmp_path / "run"
    options = DCGANOptions(data=data, out=run_dir, size=16, channels=4, noise_dim=8, loss="wgan-gp", critic_steps=2, diffaug=True, **TINY)
    result = train_dcgan(options)
    assert result.step == 2 and all(np.isfinite(list(result.losses.values())))
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["kind"], config["size"], config["channels_in"], config["aug"]) == ("dcgan", 16, 3, "basic")
    _assert_plots(run_dir, samples=2)
    assert len(list((run_dir / "histograms").glob("step_*.png"))) == 2

    resumed = resume_training(run_dir, {"iters": 3, "device": "cpu", "quiet": True})
    assert resumed.step == 3
    assert [r["step"] for r in RunFolder(run_dir).read_metrics()] == [2, 3]
    _assert_plots(run_dir, samples=3)

    done = run_cli("sample", "--run", run_dir, "-n", 6, "--out", tmp_path / "grid.png", "--seed", 3, "--device", "cpu")
    assert done.code == 0, done.stderr
    assert "6 dcgan samples" in done.stderr
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.size == (3 * 18 + 2, 2 * 18 + 2)  # 6 images of 16 px, 3 per row, 2-px padding
        first = np.asarray(grid)
    # The same seed draws the same images; --interpolate gives rows of 8-step walks.
    sample_images(run_dir, tmp_path / "again.png", count=6, seed=3, device="cpu")
    assert np.array_equal(first, np.asarray(Image.open(tmp_path / "again.png")))
    walk = sample_images(run_dir, tmp_path / "walk.png", count=16, interpolate=True, device="cpu")
    assert walk.count == 16 and Image.open(tmp_path / "walk.png").size == (8 * 18 + 2, 2 * 18 + 2)


def test_mlp_gan_on_grayscale_digits_size_images(tmp_path):
    data = _few_images(CATS / "grumpy", tmp_path / "grey", 8, grey=True)
    run_dir = tmp_path / "run"
    train_mlp_gan(MLPGANOptions(data=data, out=run_dir, channels=8, noise_dim=4, **TINY))
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["kind"], config["size"], config["channels_in"], config["loss"]) == ("mlp-gan", 28, 1, "bce")
    assert len(list((run_dir / "histograms").glob("step_*.png"))) == 2
    result = sample_images(run_dir, tmp_path / "grid.png", count=4, device="cpu")
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert result.kind == "mlp-gan" and grid.shape == (2 * 30 + 2, 2 * 30 + 2, 3)
    assert np.array_equal(grid[..., 0], grid[..., 1])  # grey images


def test_vae_run_resume_and_sample(tmp_path):
    data = _few_images(CATS / "russian_blue", tmp_path / "cats", 10)
    run_dir = tmp_path / "run"
    train_vae(VAEOptions(data=data, out=run_dir, size=16, channels=4, noise_dim=6, **TINY))
    assert len(json.loads((run_dir / "split.json").read_text())["domains"]["data"]["held_out"]) == 1  # 10% by default
    with Image.open(RunFolder(run_dir).latest_sample()) as grid:
        assert grid.size == (8 * 18 + 2, 4 * 18 + 2)  # inputs (8 of the 9 trained on), reconstructions, two rows of samples
    assert resume_training(run_dir, {"iters": 3, "device": "cpu", "quiet": True}).step == 3
    assert sample_images(run_dir, tmp_path / "grid.png", count=4, device="cpu").kind == "vae"


def test_example_variants_each_get_one_run_folder_and_a_panel(tmp_path, monkeypatch):
    """examples/_common.py: a label with '/' or '+' names one folder under --out, not nested ones."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "examples"))
    from _common import Experiment

    data = _few_images(CATS / "russian_blue", tmp_path / "cats", 4)
    out = tmp_path / "example"
    variants = {"inputs / reconstructions": {}, "kl+lr": {"kl_weight": 2.0, "lr": 1e-4}}
    tiny = {"size": 16, "channels": 4, "noise_dim": 6, **TINY}
    runs = Experiment(False, out, data, "cpu").run_variants(VAEOptions, {"data": data}, variants, small=tiny, full=tiny)
    assert [path.relative_to(out).parts for path in runs.values()] == [("inputs_reconstructions",), ("kl_lr",)]
    with Image.open(out / "comparison.png") as sheet:
        assert sheet.width == 2 * (4 * 18 + 2) + 8  # two grids of 4 columns side by side, 8 px apart


def test_cyclegan_unet_translate_round_trip(tmp_path, run_cli):
    a = _few_images(CATS / "russian_blue", tmp_path / "a", 4)
    b = _few_images(CATS / "grumpy", tmp_path / "b", 4)
    Image.open(a / sorted(p.name for p in a.iterdir())[0]).resize((96, 64)).save(a / "wide.jpg")
    run_dir = tmp_path / "run"
    options = {**TINY, "batch_size": 1}
    result = train(CycleGANOptions(a_dir=a, b_dir=b, out=run_dir, gen="unet", channels=4, pool=2, lr_decay_from=1, **options))
    assert result.step == 2
    assert json.loads((run_dir / "config.json").read_text())["gen"] == "unet"

    out = tmp_path / "translated"
    done = run_cli("translate", a, "--run", run_dir, "--direction", "b2a", "--out", out, "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    inputs = sorted(p.stem for p in a.iterdir())
    assert sorted(p.stem for p in out.iterdir()) == inputs and all(p.suffix == ".png" for p in out.iterdir())
    assert Image.open(out / "wide.png").size == (96, 64)  # each result keeps its input's size

    with pytest.raises(VidganError, match="already exists.*--overwrite"):
        translate_folder(a, run_dir, TranslateOptions(out, device="cpu", quiet=True))
    assert translate_folder(a, run_dir, TranslateOptions(out, overwrite=True, device="cpu", quiet=True)).written == len(inputs)
    with pytest.raises(UsageError, match="input folder"):
        translate_folder(a, run_dir, TranslateOptions(a, device="cpu", quiet=True))
    assert sorted(p.stem for p in a.iterdir()) == inputs  # nothing written into the input folder
    with pytest.raises(VidganError, match="cyclegan.*vidgan translate"):
        sample_images(run_dir, tmp_path / "x.png", device="cpu")


def test_options_of_another_model_are_refused(tmp_path, run_cli):
    grumpy, blue = CATS / "grumpy", CATS / "russian_blue"
    cases = [
        (["--model", "dcgan", grumpy, "--pool", 4], "--pool is an option of vidgan train cyclegan / cut / fastcut, not of dcgan"),
        (["dcgan", grumpy, "--kl-weight", 2.0], "--kl-weight is an option of vidgan train vae, not of dcgan"),
        (["--model", "vae", grumpy, "--lr-g", 1e-3],
         "--lr-g is an option of vidgan train cyclegan / cut / fastcut / dcgan / mlp-gan, not of vae"),
        (["vae", "--a", grumpy, "--b", blue], "--a is an option of vidgan train cyclegan / cut / fastcut, not of vae"),
        (["dcgan", grumpy, "--size", 48], "--size must be 16, 32, 64 or 128, got 48"),
        (["dcgan", grumpy, "--loss", "hinge"], "--loss"),
        (["--a", grumpy, "--b", blue, "--iters", 10, "--lr-decay-from", 10], "--lr-decay-from must be a step from 0 to 9"),
        (["--model", "gan", grumpy], "--model must be cyclegan, cut, fastcut, distill, dcgan, mlp-gan or vae, got 'gan'"),
    ]
    for args, message in cases:
        assert_clean_failure(run_cli("train", *args, "--out", tmp_path / "r"), message, code=2)
    assert not (tmp_path / "r").exists()


def test_plot_command_redraws_and_refuses_non_runs(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.create()
    run.write_config({"kind": "dcgan"})
    with pytest.raises(VidganError, match="nothing to plot"):
        plot_run(RunFolderOptions(run.root))
    for step in (10, 20, 30):
        run.append_metrics(step, {"d_real": 1.0 / step, "d_fake": 0.5, "g": 2.0})
        run.save_sample(torch.full((3, 8, 12), step, dtype=torch.uint8), step)
    assert plot_run(RunFolderOptions(run.root)) == [run.losses_plot_path, run.progress_gif_path]
    _assert_plots(run.root, samples=3)
    with pytest.raises(VidganError, match="not a vidgan run folder"):
        plot_run(RunFolderOptions(tmp_path))
