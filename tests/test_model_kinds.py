"""Model kinds plug in from outside vidgan: a toy kind defined here (a one-layer a→b generator, its own options
and task) is registered with `register_kind` and then trained, rendered, translated and evaluated through the CLI
like vidgan's own kinds (resumed and reported too); and every kind vidgan registers resolves to what its record
names."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from conftest import assert_clean_failure
from PIL import Image
from torch import nn
from torchvision.utils import make_grid

from vidgan.core.directions import Direction
from vidgan.core.options import AT_LEAST_1, POSITIVE, option
from vidgan.io.batches import to_float, to_uint8
from vidgan.io.video import iter_frames
from vidgan.models.protocol import Generator
from vidgan.runs.images import load_training_images
from vidgan.runs.kinds import A2B_ONLY, MODEL_KINDS, TEACHER_RUN, TWO_DOMAINS, ModelKind, kind_names, model_kind, register_kind
from vidgan.runs.splits import load_split
from vidgan.training.launch import training_split
from vidgan.training.options import TrainOptions, given

RED, BLUE = (200, 40, 40), (40, 40, 200)


@dataclass(frozen=True)
class ToyConfig:
    size: int = 16

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ToyGenerator(nn.Module):
    """One 1×1 convolution and tanh: N×3×H×W in [-1, 1] → the same."""

    stride = 1

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        self.layer = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.layer(x))


@dataclass(frozen=True, kw_only=True)
class ToyOptions(TrainOptions):
    """A toy one-layer a→b translator."""

    kind: ClassVar[str] = "toy"

    a_dir: Path = given("Image folder of domain a.")
    b_dir: Path = given("Image folder of domain b.")
    size: int = option(16, "Side of the training images.", bounds=AT_LEAST_1)
    lr: float = option(0.05, "Adam learning rate.", bounds=POSITIVE)


class ToyTask:
    """Moves the mean colour of G(a) towards domain b's."""

    kind = "toy"

    def __init__(self, options: ToyOptions, device: torch.device) -> None:
        splits = training_split(options, {"a": options.a_dir, "b": options.b_dir})
        images = {d: load_training_images(getattr(options, f"{d}_dir"), splits and splits[d], options.size) for d in "ab"}
        self.a, self.b = to_float(images["a"]).to(device), to_float(images["b"]).to(device)
        config = ToyConfig(options.size)
        self.generator = ToyGenerator(config).to(device)
        self.arch = {"generator": config.to_dict()}
        self.modules = {"generator": self.generator}
        self.optimizers = {"generator": torch.optim.Adam(self.generator.parameters(), lr=options.lr)}

    def train_step(self, step: int, total_steps: int) -> dict[str, torch.Tensor]:
        loss = (self.generator(self.a).mean(dim=(0, 2, 3)) - self.b.mean(dim=(0, 2, 3))).abs().sum()
        self.optimizers["generator"].zero_grad()
        loss.backward()
        self.optimizers["generator"].step()
        return {"colour": loss.detach()}

    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        return make_grid(to_uint8(torch.cat([self.a[:4], self.generator(self.a[:4])])), nrow=4)


def build_toy_task(config: dict[str, Any], device: torch.device) -> ToyTask:
    return ToyTask(ToyOptions.from_config(config), device)


def load_toy_generator(checkpoint: dict[str, Any], direction: Direction, device: Any, averaged: bool) -> ToyGenerator:
    generator = ToyGenerator(ToyConfig(**checkpoint["arch"]["generator"]))
    generator.load_state_dict(checkpoint["models"]["generator"])
    return generator.to(device).eval().requires_grad_(False)


TOY = ModelKind(
    name="toy",
    options=ToyOptions,
    build_task=build_toy_task,
    data=TWO_DOMAINS,
    directions=A2B_ONLY,
    load_generator=load_toy_generator,
    evaluate="vidgan.eval.cyclegan:evaluate_translation_run",
    eval_table="vidgan.eval.cyclegan:translation_table",
)


@pytest.fixture
def toy_kind():
    register_kind(TOY)
    yield TOY
    del MODEL_KINDS[TOY.name]


def _domains(root: Path) -> Path:
    for domain, colour in (("a", RED), ("b", BLUE)):
        (root / domain).mkdir(parents=True)
        for i in range(8):
            pixels = np.clip(np.array(colour) + np.random.default_rng(i).integers(-20, 20, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / domain / f"{i}.png")
    return root


def _red_frame(_index: int) -> np.ndarray:
    return np.broadcast_to(np.array(RED, np.uint8), (64, 96, 3)).copy()


def test_a_kind_registered_from_outside_trains_renders_translates_and_evaluates(toy_kind, run_cli, make_clip, tmp_path):
    data = _domains(tmp_path / "data")
    run = tmp_path / "run"
    tiny = ("--iters", 30, "--batch-size", 2, "--holdout", 0.25, "--sample-every", 30, "--checkpoint-every", 30, "--device", "cpu", "-q")
    trained = run_cli("train", "toy", data, "--out", run, *tiny)
    assert trained.code == 0, trained.stderr
    config = json.loads((run / "config.json").read_text())
    assert (config["kind"], config["size"], config["lr"]) == ("toy", 16, 0.05)
    assert {d: len(s.held_out) for d, s in load_split(run / "split.json").items()} == {"a": 2, "b": 2}
    resumed = run_cli("train", "--out", run, "--resume", "--iters", 32, "--device", "cpu", "-q")
    assert resumed.code == 0 and "resuming at step 30" in resumed.stderr, resumed.stderr
    assert torch.load(run / "checkpoints" / "latest.pt", weights_only=True)["step"] == 32

    generator = load_toy_generator(torch.load(run / "checkpoints" / "latest.pt", weights_only=True), A2B_ONLY[0], "cpu", True)
    assert isinstance(generator, Generator)
    red = to_float(torch.tensor(RED, dtype=torch.uint8)[None, :, None, None].expand(1, 3, 16, 16))
    toy_red = to_uint8(generator(red))[0, :, 0, 0].int()
    assert toy_red[2] > toy_red[0]  # trained: red comes out bluer than red

    translated = run_cli("translate", data / "a", "--run", run, "--out", tmp_path / "translated", "--device", "cpu", "-q")
    assert translated.code == 0, translated.stderr
    source = torch.from_numpy(np.array(Image.open(data / "a" / "3.png"))).permute(2, 0, 1)[None]
    expected = to_uint8(generator(to_float(source)))[0].permute(1, 2, 0).int()
    written = torch.from_numpy(np.array(Image.open(tmp_path / "translated" / "3.png"))).int()
    assert (written - expected).abs().max() <= 1

    clip = make_clip("red.mp4", n_frames=6, draw=_red_frame)
    rendered = run_cli("render", clip, "--run", run, "--out", tmp_path / "out.mp4", "--device", "cpu", "-q")
    assert rendered.code == 0, rendered.stderr
    frames = [frame.rgb for frame in iter_frames(tmp_path / "out.mp4")]
    assert len(frames) == 6
    assert np.abs(frames[3][32, 48].astype(int) - toy_red.numpy()).max() <= 6  # the toy's red, through the codec

    for direction in ("b2a", "both"):
        refused = run_cli("render", clip, "--run", run, "--direction", direction, "--out", tmp_path / f"{direction}.mp4", "--device", "cpu")
        assert_clean_failure(refused, "toy run translates a2b only", code=2)
        assert not (tmp_path / f"{direction}.mp4").exists()

    evaluated = run_cli("eval", "--run", run, "--classifier-steps", 2, "--c2st-repeats", 1, "--device", "cpu", "-q")
    assert evaluated.code == 0, evaluated.stderr
    results = json.loads((run / "eval.json").read_text())
    assert (results["kind"], list(results["directions"]), results["images"]["a"]) == ("toy", ["a2b"], 2)
    assert results["directions"]["a2b"]["cycle_l1"] is None and 0 <= results["directions"]["a2b"]["translation_score"] <= 1
    assert "a→b" in evaluated.stderr and "b→a" not in evaluated.stderr
    assert run_cli("report", run).code == 0
    assert "<title>vidgan toy run run</title>" in (run / "report.html").read_text()


def test_every_builtin_kind_resolves_what_its_record_names():
    for name in kind_names():
        kind = model_kind(name)
        assert kind.options_type.kind == name
        for field in ("build_task", "train", "evaluate", "eval_table", "load_generator", "load_sampler"):
            if getattr(kind, field) is not None:
                assert callable(kind.get(field)), (name, field)
        assert bool(kind.directions) == (kind.load_sampler is None)
        inputs = {TWO_DOMAINS: {"a_dir", "b_dir"}, TEACHER_RUN: {"teacher"}}.get(kind.data, {"data"})
        assert {f.name for f in fields(kind.options_type)} >= inputs


def test_an_unknown_kind_is_named_with_the_known_ones(tmp_path):
    with pytest.raises(Exception, match=r"unknown kind of model \('toy'; vidgan knows cyclegan, cut, fastcut, distill, dcgan"):
        model_kind("toy", tmp_path)
