"""Performance levers: mixed precision stays close to float32, --half is refused on the CPU, the warp error
sampled on every Nth pair is the mean over exactly those pairs, and the fast H.264 preset keeps the frames."""

import av
import numpy as np
import pytest
import torch
from conftest import assert_clean_failure
from PIL import Image

from vidgan.core.devices import (
    autocast,
    fast_layout,
    inference_dtype,
    resolve_precision,
)
from vidgan.core.errors import UsageError
from vidgan.io.video import iter_frames
from vidgan.models.cyclegan import DiscriminatorConfig, GeneratorConfig, ResnetGenerator
from vidgan.render.options import RenderOptions
from vidgan.render.temporal import WarpErrorMeter, estimate_motion
from vidgan.render.video import render_video
from vidgan.training.cyclegan import CycleGANTask, LossWeights, train_cyclegan
from vidgan.training.data import ImageBank
from vidgan.training.options import CycleGANOptions

CPU = torch.device("cpu")


def _step_losses(precision: torch.dtype) -> dict[str, float]:
    """One step of a tiny CycleGAN from a fixed seed, on fixed random images."""
    images = torch.randint(0, 256, (6, 3, 16, 16), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    banks = {"a": ImageBank(images[:3], CPU), "b": ImageBank(images[3:], CPU)}
    torch.manual_seed(0)
    task = CycleGANTask(
        banks,
        GeneratorConfig.for_size(64, channels=4, res_blocks=1),
        DiscriminatorConfig(size=16, channels=4),
        LossWeights(cycle=10, identity=5),
        batch_size=2, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), diffaug=(), device=CPU, precision=precision,
    )
    return {name: value.item() for name, value in task.train_step(0, 1).items()}


def test_bf16_autocast_step_is_finite_and_close_to_float32():
    fp32, bf16 = _step_losses(torch.float32), _step_losses(torch.bfloat16)
    assert set(fp32) == set(bf16)
    for name in fp32:
        assert np.isfinite(bf16[name]), name
        assert bf16[name] == pytest.approx(fp32[name], rel=0.05, abs=0.02), name


def test_bf16_autocast_generator_output_is_close_to_float32():
    torch.manual_seed(0)
    generator = ResnetGenerator(GeneratorConfig.for_size(64, channels=8, res_blocks=2)).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        reference = generator(x)
        with autocast(CPU, torch.bfloat16):
            mixed = generator(x)
    assert mixed.dtype == torch.bfloat16
    assert (mixed.float() - reference).abs().max().item() < 0.05


def test_precision_and_half_choices_per_device():
    cuda = torch.device("cuda")  # only the device's type is looked at: no GPU needed
    assert resolve_precision("auto", CPU) == torch.float32
    assert resolve_precision("auto", cuda) == torch.bfloat16
    assert resolve_precision("bf16", CPU) == torch.bfloat16
    assert resolve_precision("fp32", cuda) == torch.float32
    assert inference_dtype(CPU, half=False) == torch.float32
    with pytest.raises(UsageError, match="--half needs a CUDA GPU"):
        inference_dtype(CPU, half=True)
    network = fast_layout(torch.nn.Conv2d(3, 8, 3), CPU)
    assert network.weight.is_contiguous()  # the CPU keeps the default layout


def test_unknown_precision_is_refused_before_the_run_folder_is_made(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(tmp_path / "images" / "red.png")
    images = tmp_path / "images"
    with pytest.raises(UsageError, match="--precision"):
        train_cyclegan(CycleGANOptions(a_dir=images, b_dir=images, out=tmp_path / "run", precision="fp16", holdout=0, quiet=True))
    assert not (tmp_path / "run").exists()


def test_half_on_the_cpu_is_a_clean_usage_error(run_cli, make_clip, tiny_run, tmp_path):
    clip = make_clip("clip.mp4", n_frames=2, width=64, height=48)
    done = run_cli("render", clip, "--run", tiny_run, "--out", tmp_path / "out.mp4", "--half", "--device", "cpu")
    assert_clean_failure(done, "--half needs a CUDA GPU", code=2)
    assert not (tmp_path / "out.mp4").exists()


def test_warp_error_is_the_mean_over_every_nth_pair(make_clip, tiny_run, tmp_path):
    clip = make_clip("clip.mp4", n_frames=10, width=96, height=64)
    options = RenderOptions(out=tmp_path / "out.mkv", fit="native", warp_error_every=3, quiet=True, device="cpu")
    result = render_video(clip, tiny_run, options)
    source = [f.rgb for f in iter_frames(clip)]
    output = [f.rgb for f in iter_frames(tmp_path / "out.mkv")]  # FFV1: the very frames that were measured
    expected = {}
    for name, frames in (("output", output), ("source", source)):
        meter = WarpErrorMeter()
        for position in (3, 6, 9):
            meter.add(frames[position - 1], None)
            meter.add(frames[position], estimate_motion(source[position - 1], source[position]))
        expected[name] = meter.value
    assert meter.pairs == 3
    assert result.clips[0].warp_errors["a2b"] == pytest.approx(expected["output"], rel=1e-6)
    assert result.clips[0].source_warp_error == pytest.approx(expected["source"], rel=1e-6)


def test_warp_error_off_is_neither_measured_nor_reported(run_cli, make_clip, tiny_run, tmp_path):
    clip = make_clip("clip.mp4", n_frames=4, width=64, height=48)
    done = run_cli("render", clip, "--run", tiny_run, "--out", tmp_path / "out.mp4", "--warp-error-every", "0",
                   "--device", "cpu", "--quiet")
    assert done.code == 0, done.stderr
    assert "warp error" not in done.stderr
    off = render_video(clip, tiny_run, RenderOptions(out=tmp_path / "off.mp4", warp_error_every=0, quiet=True, device="cpu"))
    assert off.clips[0].warp_errors["a2b"] is None and off.clips[0].source_warp_error is None


def _encode_at_x264_default(frames: np.ndarray, path) -> None:
    """The frames as H.264 at crf 18 with x264's default preset (medium), which render used before."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "18", "preset": "medium"}
        for rgb in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())


def test_fast_h264_preset_keeps_the_translated_frames(make_clip, tiny_run, tmp_path):
    clip = make_clip("clip.mp4", n_frames=6, width=96, height=64)
    for name in ("lossless.mkv", "fast.mp4"):
        render_video(clip, tiny_run, RenderOptions(out=tmp_path / name, warp_error_every=0, quiet=True, device="cpu"))
    lossless = np.stack([f.rgb for f in iter_frames(tmp_path / "lossless.mkv")])
    _encode_at_x264_default(lossless, tmp_path / "medium.mp4")
    errors = {
        name: np.abs(np.stack([f.rgb for f in iter_frames(tmp_path / name)]).astype(float) - lossless).mean()
        for name in ("fast.mp4", "medium.mp4")
    }
    assert errors["fast.mp4"] < 1.1 * errors["medium.mp4"], errors  # within 10% of x264's default preset
