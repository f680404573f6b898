"""vidgan eval: balanced classifiers, C2ST, translation scores beside their baselines, eval.json and the CLI."""

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import assert_clean_failure

from vidgan.eval.judges import c2st_classifiers, fit_classifier, holdout_accuracy, predict, two_sample_test
from vidgan.eval.metrics import (
    balanced_accuracy,
    colour_distance,
    psnr,
    ssim_grey_per_image,
)
from vidgan.eval.options import ClassifierSettings, EvalOptions
from vidgan.eval.run import evaluate_run
from vidgan.training.cyclegan import train_cyclegan
from vidgan.training.options import CycleGANOptions

FAST = ClassifierSettings(steps=40, batch_size=16, lr=2e-3)


def shapes(kind, count, size, seed):
    """uint8 N×H×W×3: warm squares on a dark ground, or cool circles on a light one, at random places."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        dark = kind == "square"
        image = np.full((size, size, 3), rng.integers(0, 50, 3) + (0 if dark else 170), np.uint8)
        r = int(rng.integers(size // 6, size // 3))
        cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
        if dark:
            cv2.rectangle(image, (cx - r, cy - r), (cx + r, cy + r), (int(rng.integers(180, 256)), int(rng.integers(60, 140)), 30), -1)
        else:
            cv2.circle(image, (cx, cy), r, (30, int(rng.integers(60, 140)), int(rng.integers(180, 256))), -1)
        images.append(image)
    return np.stack(images)


def as_tensor(images):
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def write_domain(folder, images):
    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return folder


def test_balanced_accuracy_is_chance_for_a_constant_guess_however_unequal_the_classes():
    labels = torch.tensor([0] * 90 + [1] * 10)
    assert balanced_accuracy(torch.zeros(100, dtype=torch.long), labels) == 0.5  # plain accuracy would say 0.9
    assert balanced_accuracy(labels.clone(), labels) == 1.0


def test_classifier_separates_different_domains_and_is_at_chance_on_identical_ones():
    squares, circles = as_tensor(shapes("square", 40, 32, 1)), as_tensor(shapes("circle", 40, 32, 2))
    other_circles = as_tensor(shapes("circle", 40, 32, 3))
    assert holdout_accuracy(squares, circles, FAST)[1] >= 0.95
    assert abs(holdout_accuracy(other_circles, circles, FAST)[1] - 0.5) <= 0.25
    # The two-sample test, cross-validated over every image: near 1 for different sets, near 0.5 for the same.
    assert two_sample_test(squares, circles, FAST) >= 0.95
    assert abs(two_sample_test(other_circles, circles, FAST) - 0.5) <= 0.15


def test_c2st_is_the_mean_of_its_differently_seeded_repeats():
    mixed = as_tensor(np.concatenate([shapes("square", 12, 32, 4), shapes("circle", 12, 32, 5)]))
    circles = as_tensor(shapes("circle", 24, 32, 6))
    once = [two_sample_test(mixed, circles, replace(FAST, c2st_repeats=1, seed=seed)) for seed in (0, 1000)]
    assert two_sample_test(mixed, circles, replace(FAST, c2st_repeats=2)) == pytest.approx(sum(once) / 2)


def test_a_classifier_stops_once_it_has_separated_its_training_images_and_reports_its_whole_share():
    squares, circles = as_tensor(shapes("square", 16, 32, 1)), as_tensor(shapes("circle", 16, 32, 2))
    for patience, stops_early in ((10, True), (None, False)):
        shares = []
        model = fit_classifier(squares, circles, replace(FAST, steps=300, patience=patience), seed=0, on_step=shares.append)
        assert (len(shares) < 300) == stops_early and sum(shares) == pytest.approx(1.0)
        assert (predict(model, squares) == 0).all() and (predict(model, circles) == 1).all()


def test_c2st_on_sets_of_one_image_is_not_measured_and_on_two_uses_two_folds():
    squares, circles = as_tensor(shapes("square", 2, 32, 1)), as_tensor(shapes("circle", 2, 32, 2))
    shares = []
    assert two_sample_test(squares[:1], circles, FAST, shares.append) is None
    assert sum(shares) == c2st_classifiers(FAST) == 6  # the bar still completes
    shares.clear()
    settings = replace(FAST, c2st_folds=3, c2st_repeats=1)
    assert two_sample_test(squares, circles, settings, shares.append) in {0.0, 0.25, 0.5, 0.75, 1.0}
    assert sum(shares) == pytest.approx(3)  # two folds trained, the third counted as done


def test_classifier_is_not_fooled_by_unequal_class_sizes():
    squares, circles = as_tensor(shapes("square", 60, 32, 1)), as_tensor(shapes("circle", 8, 32, 2))
    assert holdout_accuracy(squares, circles, FAST)[1] >= 0.9  # balanced batches: the 8 circles are learnt too


def test_image_metrics_on_known_cases():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert psnr(0.0) == math.inf and psnr(4.0) == 0.0
    assert torch.allclose(ssim_grey_per_image(x, x), torch.ones(2))
    assert (ssim_grey_per_image(x, -x) < 0.5).all()
    images = as_tensor(shapes("square", 4, 16, 0))
    assert colour_distance(images, images) == 0.0
    assert colour_distance(images, 255 - images) > 10


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    a = write_domain(root / "data" / "a", shapes("square", 16, 64, 1))
    b = write_domain(root / "data" / "b", shapes("circle", 16, 64, 2))
    run = root / "run"
    train_cyclegan(CycleGANOptions(a_dir=a, b_dir=b, out=run, channels=4, res_blocks=1, iters=2, holdout=0.25, quiet=True, device="cpu"))
    return run


def test_eval_scores_translations_beside_real_and_untranslated_baselines(shapes_run):
    results = evaluate_run(shapes_run, EvalOptions(classifier=FAST, device="cpu", quiet=True))
    assert results["images"] == {"set": "held-out", "a": 4, "b": 4}
    assert results["classifier"]["balanced_accuracy"] >= 0.95 and results["classifier"]["reliable"]
    for direction in ("a2b", "b2a"):
        scores = results["directions"][direction]
        # The identity mapping (untranslated input) is judged as its own domain, real target images as the target.
        assert scores["untranslated_score"] <= 0.25
        assert scores["real_target_score"] >= 0.75
        assert 0.0 <= scores["translation_score"] <= 1.0 and 0.0 <= scores["c2st"] <= 1.0
        assert scores["untranslated_colour_distance"] > 10  # the domains' colours differ
        assert scores["temporal_pairs"] == "motions"  # no frame pairs beside these images
        assert all(math.isfinite(value) for key, value in scores.items() if key != "temporal_pairs")
    assert json.loads((shapes_run / "eval.json").read_text()) == results


def test_eval_with_an_onnx_runtime_gives_torchs_figures_and_caches_both_exports(shapes_run, tmp_path):
    run = Path(shutil.copytree(shapes_run, tmp_path / "run"))  # the exports are cached in it
    quick = replace(FAST, steps=2)
    by_torch = evaluate_run(run, EvalOptions(classifier=quick, device="cpu", quiet=True))
    by_onnx = evaluate_run(run, EvalOptions(classifier=quick, runtime="onnxruntime", device="cpu", quiet=True))
    for direction in ("a2b", "b2a"):
        expected, scores = by_torch["directions"][direction], by_onnx["directions"][direction]
        assert expected["cycle_l1"] > 0.05  # the round trip really changes the images
        for name in ("cycle_l1", "identity_l1"):  # [-1, 1] units: one 8-bit level is 2/255
            assert abs(scores[name] - expected[name]) <= 2 / 255
        assert abs(scores["colour_distance"] - expected["colour_distance"]) < 0.5
        assert abs(scores["ssim_grey"] - expected["ssim_grey"]) < 0.01
    assert sorted(p.name for p in (run / "checkpoints" / "onnx").glob("*.onnx")) == ["a2b.onnxruntime.onnx", "b2a.onnxruntime.onnx"]


def test_eval_cli_prints_the_table_and_rejects_bad_input(shapes_run, run_cli, tmp_path):
    done = run_cli("eval", "--run", shapes_run, "--classifier-steps", "2", "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    assert "translation score" in done.stderr and "C2ST" in done.stderr and "eval.json" in done.stderr
    assert_clean_failure(run_cli("eval", "--run", tmp_path / "nothing"), "no config.json")
    assert_clean_failure(run_cli("eval", "--run", shapes_run, "--a", tmp_path), "both --a DIR and --b DIR", code=2)


@pytest.mark.parametrize("held_out", [1, 2, 3])
def test_eval_on_tiny_held_out_sets_gives_coarse_figures_or_says_what_it_cannot_measure(held_out, run_cli, tmp_path):
    a = write_domain(tmp_path / "data" / "a", shapes("square", 8, 64, 1))
    b = write_domain(tmp_path / "data" / "b", shapes("circle", 8, 64, 2))
    run = tmp_path / "run"
    holdout = {1: 0.1, 2: 0.25, 3: 0.375}[held_out]  # of 8 images per domain
    train_cyclegan(CycleGANOptions(a_dir=a, b_dir=b, out=run, channels=4, res_blocks=1, iters=2, holdout=holdout, quiet=True, device="cpu"))
    done = run_cli("eval", "--run", run, "--classifier-steps", "3", "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    assert f"only {held_out} evaluation images in one domain: the scores below are coarse" in " ".join(done.stderr.split())
    results = json.loads((run / "eval.json").read_text())
    assert results["images"] == {"set": "held-out", "a": held_out, "b": held_out}
    c2st = [results["directions"][d]["c2st"] for d in ("a2b", "b2a")]
    assert ("C2ST needs at least 2 evaluation images" in done.stderr) == (held_out == 1)
    if held_out == 1:
        assert c2st == [None, None]
        (row,) = [line for line in done.stderr.splitlines() if "C2ST: balanced" in line]
        assert [cell.strip() for cell in row.split("│")[-3:-1]] == ["n/a", "n/a"], row
    else:  # each image judged by a classifier that trained on the others; the mean of 3 seeds' balanced accuracies
        steps = [value * 3 * 2 * held_out for value in c2st]
        assert all(0 <= step <= 6 * held_out and step == pytest.approx(round(step), abs=1e-5) for step in steps), c2st
    for direction in results["directions"].values():
        assert 0.0 <= direction["translation_score"] <= 1.0 and math.isfinite(direction["cycle_l1"])
