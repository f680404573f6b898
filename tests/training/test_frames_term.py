"""`vidgan train --temporal-form frames`: the consecutive-frames form of the temporal term, on the pairs
`vidgan extract --pair-gap` keeps."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import assert_clean_failure

from vidgan.core.directions import DIRECTIONS
from vidgan.core.errors import UsageError
from vidgan.io.extract import extract_frames
from vidgan.io.motion import Motion
from vidgan.io.pairs import PairFiles, write_pair
from vidgan.runs.config import upgrade_config
from vidgan.training.options import DEFAULT_TEMPORAL_FORM, PAIRED_TEMPORAL_WEIGHT, CycleGANOptions
from vidgan.training.temporal import FramePairs, FramesTerm, frames_loss, load_frame_pairs

TINY = ("--channels", 4, "--res-blocks", 1, "--batch-size", 2, "--iters", 2, "--sample-every", 2, "--device", "cpu", "-q")


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """H×W×3 uint8 smooth random texture."""
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(cv2.resize(rng.integers(0, 256, (height // 4, width // 4, 3), dtype=np.uint8), (width, height)), (0, 0), 1.0)


def shifted_pair(shift: int = 3, side: int = 32) -> tuple[torch.Tensor, ...]:
    """(first, later, flow, reliable) of one pair: `later` is `first` moved `shift` px to the right, so each of
    its pixels was `shift` px to the left (the flow), trusted everywhere."""
    whole = torch.from_numpy(texture(side, side + shift)).permute(2, 0, 1).float() / 127.5 - 1
    first, later = whole[None, :, :, shift:], whole[None, :, :, :side]
    flow = torch.zeros(1, 2, side, side)
    flow[:, 0] = -shift
    return first, later, flow, torch.ones(1, 1, side, side)


def test_the_frames_loss_is_zero_for_a_generator_that_moves_with_the_footage_and_not_for_flicker():
    first, later, flow, reliable = shifted_pair()
    assert frames_loss(lambda x: x, first, later, flow, reliable).item() < 1e-5
    assert frames_loss(lambda x: 0.5 * x + 0.1, first, later, flow, reliable).item() < 1e-5  # pointwise maps move alike
    generator = torch.Generator().manual_seed(0)
    flicker = lambda x: x + 0.2 * torch.randn(x.shape, generator=generator)  # new noise for every frame
    assert frames_loss(flicker, first, later, flow, reliable).item() > 0.1
    still = torch.zeros_like(flow)  # the right frames under a wrong (no) motion: the footage's own change counts
    assert frames_loss(lambda x: x, first, later, still, reliable).item() > 0.05
    assert frames_loss(flicker, first, later, flow, torch.zeros_like(reliable)).item() == 0.0  # nothing trusted


def test_pairs_are_cut_to_windows_shared_by_their_four_parts():
    side, count = 8, 6
    rows = torch.arange(24, dtype=torch.uint8)[None, None, :, None].expand(3, 3, 24, 40).contiguous()
    cols = torch.arange(40, dtype=torch.float16)[None, None, None, :].expand(3, 2, 24, 40).contiguous()
    pairs = FramePairs(rows, rows + 100, cols, torch.ones(3, 1, 24, 40, dtype=torch.bool))
    first, later, flow, reliable = pairs.crops(count, side, torch.device("cpu"))
    assert first.shape == later.shape == (count, 3, side, side) and flow.shape == (count, 2, side, side)
    assert flow.dtype == torch.float32 and reliable.shape == (count, 1, side, side) and bool(reliable.all())
    top = (first[:, 0, 0, 0] + 1) * 127.5
    left = flow[:, 0, 0, 0]
    for i in range(count):  # every part of pair i comes from the same window
        assert torch.allclose((first[i, 0, :, 0] + 1) * 127.5, top[i] + torch.arange(side))
        assert torch.allclose((later[i, 0, :, 0] + 1) * 127.5, top[i] + 100 + torch.arange(side))
        assert torch.equal(flow[i, 0, 0], left[i] + torch.arange(side, dtype=torch.float32))


def test_pairs_take_the_training_images_geometry_with_their_flow(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    frame = texture(64, 96)
    cv2.imwrite(str(folder / "f0.png"), frame[..., ::-1])
    flow = np.zeros((64, 96, 2), np.float32)
    flow[..., 0], flow[..., 1] = -4.0, 2.0
    reliable = np.ones((64, 96), bool)
    reliable[:, :20] = False
    write_pair(PairFiles.of(folder, "f0.png"), frame, Motion(flow, reliable))

    squares = load_frame_pairs(folder, ["f0.png"], 32, whole=False)  # the centred 64x64, halved
    assert squares.first.shape == squares.later.shape == (1, 3, 32, 32) and squares.first.dtype == torch.uint8
    assert squares.flow.dtype == torch.float16 and torch.equal(squares.flow[0, :, 5, 5], torch.tensor([-2.0, 1.0], dtype=torch.float16))
    assert not squares.reliable[0, 0, :, :1].any() and squares.reliable[0, 0, :, 2:].all()  # 20 - 16 = 4 px cut off, halved
    whole = load_frame_pairs(folder, ["f0.png"], 64, whole=True)  # as stored
    assert whole.first.shape == (1, 3, 64, 96) and torch.equal(whole.first[0], torch.from_numpy(frame).permute(2, 0, 1))
    with pytest.raises(UsageError, match=f"{folder}: no frame pairs.*--pair-gap"):
        load_frame_pairs(folder, ["other.png"], 32, whole=False)


@pytest.fixture
def paired_data(make_clip, tmp_path) -> Path:
    """DATA with a/ and b/ extracted with --pair-gap 1 (whole 96x64 frames of moving clips)."""
    clips = {d: make_clip(f"{d}.mp4", n_frames=12) for d in ("a", "b")}
    extract_frames({d: [clip] for d, clip in clips.items()}, tmp_path / "data", every=3, pair_gap=1, scale=64, quiet=True)
    return tmp_path / "data"


def test_a_run_with_the_frames_form_records_it_and_logs_the_term_per_domain(paired_data, run_cli, tmp_path):
    done = run_cli("train", paired_data, "--crop", 64, "--out", "run", "--temporal-weight", 2, "--temporal-form", "frames", *TINY)
    assert done.code == 0, done.stderr
    run = tmp_path / "run"
    config = json.loads((run / "config.json").read_text())
    assert (config["temporal_weight"], config["temporal_form"]) == (2.0, "frames")
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert logged["temporal_a"] > 0 and logged["temporal_b"] > 0
    assert logged["temporal"] == pytest.approx(logged["temporal_a"] + logged["temporal_b"], rel=1e-5)


def test_the_frames_form_without_pairs_is_a_usage_error_naming_the_folder(paired_data, run_cli, tmp_path):
    for pair in (paired_data / "b" / "pairs").iterdir():
        pair.unlink()
    weighted = ("train", paired_data, "--crop", 64, "--out", "run", "--temporal-weight", 1)
    done = run_cli(*weighted, "--temporal-form", "frames", *TINY)
    assert_clean_failure(done, f"{(paired_data / 'b').resolve()}: no frame pairs", "vidgan extract --pair-gap", code=2)
    assert not (tmp_path / "run").exists()
    done = run_cli(*weighted, "--temporal-form", "bogus", *TINY)
    assert_clean_failure(done, "--temporal-form", code=2)


def test_a_run_on_frame_pairs_trains_the_frames_term_by_default(paired_data, run_cli, tmp_path):
    done = run_cli("train", paired_data, "--crop", 64, "--out", "run", *TINY)
    assert done.code == 0, done.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["temporal_weight"], config["temporal_form"]) == (PAIRED_TEMPORAL_WEIGHT, "frames")
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][-1]
    assert logged["temporal_a"] > 0 and logged["temporal_b"] > 0


def test_eval_measures_the_temporal_error_on_the_held_out_frames_pairs(paired_data, run_cli, tmp_path):
    done = run_cli("train", paired_data, "--crop", 64, "--out", "run", "--holdout", 0.3, *TINY)
    assert done.code == 0, done.stderr
    done = run_cli("eval", "--run", "run", "--classifier-steps", 2, "--c2st-repeats", 1, "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    assert "pairs: frames" in done.stderr
    for figures in json.loads((tmp_path / "run" / "eval.json").read_text())["directions"].values():
        assert figures["temporal_pairs"] == "frames" and figures["input_temporal_error"] > 0


def test_auto_takes_the_frames_form_and_its_weight_only_where_both_folders_hold_pairs():
    options = CycleGANOptions(a_dir=Path("/a"), b_dir=Path("/b"))
    assert (options.temporal_weight, options.temporal_form) == (None, "auto")
    resolve = lambda paired, **set: (lambda o: (o.temporal_weight, o.temporal_form))(replace(options, **set).resolved(64, paired))
    assert resolve(True) == (PAIRED_TEMPORAL_WEIGHT, "frames") and resolve(False) == (0.0, "equivariance")
    assert resolve(True, temporal_weight=0.0) == (0.0, "frames")  # a weight given is kept, 0 included
    assert resolve(True, temporal_form="equivariance") == (PAIRED_TEMPORAL_WEIGHT, "equivariance")
    assert resolve(False, temporal_weight=2.0, temporal_form="frames") == (2.0, "frames")


def test_the_form_is_recorded_and_older_runs_trained_with_equivariance():
    assert DEFAULT_TEMPORAL_FORM == CycleGANOptions.temporal_form == "auto"
    options = CycleGANOptions(a_dir=Path("/a"), b_dir=Path("/b"), temporal_weight=1.0, temporal_form="frames").resolved(64)
    assert CycleGANOptions.from_config(options.to_config()).temporal_form == "frames"
    with pytest.raises(UsageError, match="--temporal-form must be auto, equivariance or frames"):
        CycleGANOptions(a_dir=Path("/a"), b_dir=Path("/b"), temporal_form="flow").validate()
    config = {**options.to_config(), "kind": "cyclegan", "generator": options.generator().to_dict(),
              "discriminator": options.discriminator().to_dict(), "working_scale": 64}  # fmt: skip
    assert upgrade_config({**config, "versions": {"vidgan": "0.6.0"}})["temporal_form"] == "frames"
    del config["temporal_form"]
    for version in ("0.5.0", "0.6.0"):
        assert upgrade_config({**config, "versions": {"vidgan": version}})["temporal_form"] == "equivariance"


def test_the_term_draws_pairs_of_the_source_domain():
    first, later, flow, reliable = shifted_pair(side=16)
    steady = FramePairs(*(((x + 1) * 127.5).round().to(torch.uint8) for x in (first, later)), flow.half(), reliable.bool())
    noisy = FramePairs(steady.first, torch.randint(0, 256, steady.later.shape, dtype=torch.uint8), steady.flow, steady.reliable)
    term = FramesTerm({"a": steady, "b": noisy}, side=16)
    images = torch.zeros(2, 3, 16, 16)
    losses = {d.source: term(d, lambda x: x, images, images).item() for d in DIRECTIONS}
    assert losses["a"] < 0.02 and losses["b"] > 0.2  # rounding to uint8 leaves a trace on the steady pair


@pytest.mark.slow  # a run trained and translated twice: about 8 s idle
def test_a_cut_run_trains_the_frames_form_and_translates_alike_in_torch_and_onnx_runtime(paired_data, run_cli, tmp_path):
    done = run_cli("train", "cut", paired_data, "--crop", 64, "--out", "run", "--temporal-weight", 2, "--temporal-form", "frames",
                   "--nce-patches", 16, *TINY)  # fmt: skip
    assert done.code == 0, done.stderr
    run = tmp_path / "run"
    config = json.loads((run / "config.json").read_text())
    assert (config["kind"], config["temporal_weight"], config["temporal_form"]) == ("cut", 2.0, "frames")
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert logged["temporal_b"] > 0 and "temporal_a" not in logged  # one generator, a→b: named by the domain it makes
    outputs = {}
    for runtime in ("torch", "onnxruntime"):
        done = run_cli("translate", paired_data / "a", "--run", run, "--out", runtime, "--runtime", runtime, "--device", "cpu", "-q")
        assert done.code == 0, done.stderr
        outputs[runtime] = sorted((tmp_path / runtime).glob("*.png"))
    assert [p.name for p in outputs["torch"]] == [p.name for p in outputs["onnxruntime"]] and outputs["torch"]
    for ours, theirs in zip(outputs["torch"], outputs["onnxruntime"]):
        difference = cv2.absdiff(cv2.imread(str(ours)), cv2.imread(str(theirs)))
        assert difference.max() <= 1, ours.name
