"""The temporal-consistency term (--temporal-weight): transform equivariance G(T(x)) vs T(G(x)), its option in the
run's record, a run that trains with it and logs it per domain, and eval's temporal error beside the input's own."""

import json
from pathlib import Path

import pytest
import torch
from conftest import SHARED_DATA

from vidgan.core.errors import UsageError
from vidgan.eval.temporal import temporal_errors
from vidgan.io.batches import MAX_SHIFT, defined, move, random_motion
from vidgan.runs.config import upgrade_config
from vidgan.training.loop import format_losses
from vidgan.training.options import CycleGANOptions
from vidgan.training.temporal import equivariance_loss

CPU = torch.device("cpu")


def smooth_images(n: int = 4, size: int = 32) -> torch.Tensor:
    """Images in [-1, 1] with structure at every scale (blurred noise)."""
    torch.manual_seed(0)
    noise = torch.rand(n, 3, size // 4, size // 4) * 2 - 1
    return torch.nn.functional.interpolate(noise, size=(size, size), mode="bilinear", align_corners=False)


def test_the_term_is_zero_for_maps_that_commute_with_motion():
    x = smooth_images()
    motion = random_motion(len(x), CPU, torch.Generator().manual_seed(1))
    colour = torch.nn.Conv2d(3, 3, 1)  # a pointwise linear colour map: bilinear resampling commutes with it
    with torch.no_grad():
        assert equivariance_loss(lambda t: t, x, x, motion).item() == 0.0
        assert equivariance_loss(colour, x, colour(x), motion).item() < 1e-6


def test_the_term_measures_what_a_map_does_not_move_along():
    x = smooth_images()
    motion = random_motion(len(x), CPU, torch.Generator().manual_seed(1))
    pattern = torch.linspace(-0.5, 0.5, 32).expand(1, 3, 32, 32)  # painted on at a fixed place: does not move with x
    stamp = lambda t: t + pattern
    mask = defined(motion, 32, 32)
    expected = ((pattern - move(pattern.expand_as(x), motion)).abs() * mask).sum() / (3 * mask.sum())
    loss = equivariance_loss(stamp, x, stamp(x), motion)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5) and loss.item() > 0.005
    assert equivariance_loss(lambda t: t.flip(-1), x, x.flip(-1), motion).item() > 0.05  # mirrored: T moves it the other way


def test_the_motions_are_small_and_leave_most_of_the_image_defined():
    motion = random_motion(64, CPU, torch.Generator().manual_seed(2))
    assert motion[:, :, 2].abs().max() <= 2 * MAX_SHIFT and (motion[:, :, :2] - torch.eye(2)).abs().max() < 0.1
    inside = defined(motion, 64, 64).float().mean(dim=(1, 2, 3))
    assert inside.min() > 0.85 and inside.mean() < 0.98  # most motions uncover a border (a zoom-in none), all a thin one


def test_the_option_is_bounded_and_recorded_and_older_runs_trained_without_it():
    with pytest.raises(UsageError, match="--temporal-weight"):
        CycleGANOptions(a_dir=Path("/a"), b_dir=Path("/b"), temporal_weight=-1.0).validate()
    options = CycleGANOptions(a_dir=Path("/a"), b_dir=Path("/b"), temporal_weight=2.5).resolved(64)
    assert CycleGANOptions.from_config(options.to_config()).temporal_weight == 2.5
    config = {**options.to_config(), "kind": "cyclegan", "generator": options.generator().to_dict(),
              "discriminator": options.discriminator().to_dict(), "working_scale": 64}  # fmt: skip
    assert upgrade_config({**config, "versions": {"vidgan": "0.6.0"}})["temporal_weight"] == 2.5
    del config["temporal_weight"]
    for version in ("0.5.0", "0.6.0"):
        assert upgrade_config({**config, "versions": {"vidgan": version}})["temporal_weight"] == 0.0


def test_eval_temporal_error_is_the_inputs_own_for_an_identity_and_higher_for_flicker():
    images = ((smooth_images(6, 64) + 1) * 127.5).round().to(torch.uint8)
    steady, source = temporal_errors(lambda x: x, images)
    assert source > 0 and steady == pytest.approx(source)
    generator = torch.Generator().manual_seed(3)
    flicker = lambda x: (x.float() + torch.randint(-20, 21, x.shape, generator=generator)).clamp(0, 255).to(torch.uint8)
    flickering, _ = temporal_errors(flicker, images)
    assert flickering > 2 * source
    # Given frame pairs, those are the pairs: the later frames here are the images shifted by 2 px.
    later = torch.roll(images, shifts=2, dims=3)
    steady_pairs, source_pairs = temporal_errors(lambda x: x, images, later)
    assert source_pairs > 0 and steady_pairs == pytest.approx(source_pairs) and source_pairs != pytest.approx(source)
    assert temporal_errors(flicker, images, later)[0] > 2 * source_pairs


def test_a_run_with_the_term_logs_it_per_domain_and_eval_reports_the_temporal_error(run_cli, tmp_path):
    cats = SHARED_DATA / "cats"
    tiny = ("--channels", 4, "--res-blocks", 1, "--batch-size", 2, "--iters", 2, "--sample-every", 2, "--device", "cpu", "-q")
    done = run_cli("train", "--a", cats / "russian_blue", "--b", cats / "grumpy", "--out", "run", "--temporal-weight", 1, *tiny)
    assert done.code == 0, done.stderr
    run = tmp_path / "run"
    assert json.loads((run / "config.json").read_text())["temporal_weight"] == 1.0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert logged["temporal_a"] > 0 and logged["temporal_b"] > 0
    assert logged["temporal"] == pytest.approx(logged["temporal_a"] + logged["temporal_b"], rel=1e-5)
    assert "temporal " in format_losses(logged)  # the progress bar shows its a/b pair

    done = run_cli("eval", "--run", "run", "--classifier-steps", 2, "--c2st-repeats", 1, "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    assert "temporal warp error" in done.stderr and "the input images' own" in done.stderr
    for figures in json.loads((run / "eval.json").read_text())["directions"].values():
        assert figures["temporal_error"] > 0 and figures["input_temporal_error"] > 0
        assert figures["temporal_pairs"] == "motions"  # image folders hold no frame pairs
