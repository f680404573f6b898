"""CycleGAN training: a step stays finite and learns, runs resume, data problems are reported."""

import json

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA, assert_clean_failure
from PIL import Image

from vidgan.core.errors import VidganError
from vidgan.io.batches import augment, load_image_folder
from vidgan.models.cyclegan import DiscriminatorConfig, GeneratorConfig
from vidgan.runs.folder import RunFolder
from vidgan.runs.generators import load_generator
from vidgan.training.cyclegan import (
    CycleGANTask,
    LossWeights,
    train_cyclegan,
)
from vidgan.training.data import DIFFAUG_POLICY, ImageBank, diff_augment
from vidgan.training.launch import resume_training
from vidgan.training.loop import TrainResult
from vidgan.training.options import CycleGANOptions

LOSS_TOTALS = ("g_adv", "cycle", "identity", "d_real", "d_fake")
TINY = dict(channels=4, res_blocks=1, batch_size=2, sample_every=2, checkpoint_every=2, quiet=True, device="cpu")


def tiny_cyclegan(a, b, out, **options) -> TrainResult:
    """A tiny CycleGAN run from the folders a and b into out: TINY's options, then `options`."""
    return train_cyclegan(CycleGANOptions(a_dir=a, b_dir=b, out=out, **{**TINY, **options}))


def write_images(folder, colours, size=64, mode="RGB"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, colour in enumerate(colours):
        Image.new(mode, (size, size), colour).save(folder / f"img_{i:03d}.png")
    return folder


@pytest.fixture
def domains(tmp_path):
    rng = np.random.default_rng(0)
    a = write_images(tmp_path / "data" / "a", [tuple(int(v) for v in rng.integers(0, 90, 3)) for _ in range(6)])
    b = write_images(tmp_path / "data" / "b", [tuple(int(v) for v in rng.integers(160, 255, 3)) for _ in range(5)])
    return a, b


def test_one_step_is_finite_and_moves_every_network(domains):
    banks = {d: ImageBank(load_image_folder(p, 64), torch.device("cpu")) for d, p in zip("ab", domains)}
    task = CycleGANTask(
        banks,
        GeneratorConfig.for_size(64, channels=4, res_blocks=1),
        DiscriminatorConfig(size=64, channels=8),
        LossWeights(cycle=10, identity=5),
        batch_size=2, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), diffaug=DIFFAUG_POLICY, device=torch.device("cpu"),
    )
    before = {n: [p.detach().clone() for p in m.parameters()] for n, m in task.modules.items()}
    losses = task.train_step(0, 1)
    assert set(losses) == {f"{total}{domain}" for total in LOSS_TOTALS for domain in ("", "_a", "_b")}
    assert all(torch.isfinite(v) for v in losses.values())
    for total in LOSS_TOTALS:  # the per-domain terms are the two parts of the total
        shares = losses[f"{total}_a"].item() + losses[f"{total}_b"].item()
        assert losses[total].item() == pytest.approx(shares, rel=1e-6)
    assert losses["cycle_a"] != losses["cycle_b"] and losses["d_fake_a"] != losses["d_fake_b"]
    for name, module in task.modules.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[name], module.parameters())), name
    grid = task.sample_grid()
    assert grid.dtype == torch.uint8 and grid.shape[0] == 3


def test_augmentations_keep_shape_and_diffaugment_keeps_gradients():
    x = torch.rand(4, 3, 32, 32, requires_grad=True)
    for mode in ("mirror", "deluxe", "none"):
        assert augment(x, mode).shape == x.shape
    y = diff_augment(x)
    assert y.shape == x.shape and not torch.equal(y, x)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_train_writes_run_folder_and_resume_continues(domains, tmp_path):
    out = tmp_path / "run"
    first = tiny_cyclegan(*domains, out, iters=4)
    assert first.step == 4
    run = RunFolder(out)
    config = json.loads(run.config_path.read_text())
    assert config["kind"] == "cyclegan" and config["size"] == 64 and config["versions"]["torch"] == torch.__version__
    assert [p.name for p in sorted(run.samples_dir.glob("*.png"))] == ["step_0000002.png", "step_0000004.png"]
    assert (run.checkpoints_dir / "latest.pt").is_file()

    resumed = resume_training(out, iters=6, device="cpu", quiet=True)
    assert resumed.step == 6
    records = run.read_metrics()
    assert [r["step"] for r in records] == [4, 6]  # logged every 10 steps and at the end of each leg
    logged = [total for total in LOSS_TOTALS if total != "identity"]  # not weighted by default, so not computed
    for record in records:
        assert set(record) == {"step", "time"} | {f"{t}{d}" for t in logged for d in ("", "_a", "_b")}
        for total in logged:
            assert record[total] == pytest.approx(record[f"{total}_a"] + record[f"{total}_b"], abs=1e-5)
    assert (run.samples_dir / "step_0000006.png").is_file()
    generator = load_generator(out, "b2a")
    assert generator(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def test_train_refuses_to_overwrite_a_run(domains, tmp_path):
    tiny_cyclegan(*domains, tmp_path / "run", iters=2)
    with pytest.raises(VidganError, match="--resume"):
        tiny_cyclegan(*domains, tmp_path / "run", iters=2)


def test_mixed_modes_and_sizes_are_converted(tmp_path, domains):
    folder = tmp_path / "mixed"
    write_images(folder, [128], size=80, mode="L")
    Image.new("RGBA", (64, 40), (10, 200, 30, 128)).save(folder / "rgba.png")
    Image.new("CMYK", (70, 70), (0, 50, 100, 0)).save(folder / "cmyk.jpg")
    Image.fromarray(np.full((64, 64), 40000, np.uint16)).save(folder / "deep.png")
    result = tiny_cyclegan(folder, domains[1], tmp_path / "run", size=64, iters=1)
    assert result.step == 1


def test_cli_train_on_real_cats_and_resume(run_cli, tmp_path):
    out = tmp_path / "cats"
    args = ["--a", SHARED_DATA / "cats/russian_blue", "--b", SHARED_DATA / "cats/grumpy", "--out", out]
    done = run_cli("train", *args, "--iters", 2, "--channels", 4, "--res-blocks", 1, "--batch-size", 2,
                   "--checkpoint-every", 1, "--aug", "deluxe", "--diffaug", "--device", "cpu", "--ema", 0.9,
                   "--spectral-norm", "--upsample", "transpose", "--lr-d", 6e-4, "--diffaug-policy", "color,cutout",
                   "--attention", "--disc-layers", 2, "--disc-channels", 8)
    assert done.code == 0, done.stderr
    config = json.loads((out / "config.json").read_text())
    assert (config["size"], config["working_scale"], config["crop"]) == (64, 64, None)  # detected from the 64 px images
    assert (config["ema"], config["spectral_norm"], config["upsample"]) == (0.9, True, "transpose")
    assert (config["lr_g"], config["lr_d"], config["diffaug_policy"]) == (None, 6e-4, "color,cutout")
    assert (config["generator"]["attention"], config["disc_layers"], config["disc_channels"]) == (True, 2, 8)
    done = run_cli("train", "--out", out, "--resume", "--iters", 3, "--device", "cpu")
    assert done.code == 0, done.stderr
    assert "step 3" in done.stderr


@pytest.mark.parametrize(
    "setup, args, fragments, code",
    [
        ("empty", ["DATA"], ["a", "no images found"], 1),
        ("one_domain", ["DATA"], ["no b/ subfolder"], 1),
        ("ok", ["DATA", "--size", "96"], ["--size must be 64 or 128"], 2),
        ("ok", ["DATA", "--iters", "0"], ["--iters must be at least 1"], 2),
        ("ok", ["DATA", "--batch-size", "-1"], ["--batch-size must be at least 1"], 2),
        ("ok", ["--out", "NORUN", "--resume"], ["not a vidgan run folder"], 1),
        ("ok", ["--out", "NORUN", "--resume", "--lr", "1"], ["--lr: --resume continues a run with the options it started with"], 2),
        ("ok", ["DATA", "--disc", "huge"], ["--disc"], 2),
    ],
)
def test_cli_train_errors(run_cli, tmp_path, domains, setup, args, fragments, code):
    data = tmp_path / "data"
    if setup == "empty":
        for image in (data / "a").iterdir():
            image.unlink()
    if setup == "one_domain":
        data = tmp_path / "one"
        write_images(data / "a", [(1, 2, 3)])
    args = [str(data) if a == "DATA" else str(tmp_path / "norun") if a == "NORUN" else a for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "run")]
    assert_clean_failure(run_cli("train", *args, "--device", "cpu"), *fragments, code=code)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_resume_says_where_it_continues_and_leaves_a_complete_run_alone(run_cli, tmp_path, domains):
    out, (a, b) = tmp_path / "run", domains
    tiny = ["--channels", 4, "--res-blocks", 1, "--batch-size", 2, "--disc-channels", 4, "--device", "cpu", "-q"]
    assert run_cli("train", "--a", a, "--b", b, "--out", out, "--iters", 4, "--checkpoint-every", 2, *tiny).code == 0
    checkpoints = out / "checkpoints"
    (checkpoints / "step_0000004.pt").write_bytes(b"cut short")  # latest.pt is a hard link to it: broken too

    done = run_cli("train", "--out", out, "--resume", "--iters", 6, "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    line = f"resuming at step 2 from {checkpoints / 'step_0000002.pt'} (step_0000004.pt could not be read)\n"
    assert line in done.stderr and done.stderr.index(line) < done.stderr.index("trained to step 6")
    assert [record["step"] for record in RunFolder(out).read_metrics()] == [6]  # step 4's record went with its checkpoint

    saved = {path.name: path.stat().st_mtime_ns for path in checkpoints.iterdir()}
    for extra in ([], ["--iters", 3]):
        done = run_cli("train", "--out", out, "--resume", *extra, "--device", "cpu")
        assert done.code == 0, done.stderr
        iters = 3 if extra else 6
        assert done.stderr == f"{out} is complete at step 6 (--iters {iters}); give --iters above 6 to train on\n" and done.stdout == ""
    assert {path.name: path.stat().st_mtime_ns for path in checkpoints.iterdir()} == saved
    assert json.loads((out / "config.json").read_text())["iters"] == 6
