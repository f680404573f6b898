"""Render basics: the working size, both directions from a checkpoint file, default names, clean errors."""

from fractions import Fraction

import numpy as np
import torch
from conftest import assert_clean_failure

from vidgan.core.directions import DIRECTIONS
from vidgan.io.video import iter_frames, probe_video
from vidgan.render.framing import working_size
from vidgan.render.options import RenderOptions
from vidgan.render.video import render_video
from vidgan.runs.checkpoints import save_checkpoint

NTSC = Fraction(30000, 1001)


def test_working_size_keeps_aspect_and_stride():
    assert working_size(1280, 720, 128, 8) == (224, 128)
    assert working_size(720, 1280, 64, 4) == (64, 112)
    assert working_size(96, 64, 64, 4) == (96, 64)


def test_render_from_checkpoint_file_both_directions(make_clip, tiny_run, tmp_path):
    source = make_clip("clip.mp4", n_frames=6, width=64, height=64)
    checkpoint = tiny_run / "checkpoints" / "latest.pt"
    outputs = []
    for d in DIRECTIONS:
        options = RenderOptions(out=tmp_path / f"{d}.mp4", directions=(d,), batch_size=4, quiet=True, device="cpu")
        outputs.append(render_video(source, checkpoint, options).clips[0].outputs[d.name])
    first = [next(iter_frames(p)).rgb.astype(int) for p in outputs]
    assert np.abs(first[0] - first[1]).mean() > 0  # two different generators


def test_cli_render_default_output_name(run_cli, make_clip, tiny_run):
    source = make_clip("take 1.mp4", n_frames=5, width=64, height=48)
    done = run_cli("render", source, "--run", tiny_run, "--device", "cpu")
    assert done.code == 0, done.stderr
    assert probe_video(source.with_name("take 1_a2b.mp4")).frame_count == 5


def test_cli_render_errors(run_cli, make_clip, tiny_run, tmp_path, audio_only_file):
    source = make_clip("clip.mp4", n_frames=4)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    empty_run = tmp_path / "empty_run"
    empty_run.mkdir()
    other = tmp_path / "other.pt"
    save_checkpoint(other, kind="dcgan", step=1, arch={}, modules={"g": torch.nn.Linear(1, 1)})
    cases = [
        (["render", tmp_path / "missing.mp4", "--run", tiny_run], ["missing.mp4", "no such file"], 1),
        (["render", text, "--run", tiny_run], ["notes.mp4", "not a readable video"], 1),
        (["render", audio_only_file, "--run", tiny_run], ["voice.m4a", "no video stream"], 1),
        (["render", source, "--run", empty_run], ["no checkpoint"], 1),
        (["render", source, "--checkpoint", other], ["dcgan", "cannot translate images (need a run of cyclegan"], 1),
        (["render", source, "--run", tiny_run, "--out", source], ["overwrite the input"], 2),
        (["render", source, "--run", tiny_run, "--direction", "sideways"], ["--direction"], 2),
        (["render", source, "--run", tiny_run, "--batch-size", "0"], ["--batch-size must be at least 1"], 2),
        (["render", source], ["--run"], 2),
    ]
    before = source.read_bytes()
    for args, fragments, code in cases:
        assert_clean_failure(run_cli(*args, "--device", "cpu"), *fragments, code=code)
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == ["clip.mp4", "notes.mp4"]  # nothing half-written
