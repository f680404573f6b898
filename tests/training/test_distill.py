"""`vidgan distill`: a small student learns a trained run's translations and is a run like any other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_clean_failure, write_random_domains
from PIL import Image
from torch import nn

from vidgan.models.arch import DiscriminatorConfig
from vidgan.models.cyclegan import GeneratorConfig, build_generator, feature_taps
from vidgan.runs.checkpoints import load_latest_checkpoint, weights_digest
from vidgan.runs.generators import generator_from_checkpoint, load_generator
from vidgan.runs.splits import load_split
from vidgan.training.distill import DistillTask, FeatureTaps, student_config, tap_pairs
from vidgan.training.options import CycleGANOptions, DistillOptions
from vidgan.training.translation import training_banks

TINY_TEACHER = dict(channels=8, res_blocks=1, batch_size=2, iters=2, holdout=0.25, quiet=True, device="cpu")
TINY_STUDENT = ("--width", "2", "--batch-size", "2", "--device", "cpu", "--quiet")


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A 64-px U-Net CycleGAN run (2 steps) on 8 random images per domain, a quarter of them held out."""
    from vidgan.training.cyclegan import train_cyclegan

    root = tmp_path_factory.mktemp("teacher")
    write_random_domains(root, 8)
    train_cyclegan(CycleGANOptions(a_dir=root / "a", b_dir=root / "b", out=root / "run", **TINY_TEACHER))
    return root / "run"


@pytest.mark.parametrize("kind", ["unet", "resnet"])
def test_teacher_and_student_features_are_tapped_at_the_same_resolutions(kind):
    teacher = build_generator(GeneratorConfig.for_size(64, channels=16, res_blocks=3, kind=kind))
    student = build_generator(GeneratorConfig.for_size(64, channels=4, res_blocks=1, kind=kind))
    theirs, ours = tap_pairs(teacher, student)
    assert len(theirs) == len(ours) == len(feature_taps(teacher)) >= 3
    taps = FeatureTaps(teacher, theirs), FeatureTaps(student, ours)
    image = torch.zeros(1, 3, 64, 64)
    teacher(image), student(image)
    for t, s in zip(taps[0].features(), taps[1].features()):
        assert t.shape[-2:] == s.shape[-2:] and t.shape[1] == 4 * s.shape[1]


def test_a_student_without_bottleneck_blocks_matches_the_decoder_alone():
    teacher = build_generator(GeneratorConfig.for_size(64, channels=8, res_blocks=2, kind="unet"))
    student = build_generator(GeneratorConfig.for_size(64, channels=2, res_blocks=0, kind="unet"))
    theirs, ours = tap_pairs(teacher, student)
    assert theirs[0] != "bottleneck" and ours == theirs and len(ours) == 2


def test_distill_through_the_cli_makes_a_student_run_that_renders_translates_exports_and_evaluates(
    teacher, tmp_path, run_cli, make_clip
):
    student = tmp_path / "student"
    done = run_cli("distill", teacher, "--out", student, "--iters", "3", *TINY_STUDENT)
    assert done.code == 0, done.stderr
    config = json.loads((student / "config.json").read_text())
    assert (config["kind"], config["directions"], config["width"]) == ("distill", ["a2b", "b2a"], 2)
    checkpoint = load_latest_checkpoint(teacher)
    teachers = {d: generator_from_checkpoint(checkpoint, d) for d in ("a2b", "b2a")}
    assert config["teacher_digest"] == weights_digest(nn.ModuleDict(teachers)) and config["teacher"] == str(teacher.resolve())
    # the student is the teacher's family and depth at its own width; the split is the teacher's
    assert config["generator"] == {**checkpoint["arch"]["generator"], "channels": 2, "res_blocks": 1, "attention": False}
    ours, theirs = load_split(student / "split.json"), load_split(teacher / "split.json")
    assert {d: (s.folder, s.train, s.held_out) for d, s in ours.items()} == {d: (s.folder, s.train, s.held_out) for d, s in theirs.items()}
    assert load_generator(student, "b2a").config.channels == 2

    clip = make_clip("clip.mp4", n_frames=6, width=96, height=64)
    done = run_cli("render", clip, "--run", student, "--out", tmp_path / "out.mp4", "--device", "cpu")
    assert done.code == 0, done.stderr
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(images / "x.png")
    done = run_cli("translate", images, "--run", student, "--out", tmp_path / "translated", "--device", "cpu")
    assert done.code == 0 and len(list((tmp_path / "translated").glob("*.png"))) == 1, done.stderr
    done = run_cli("export", "--run", student, "--out", tmp_path / "student.onnx", "--format", "onnx")
    assert done.code == 0 and (tmp_path / "student.onnx").stat().st_size > 0, done.stderr
    done = run_cli("eval", "--run", student, "--device", "cpu", "--classifier-steps", "4", "--c2st-repeats", "1", "--quiet")
    assert done.code == 0, done.stderr
    agreement = json.loads((student / "eval.json").read_text())["directions"]["a2b"]
    assert 0 < agreement["teacher_psnr"] < 100 and 0 <= agreement["teacher_max_error"] <= 255
    assert "agreement with the teacher" in done.stderr and "largest difference from the teacher" in done.stderr


def test_a_resumed_distillation_ends_as_an_uninterrupted_one(teacher, tmp_path, run_cli):
    common = ("--direction", "a2b", "--checkpoint-every", "2", *TINY_STUDENT)
    assert run_cli("distill", teacher, "--out", tmp_path / "whole", "--iters", "4", *common).code == 0
    assert run_cli("distill", teacher, "--out", tmp_path / "parts", "--iters", "2", *common).code == 0
    done = run_cli("train", "--out", tmp_path / "parts", "--resume", "--iters", "4", "--device", "cpu", "--quiet")
    assert done.code == 0, done.stderr
    whole, parts = (load_latest_checkpoint(tmp_path / run)["models"]["generators"] for run in ("whole", "parts"))
    assert whole.keys() == parts.keys() and all(torch.equal(whole[k], parts[k]) for k in whole)


def test_a_student_of_one_direction_refuses_the_other(teacher, tmp_path, run_cli, make_clip):
    student = tmp_path / "student"
    assert run_cli("distill", teacher, "--out", student, "--iters", "1", "--direction", "a2b", *TINY_STUDENT).code == 0
    clip = make_clip("clip.mp4", n_frames=3)
    done = run_cli("render", clip, "--run", student, "--direction", "b2a", "--out", tmp_path / "o.mp4", "--device", "cpu")
    assert_clean_failure(done, "b2a", code=2)


def test_a_student_whose_teacher_weights_changed_is_refused(teacher, tmp_path, run_cli):
    student = tmp_path / "student"
    assert run_cli("distill", teacher, "--out", student, "--iters", "1", "--direction", "a2b", *TINY_STUDENT).code == 0
    config = json.loads((student / "config.json").read_text())
    config["teacher_digest"] = "0" * 64
    (student / "config.json").write_text(json.dumps(config))
    done = run_cli("train", "--out", student, "--resume", "--iters", "2", "--device", "cpu", "--quiet")
    assert_clean_failure(done, "teacher's weights differ")


def test_only_translation_runs_can_be_distilled(tmp_path, run_cli):
    from vidgan.training.gan import train_dcgan
    from vidgan.training.options import DCGANOptions

    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(images / f"{i}.png")
    train_dcgan(DCGANOptions(data=images, out=tmp_path / "dcgan", size=16, channels=4, iters=1, batch_size=2, quiet=True, device="cpu"))
    done = run_cli("distill", tmp_path / "dcgan", "--out", tmp_path / "student", "--device", "cpu")
    assert_clean_failure(done, "dcgan", code=2)


def test_the_student_learns_the_teacher(teacher):
    """Twenty steps at a high rate bring the student's output well closer to the teacher's."""
    checkpoint = load_latest_checkpoint(teacher)
    options = DistillOptions(teacher=teacher, out=Path("unused"), width=4, gan_weight=0.0, lr=3e-3, ema=0.0, batch_size=4)
    teacher_options = CycleGANOptions.from_config(json.loads((teacher / "config.json").read_text()))
    banks = training_banks(teacher_options, {"working_scale": 64}, torch.device("cpu"), None)
    torch.manual_seed(0)
    task = DistillTask(
        {"a2b": generator_from_checkpoint(checkpoint, "a2b")}, banks,
        student_config(GeneratorConfig(**checkpoint["arch"]["generator"]), options), DiscriminatorConfig(size=64, channels=8),
        {}, options, diffaug=(), device=torch.device("cpu"),
    )  # fmt: skip
    first = task.train_step(0, 20)["recon"].item()
    for step in range(1, 20):
        last = task.train_step(step, 20)["recon"].item()
    assert last < 0.7 * first
