"""Render keeps what a VFX artist needs: frame count, size, frame rate, timestamps, audio; never clobbers input."""

from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from conftest import assert_clean_failure
from vidgan.checkpoints import save_checkpoint
from vidgan.pipelines.render import render_video, working_size
from vidgan.video import iter_frames, probe_video

NTSC = Fraction(30000, 1001)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 64-px CycleGAN run trained for one step on flat colours."""
    from PIL import Image

    from vidgan.pipelines.cyclegan import train_cyclegan

    root = tmp_path_factory.mktemp("tiny")
    for domain, colour in (("a", (20, 30, 90)), ("b", (220, 170, 140))):
        (root / domain).mkdir()
        for i in range(3):
            Image.new("RGB", (64, 64), tuple(c + 5 * i for c in colour)).save(root / domain / f"{i}.png")
    train_cyclegan(root / "a", root / "b", root / "run", channels=4, res_blocks=1, iters=1, batch_size=1,
                   sample_every=1, checkpoint_every=1, quiet=True, device="cpu")
    return root / "run"


def test_working_size_keeps_aspect_and_stride():
    assert working_size(1280, 720, 128, 8) == (224, 128)
    assert working_size(720, 1280, 64, 4) == (64, 112)
    assert working_size(96, 64, 64, 4) == (96, 64)


def test_render_keeps_frames_size_rate_timestamps_and_audio(make_clip, tiny_run, tmp_path):
    source = make_clip("shot.mp4", n_frames=23, width=90, height=52, fps=NTSC, audio=True)
    result = render_video(source, tiny_run, tmp_path / "out.mp4", compare=tmp_path / "cmp.mp4", quiet=True, device="cpu")
    assert result.frames == 23
    src, out = probe_video(source), probe_video(result.out)
    assert (out.width, out.height) == (90, 52)
    assert out.fps == NTSC
    assert out.has_audio
    src_times = [round(f.time, 4) for f in iter_frames(source, keep=lambda i: False)] or None
    out_frames = list(iter_frames(result.out))
    assert len(out_frames) == 23
    assert [round(f.time, 3) for f in out_frames] == [round(f.time, 3) for f in iter_frames(source)]
    with av.open(str(result.out)) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert float(audio.duration * audio.time_base) == pytest.approx(src.duration, abs=0.1)
    side = probe_video(result.compare)
    assert (side.width, side.height) == (180, 52)
    # The left half of the side-by-side is the source.
    left = next(iter_frames(result.compare)).rgb[:, :90].astype(int)
    assert np.abs(left - next(iter_frames(source)).rgb.astype(int)).mean() < 6
    del src_times


def test_render_from_checkpoint_file_both_directions(make_clip, tiny_run, tmp_path):
    source = make_clip("clip.mp4", n_frames=6, width=64, height=64)
    checkpoint = tiny_run / "checkpoints" / "latest.pt"
    outputs = [
        render_video(source, checkpoint, tmp_path / f"{d}.mp4", direction=d, batch_size=4, quiet=True, device="cpu").out
        for d in ("a2b", "b2a")
    ]
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
        (["render", source, "--checkpoint", other], ["dcgan", "need a CycleGAN"], 1),
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
