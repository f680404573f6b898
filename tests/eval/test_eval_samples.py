"""vidgan eval for dcgan, mlp-gan and vae runs: C2ST realism, diversity (mode collapse) and memorisation."""

import json
import shutil

import pytest
import torch
from conftest import SHARED_DATA, assert_clean_failure
from PIL import Image
from test_evaluate import FAST, as_tensor, shapes

from vidgan.eval.samples import RealImages, measure_generator
from vidgan.training.launch import train
from vidgan.training.options import DCGANOptions, MLPGANOptions, VAEOptions

TRAIN = as_tensor(shapes("square", 40, 32, 1))
HELD_OUT = as_tensor(shapes("square", 12, 32, 2))
TINY = {"iters": 2, "sample_every": 2, "checkpoint_every": 2, "batch_size": 2, "device": "cpu", "quiet": True}
NEW_KEYS = {"c2st", "diversity_samples", "diversity_real", "diversity_ratio", "nearest_train_samples",
            "nearest_train_real", "nearest_train_ratio", "near_copy_share"}  # fmt: skip


def fresh_squares(count, seed):
    """An honest 'generator': new images from the training images' distribution."""
    return as_tensor(shapes("square", count, 32, 100 + seed))


def training_copies(count, seed, *, mirrored=False):
    picks = TRAIN[torch.randint(len(TRAIN), (count,), generator=torch.Generator().manual_seed(seed))]
    return picks.flip(3) if mirrored else picks


def one_image(count, seed):
    return as_tensor(shapes("square", 1, 32, 7)).repeat(count, 1, 1, 1)


def measure(generate, held_out=HELD_OUT):
    return measure_generator(generate, RealImages(TRAIN, held_out), count=40, settings=FAST)


def figure(results, key):
    return results["figures"][key]["features"], results["figures"][key]["pixels"]


def test_fresh_images_pass_copies_are_memorising_and_one_image_is_collapse():
    honest = measure(fresh_squares)
    assert not honest["collapse_suspected"] and honest["memorisation_suspected"] is False
    assert all(0.6 < ratio < 1.6 for ratio in figure(honest, "diversity_ratio") + figure(honest, "nearest_train_ratio"))

    for mirrored in (False, True):  # a mirrored copy of a training image is a copy too
        copies = measure(lambda count, seed, mirrored=mirrored: training_copies(count, seed, mirrored=mirrored))
        assert copies["memorisation_suspected"] and not copies["collapse_suspected"]
        assert all(ratio < 0.1 for ratio in figure(copies, "nearest_train_ratio"))
        assert figure(copies, "near_copy_share") == (1.0, 1.0)

    collapsed = measure(one_image)
    assert collapsed["collapse_suspected"] and not collapsed["memorisation_suspected"]
    assert all(ratio < 0.05 for ratio in figure(collapsed, "diversity_ratio"))
    assert figure(collapsed, "c2st")[0] >= 0.9  # one image over and over is easy to tell from real ones


def test_without_held_out_images_diversity_uses_training_images_and_memorisation_is_not_measured():
    results = measure(training_copies, held_out=None)
    assert results["images"] == {"samples": 40, "train": 40, "real": 40, "real_set": "training"}
    assert results["memorisation_suspected"] is None
    assert figure(results, "nearest_train_ratio") == (None, None)
    assert all(0.6 < ratio < 1.6 for ratio in figure(results, "diversity_ratio"))  # copies are as varied as training


def _few_images(folder, count, *, grey=False):
    folder.mkdir()
    for path in sorted((SHARED_DATA / "cats" / "grumpy").iterdir())[:count]:
        if grey:
            Image.open(path).convert("L").resize((28, 28)).save(folder / path.name)
        else:
            shutil.copy(path, folder / path.name)
    return folder


@pytest.mark.parametrize("kind", ["dcgan", "vae", "mlp-gan"])
def test_eval_cli_measures_image_model_runs_and_report_shows_it(kind, tmp_path, run_cli):
    run = tmp_path / "run"
    if kind == "mlp-gan":  # grey and 8 px: eval turns them into RGB at the classifier's 16-px minimum
        data = _few_images(tmp_path / "grey", 20, grey=True)
        train(MLPGANOptions(data=data, out=run, channels=8, noise_dim=4, size=8, **TINY))
    else:
        options_type = {"dcgan": DCGANOptions, "vae": VAEOptions}[kind]
        train(options_type(data=_few_images(tmp_path / "cats", 20), out=run, size=16, channels=4, noise_dim=4, **TINY))

    done = run_cli("eval", "--run", run, "--samples", 12, "--classifier-steps", 3, "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    assert "diversity" in done.stderr and "memorisation" in done.stderr and "eval.json" in done.stderr
    results = json.loads((run / "eval.json").read_text())
    assert results["kind"] == kind and results["step"] == 2
    assert results["images"] == {"samples": 12, "train": 18, "real": 2, "real_set": "held-out"}  # --holdout 0.1
    assert set(results["figures"]) == NEW_KEYS
    for key in NEW_KEYS - {"c2st"}:
        assert all(results["figures"][key][space] >= 0 for space in ("features", "pixels")), key
    assert 0 <= results["figures"]["c2st"]["features"] <= 1 and results["figures"]["c2st"]["meaning"].startswith("C2ST")
    assert isinstance(results["collapse_suspected"], bool) and isinstance(results["memorisation_suspected"], bool)

    assert run_cli("report", run).code == 0
    html = (run / "report.html").read_text()
    assert "near copies" in html and "mean distance between two samples" in html


def test_eval_refuses_options_of_the_other_kind_of_run(tiny_run, tmp_path, run_cli):
    assert_clean_failure(run_cli("eval", "--run", tiny_run, "--samples", 8), "runs that draw images (dcgan, mlp-gan, vae)", code=2)
    dcgan = tmp_path / "dcgan"
    dcgan.mkdir()
    (dcgan / "config.json").write_text('{"kind": "dcgan"}')
    assert_clean_failure(run_cli("eval", "--run", dcgan, "--a", tmp_path, "--b", tmp_path), "--a/--b are for runs that translate", code=2)
    assert_clean_failure(run_cli("eval", "--run", dcgan, "--c2st-repeats", 1), "--c2st-repeats is for runs that translate", code=2)
    assert_clean_failure(run_cli("eval", "--run", dcgan, "--runtime", "onnxruntime"), "onnxruntime runs translating generators", code=2)
    assert_clean_failure(run_cli("eval", "--run", dcgan, "--samples", 1), "--samples must be at least 2", code=2)
