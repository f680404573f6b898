"""Tests for vidgan render: framing, regions, image sequences, codecs, timestamps, audio, batches, resume."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import vidgan.render.translator as translator
from vidgan.core.directions import A2B
from vidgan.core.errors import UsageError, VidganError
from vidgan.io.video import VideoWriter, iter_frames, probe_video
from vidgan.render.boxes import Box
from vidgan.render.options import RenderOptions
from vidgan.render.video import render_video
from vidgan.runs.generators import load_generator

NTSC = Fraction(30000, 1001)


def _pngs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


def _read_png(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _decoded(path: Path) -> list[np.ndarray]:
    return [frame.rgb for frame in iter_frames(path)]


@pytest.mark.parametrize("fit", ["short-side", "stretch", "crop", "native"])
def test_each_fit_keeps_the_frame_size(make_clip, tiny_run, tmp_path, fit):
    clip = make_clip("wide.mp4", n_frames=6, width=90, height=50)
    out = tmp_path / f"out_{fit}"
    result = render_video(clip, tiny_run, RenderOptions(out=out, fit=fit, quiet=True))
    frames = _pngs(out)
    assert result.frames == 6 and [p.name for p in frames] == [f"wide_{i:06d}.png" for i in range(6)]
    assert all(_read_png(p).shape == (50, 90, 3) for p in frames)
    if fit == "crop":  # only the centre square is translated; the side strips are the source's
        source = _decoded(clip)
        for path, original in zip(frames, source):
            rendered = _read_png(path)
            assert np.array_equal(rendered[:, :20], original[:, :20])
            assert np.array_equal(rendered[:, 70:], original[:, 70:])
            assert not np.array_equal(rendered[:, 20:70], original[:, 20:70])


def test_region_leaves_everything_outside_the_box_bit_identical(make_clip, tiny_run, tmp_path):
    clip = make_clip("shot.mp4", n_frames=8, width=96, height=64)
    out = tmp_path / "roi.mkv"  # FFV1: lossless RGB
    render_video(clip, tiny_run, RenderOptions(out=out, roi=Box(30, 10, 40, 36), feather=6, quiet=True))
    outside = np.ones((64, 96), bool)
    outside[10:46, 30:70] = False
    changed = 0
    for original, rendered in zip(_decoded(clip), _decoded(out), strict=True):
        assert np.array_equal(rendered[outside], original[outside])
        changed += int(np.abs(rendered[16:40, 36:64].astype(int) - original[16:40, 36:64]).sum() > 0)
    assert changed == 8


def test_tracked_region_moves_with_the_boxes(make_clip, tiny_run, tmp_path):
    clip = make_clip("shot.mp4", n_frames=6, width=96, height=64)
    track = tmp_path / "boxes.csv"
    track.write_text("frame,x,y,w,h\n0,0,0,32,32\n3,60,30,30,30\n")  # frames 1-2 keep frame 0's box
    out = tmp_path / "seq"
    render_video(clip, tiny_run, RenderOptions(out=out, roi_track=track, feather=0, quiet=True))
    for i, (original, path) in enumerate(zip(_decoded(clip), _pngs(out), strict=True)):
        x, y, w, h = (0, 0, 32, 32) if i < 3 else (60, 30, 30, 30)
        outside = np.ones((64, 96), bool)
        outside[y : y + h, x : x + w] = False
        rendered = _read_png(path)
        assert np.array_equal(rendered[outside], original[outside])
        assert not np.array_equal(rendered[y : y + h, x : x + w], original[y : y + h, x : x + w])


def _write_sequence(folder: Path, numbers: list[int]) -> list[np.ndarray]:
    folder.mkdir(parents=True)
    frames = []
    for n in numbers:
        rgb = np.zeros((48, 80, 3), np.uint8)
        rgb[:, :, 0] = n % 256
        rgb[10:30, n % 50 : n % 50 + 20] = 255
        Image.fromarray(rgb).save(folder / f"shot_{n:04d}.png")
        frames.append(rgb)
    return frames


def test_sequence_in_keeps_numbering_and_count_in_both_kinds_of_output(tiny_run, tmp_path):
    numbers = [1001, 1002, 1003, 1005, 1006, 1007, 1008]  # a gap at 1004
    _write_sequence(tmp_path / "shots", numbers)
    out = tmp_path / "graded"
    result = render_video(tmp_path / "shots", tiny_run, RenderOptions(out=out, quiet=True))
    assert [p.name for p in _pngs(out)] == [f"shot_{n:04d}.png" for n in numbers]
    assert result.clips[0].frames == 7
    assert _read_png(_pngs(out)[0]).shape == (48, 80, 3)

    movie = tmp_path / "shot.mp4"
    render_video(tmp_path / "shots" / "shot_%04d.png", tiny_run, RenderOptions(out=movie, fps=Fraction(24), quiet=True))
    times = [f.time for f in iter_frames(movie)]
    assert times == pytest.approx([(n - 1001) / 24 for n in numbers])  # the gap stays a gap


@pytest.mark.parametrize(
    "name, codec, pix_fmt",
    [("out.mov", "prores", "yuv422p10le"), ("out.mkv", "ffv1", "bgr0")],
)
def test_pro_codecs_decode_back_with_size_count_and_pixel_format(make_clip, tiny_run, tmp_path, name, codec, pix_fmt):
    clip = make_clip("shot.mp4", n_frames=7, width=80, height=48, audio=True)
    out = tmp_path / name
    render_video(clip, tiny_run, RenderOptions(out=out, quiet=True))
    info = probe_video(out)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == (codec, pix_fmt)
        if codec == "prores":
            assert stream.codec_context.profile == "HQ"
        decoded = sum(1 for _ in container.decode(stream))
    assert (info.width, info.height, decoded) == (80, 48, 7)
    assert info.has_audio


def test_ntsc_and_variable_frame_rate_timestamps_and_audio_survive(make_clip, tiny_run, tmp_path):
    ntsc = make_clip("ntsc.mp4", n_frames=10, audio=True)
    out = tmp_path / "ntsc_out.mp4"
    render_video(ntsc, tiny_run, RenderOptions(out=out, quiet=True))
    assert [f.pts for f in iter_frames(out)] == [f.pts for f in iter_frames(ntsc)]
    assert probe_video(out).fps == NTSC and probe_video(out).has_audio
    render_video(ntsc, tiny_run, RenderOptions(out=tmp_path / "silent.mp4", audio=False, quiet=True))
    assert not probe_video(tmp_path / "silent.mp4").has_audio

    vfr = tmp_path / "vfr.mp4"
    given = [0, 3003, 6006, 12000, 15000, 30000, 33003, 40000]
    with VideoWriter(vfr, width=64, height=48, fps=Fraction(24), time_base=Fraction(1, 90000)) as writer:
        for i, pts in enumerate(given):
            writer.write(np.full((48, 64, 3), i * 30, np.uint8), pts=pts)
    render_video(vfr, tiny_run, RenderOptions(out=tmp_path / "vfr_out.mkv", codec="ffv1", quiet=True))
    assert [f.time for f in iter_frames(tmp_path / "vfr_out.mkv")] == pytest.approx([p / 90000 for p in given], abs=1e-3)


def test_resume_keeps_finished_frames_and_renders_the_rest(make_clip, tiny_run, tmp_path):
    clip = make_clip("shot.mp4", n_frames=8, width=64, height=48)
    out = tmp_path / "frames"
    render_video(clip, tiny_run, RenderOptions(out=out, quiet=True))
    complete = {p.name: p.read_bytes() for p in _pngs(out)}
    for p in _pngs(out)[5:]:
        p.unlink()  # as if interrupted after frame 4
    kept = _pngs(out)[2]
    kept.write_bytes(_pngs(out)[0].read_bytes())  # a kept frame is not rendered again, whatever it holds

    with pytest.raises(UsageError, match="not empty"):
        render_video(clip, tiny_run, RenderOptions(out=out, quiet=True))
    result = render_video(clip, tiny_run, RenderOptions(out=out, resume=True, quiet=True))

    assert result.clips[0].resumed == 5
    assert {p.name for p in _pngs(out)} == set(complete)
    assert kept.read_bytes() == complete[_pngs(out)[0].name]
    assert all(p.read_bytes() == complete[p.name] for p in _pngs(out)[5:])
    with pytest.raises(UsageError, match="image sequence outputs only"):
        render_video(clip, tiny_run, RenderOptions(out=tmp_path / "x.mp4", resume=True, quiet=True))


def test_output_safety_checks(make_clip, tiny_run, tmp_path):
    clip = make_clip("shot.mp4", n_frames=3)
    with pytest.raises(UsageError, match="overwrite the input"):
        render_video(clip, tiny_run, RenderOptions(out=clip, overwrite=True, quiet=True))
    (tmp_path / "done.mp4").write_bytes(b"an earlier render")
    with pytest.raises(UsageError, match="already exists .pass --overwrite"):
        render_video(clip, tiny_run, RenderOptions(out=tmp_path / "done.mp4", quiet=True))
    assert (tmp_path / "done.mp4").read_bytes() == b"an earlier render"
    with pytest.raises(UsageError, match="--codec prores needs .mov"):
        render_video(clip, tiny_run, RenderOptions(out=tmp_path / "a.mp4", codec="prores", quiet=True))
    with pytest.raises(UsageError, match="several inputs"):
        render_video([clip, clip], tiny_run, RenderOptions(out=tmp_path / "a.mp4", quiet=True))
    with pytest.raises(VidganError, match="outside"):
        render_video(clip, tiny_run, RenderOptions(out=tmp_path / "a.mp4", roi=Box(500, 500, 10, 10), quiet=True))
    assert not (tmp_path / "a.mp4").exists()


# --- reference CycleGAN weights --------------------------------------------------------------------------------
# The state dict is built here from the reference layout's key names and shapes, and its forward pass written
# out with torch.nn.functional, independently of vidgan.models.reference.


def _resnet_state(blocks: int, c: int, rng: torch.Generator) -> dict[str, torch.Tensor]:
    def conv(out: int, inp: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(out, inp, k, k, generator=rng) * 0.2, torch.randn(out, generator=rng) * 0.1

    shapes = {1: (c, 3, 7), 4: (2 * c, c, 3), 7: (4 * c, 2 * c, 3), blocks + 17: (3, c, 7)}
    state = {}
    for index, (out, inp, k) in shapes.items():
        state[f"model.{index}.weight"], state[f"model.{index}.bias"] = conv(out, inp, k)
    for b in range(blocks):
        for index in (1, 5):
            weight, bias = conv(4 * c, 4 * c, 3)
            state[f"model.{10 + b}.conv_block.{index}.weight"], state[f"model.{10 + b}.conv_block.{index}.bias"] = weight, bias
    for index, (inp, out) in ((10 + blocks, (4 * c, 2 * c)), (13 + blocks, (2 * c, c))):
        state[f"model.{index}.weight"] = torch.randn(inp, out, 3, 3, generator=rng) * 0.2  # ConvTranspose: in, out, k, k
        state[f"model.{index}.bias"] = torch.randn(out, generator=rng) * 0.1
    return state


def _resnet_forward(state: dict[str, torch.Tensor], blocks: int, x: torch.Tensor) -> torch.Tensor:
    F = torch.nn.functional

    def conv(x, key, stride=1, padding=0):
        return F.conv2d(x, state[f"{key}.weight"], state[f"{key}.bias"], stride, padding)

    x = F.relu(F.instance_norm(conv(F.pad(x, (3,) * 4, mode="reflect"), "model.1")))
    x = F.relu(F.instance_norm(conv(x, "model.4", 2, 1)))
    x = F.relu(F.instance_norm(conv(x, "model.7", 2, 1)))
    for b in range(blocks):
        y = F.relu(F.instance_norm(conv(F.pad(x, (1,) * 4, mode="reflect"), f"model.{10 + b}.conv_block.1")))
        x = x + F.instance_norm(conv(F.pad(y, (1,) * 4, mode="reflect"), f"model.{10 + b}.conv_block.5"))
    for index in (10 + blocks, 13 + blocks):
        up = F.conv_transpose2d(x, state[f"model.{index}.weight"], state[f"model.{index}.bias"], 2, 1, output_padding=1)
        x = F.relu(F.instance_norm(up))
    return torch.tanh(conv(F.pad(x, (3,) * 4, mode="reflect"), f"model.{blocks + 17}"))


def _unet_state(levels: int, c: int, rng: torch.Generator) -> dict[str, torch.Tensor]:
    """Outer to inner: widths (in, inner) of each level's down conv; every level's key prefix nests one 'model.1'/'model.3' deeper."""
    widths = [(3, c), (c, 2 * c), (2 * c, 4 * c), (4 * c, 8 * c)] + [(8 * c, 8 * c)] * (levels - 4)
    state, prefix = {}, "model.model"
    for level, (outer, inner) in enumerate(widths):
        out_up = 3 if level == 0 else outer
        innermost = level == len(widths) - 1
        down, up = (0, 3) if level == 0 else ((1, 3) if innermost else (1, 5))
        state[f"{prefix}.{down}.weight"] = torch.randn(inner, outer, 4, 4, generator=rng) * 0.2
        state[f"{prefix}.{down}.bias"] = torch.randn(inner, generator=rng) * 0.1
        state[f"{prefix}.{up}.weight"] = torch.randn(inner if innermost else 2 * inner, out_up, 4, 4, generator=rng) * 0.2
        state[f"{prefix}.{up}.bias"] = torch.randn(out_up, generator=rng) * 0.1
        prefix += ".1.model" if level == 0 else ".3.model"
    return state


def _unet_forward(state: dict[str, torch.Tensor], levels: int, x: torch.Tensor) -> torch.Tensor:
    F = torch.nn.functional

    def level(x: torch.Tensor, depth: int, prefix: str) -> torch.Tensor:
        outermost, innermost = depth == 0, depth == levels - 1
        down, up = (0, 3) if outermost else ((1, 3) if innermost else (1, 5))
        h = x if outermost else F.leaky_relu(x, 0.2)
        h = F.conv2d(h, state[f"{prefix}.{down}.weight"], state[f"{prefix}.{down}.bias"], 2, 1)
        if not innermost:
            if not outermost:
                h = F.instance_norm(h)
            h = level(h, depth + 1, prefix + (".1.model" if outermost else ".3.model"))
        h = F.conv_transpose2d(F.relu(h), state[f"{prefix}.{up}.weight"], state[f"{prefix}.{up}.bias"], 2, 1)
        return torch.tanh(h) if outermost else torch.cat([x, F.instance_norm(h)], 1)

    return level(x, 0, "model.model")


@pytest.mark.parametrize(
    "arch, build, forward, depth, size",
    [
        ("resnet_6blocks", _resnet_state, _resnet_forward, 6, 32),
        ("resnet_9blocks", _resnet_state, _resnet_forward, 9, 32),
        ("unet_128", _unet_state, _unet_forward, 7, 128),
        ("unet_256", _unet_state, _unet_forward, 8, 256),
    ],
)
def test_reference_state_dicts_load_and_match_the_reference_network(tmp_path, arch, build, forward, depth, size):
    rng = torch.Generator().manual_seed(0)
    state = build(depth, 2, rng)
    path = tmp_path / "latest_net_G_A.pth"
    torch.save(state, path)
    generator = load_generator(path, A2B, arch=arch)
    x = torch.rand(2, 3, size, size, generator=rng) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(generator(x), forward(state, depth, x), atol=1e-5)
    assert generator.config.size == (128 if arch == "unet_128" else 256)


def test_reference_weights_render_and_bad_files_are_clean_errors(make_clip, tmp_path):
    state = _resnet_state(6, 2, torch.Generator().manual_seed(0))
    weights = tmp_path / "G_A.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, weights)  # as saved from DataParallel
    clip = make_clip("shot.mp4", n_frames=3, width=64, height=48)
    result = render_video(clip, weights, RenderOptions(out=tmp_path / "out.mp4", arch="resnet_6blocks", fit="native", quiet=True))
    assert result.frames == 3 and probe_video(tmp_path / "out.mp4").width == 64
    with pytest.raises(VidganError, match="resnet_9blocks"):
        load_generator(weights, A2B, arch="resnet_9blocks")
    with pytest.raises(VidganError, match="unet_128"):
        load_generator(weights, A2B, arch="unet_128")
    pickled = tmp_path / "evil.pth"
    torch.save({"model": SimpleNamespace(x=1)}, pickled)
    with pytest.raises(VidganError, match="refused to load"):
        load_generator(pickled, A2B, arch="resnet_6blocks")


# --- flicker ---------------------------------------------------------------------------------------------------


class _FlickeringGenerator(nn.Module):
    """Passes frames through with a random brightness jump per frame: the flicker smoothing should remove."""

    config = SimpleNamespace(size=64)
    stride = 4

    def __init__(self) -> None:
        super().__init__()
        self.rng = torch.Generator().manual_seed(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 0.3 * torch.randn(x.shape[0], 1, 1, 1, generator=self.rng)).clamp(-1, 1)


def _textured_pan(i: int) -> np.ndarray:
    texture = cv2.GaussianBlur(np.random.default_rng(7).integers(0, 256, (64, 200, 3), dtype=np.uint8), (0, 0), 2)
    return cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)[:, 2 * i : 2 * i + 96].copy()


def test_temporal_smoothing_lowers_the_warp_error_of_a_flickering_translation(make_clip, tmp_path, monkeypatch):
    monkeypatch.setattr(translator, "load_generator", lambda *args, **kwargs: _FlickeringGenerator())
    clip = make_clip("pan.mp4", n_frames=12, width=96, height=64, draw=_textured_pan)
    errors = {}
    for strength in (0.0, 0.8):
        options = RenderOptions(out=tmp_path / f"s{strength}.mkv", fit="native", temporal_smooth=strength, warp_error_every=1, quiet=True)
        result = render_video(clip, tmp_path, options)
        errors[strength] = result.clips[0].warp_errors["a2b"]
        source_error = result.clips[0].source_warp_error
    assert errors[0.8] < 0.5 * errors[0.0]
    assert source_error < errors[0.8]


def test_several_inputs_both_directions_and_compare_from_the_cli(make_clip, tiny_run, tmp_path, run_cli):
    first = make_clip("one.mp4", n_frames=4, width=64, height=48, audio=True)
    second = make_clip("two.mp4", n_frames=3, width=64, height=48)
    _write_sequence(tmp_path / "shots", [1, 2, 3])
    args = ("render", first, second, tmp_path / "shots", "--run", tiny_run, "--out-dir", tmp_path / "out",
            "--direction", "both", "--compare", "--quiet")
    done = run_cli(*args)
    assert done.code == 0, done.stderr
    out = tmp_path / "out"
    for stem, count in (("one", 4), ("two", 3)):
        for direction in ("a2b", "b2a"):
            info = probe_video(out / f"{stem}_{direction}.mp4")
            assert (info.width, info.frame_count) == (64, count)
            assert probe_video(out / f"{stem}_{direction}_compare.mp4").width == 128
            assert f"{stem}_{direction}.mp4" in done.stderr
    assert probe_video(out / "one_b2a.mp4").has_audio
    assert [p.name for p in _pngs(out / "shot_a2b")] == ["shot_0001.png", "shot_0002.png", "shot_0003.png"]
    assert "warp error" in done.stderr
