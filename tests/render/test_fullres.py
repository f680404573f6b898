"""Full-resolution renders through the CLI: --detail source|model, --matte, --scale, --tile, and their bad values."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from conftest import assert_clean_failure
from torch import nn

import vidgan.render.tiles as tiles
import vidgan.render.translator as translator
from vidgan.io.video import iter_frames


class _Generator(nn.Module):
    """A stand-in generator (stride 4, 64-px training size) that records the sizes it is run at."""

    config = SimpleNamespace(size=64)
    stride = 4

    def __init__(self, change=None) -> None:
        super().__init__()
        self.change = change
        self.sizes: list[tuple[int, int]] = []  # (width, height) of each batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append((x.shape[3], x.shape[2]))
        return x if self.change is None else self.change(x)


def _brighten(x: torch.Tensor) -> torch.Tensor:
    """64 levels brighter: a change that keeps the structure."""
    return (x + 0.5).clamp(-1, 1)


def _brighten_left_half(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    half = x.shape[3] // 2
    out[:, :, :, :half] = _brighten(x[:, :, :, :half])
    return out


def _with_generator(monkeypatch, generator: nn.Module) -> nn.Module:
    monkeypatch.setattr(translator, "load_generator", lambda *args, **kwargs: generator)
    return generator


def _detailed_frame(i: int, width: int = 160, height: int = 96) -> np.ndarray:
    """Fine detail (grain, 1-px lines) that a 64-px working scale cannot hold."""
    rng = np.random.default_rng(i)
    ys, xs = np.mgrid[0:height, 0:width]
    frame = np.dstack([40 + xs, 60 + ys, 200 - xs]).astype(np.float32) + rng.normal(0, 6, (height, width, 1))
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    for column in range(3 + i, width, 9):
        frame[:, column] = 240
    return frame


def _pngs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _matte(path: Path) -> np.ndarray:
    matte = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert matte.dtype == np.uint16 and matte.ndim == 2
    return matte


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def test_identity_round_trip_is_the_source_bit_for_bit_and_its_matte_zero(make_clip, run_cli, monkeypatch, tmp_path):
    _with_generator(monkeypatch, _Generator())
    clip = make_clip("shot.mkv", n_frames=4, width=160, height=96, draw=_detailed_frame)
    source = [f.rgb for f in iter_frames(clip)]
    done = run_cli("render", clip, "--run", tmp_path, "--out", tmp_path / "source.mkv", "--matte", "--device", "cpu")
    assert done.code == 0, done.stderr
    outputs = [f.rgb for f in iter_frames(tmp_path / "source.mkv")]  # FFV1: lossless
    assert len(outputs) == 4 and all(np.array_equal(o, s) for o, s in zip(outputs, source))
    mattes = _pngs(tmp_path / "source_matte")
    assert [p.name for p in mattes] == [f"shot_{i:06d}.png" for i in range(4)]  # named like the output's frames
    assert all(_matte(p).max() == 0 for p in mattes)
    # --detail model scales the 64-px translation back up: the fine detail is gone.
    done = run_cli("render", clip, "--run", tmp_path, "--out", tmp_path / "model.mkv", "--detail", "model", "--device", "cpu")
    assert done.code == 0, done.stderr
    assert _psnr(next(iter_frames(tmp_path / "model.mkv")).rgb, source[0]) < 30


def test_a_change_is_composited_through_the_matte_and_the_rest_stays_exact(make_clip, run_cli, monkeypatch, tmp_path):
    _with_generator(monkeypatch, _Generator(_brighten_left_half))
    clip = make_clip("shot.mkv", n_frames=3, width=160, height=96, draw=_detailed_frame)
    source = [f.rgb for f in iter_frames(clip)]
    for detail in ("source", "model"):
        out = tmp_path / detail
        done = run_cli("render", clip, "--run", tmp_path, "--out", out, "--detail", detail, "--matte", "--device", "cpu")
        assert done.code == 0, done.stderr
        assert f"change matte: {tmp_path / (detail + '_matte')}" in done.stderr.replace("\n", "")
        for rgb_path, matte_path, plate in zip(_pngs(out), _pngs(tmp_path / f"{detail}_matte"), source):
            rgb, matte = _rgb(rgb_path), _matte(matte_path)
            assert matte[:, :60].mean() > 0.9 * 65535 and matte[:, 100:].max() == 0  # the changed half, and the rest
            if detail == "source":
                untouched = matte == 0
                assert np.array_equal(rgb[untouched], plate[untouched])
                # The brightened half keeps the plate's 1-px lines: its luma detail comes from the source.
                grey = lambda image: cv2.cvtColor(image[:, :60], cv2.COLOR_RGB2GRAY).astype(float)
                kept = np.corrcoef(cv2.Laplacian(grey(rgb), cv2.CV_64F).ravel(), cv2.Laplacian(grey(plate), cv2.CV_64F).ravel())
                assert kept[0, 1] > 0.8
            else:
                assert not np.array_equal(rgb[:, 100:], plate[:, 100:])  # model: the whole frame is the upscaled translation


def test_regions_limit_the_matte_to_the_box(make_clip, run_cli, monkeypatch, tmp_path):
    _with_generator(monkeypatch, _Generator(_brighten))
    clip = make_clip("shot.mkv", n_frames=2, width=160, height=96, draw=_detailed_frame)
    source = [f.rgb for f in iter_frames(clip)]
    track = tmp_path / "track.csv"
    track.write_text("frame,x,y,w,h\n0,16,16,64,48\n1,40,24,64,48\n")
    for region in (["--roi", "16,16,64,48"], ["--roi-track", str(track)]):
        for detail in ("source", "model"):
            out = tmp_path / f"{region[0][2:]}_{detail}"
            args = ["render", clip, "--run", tmp_path, "--out", out, "--detail", detail, "--matte", "--feather", "8"]
            done = run_cli(*args, *region, "--device", "cpu")
            assert done.code == 0, done.stderr
            boxes = [(16, 16), (16, 16)] if region[0] == "--roi" else [(16, 16), (40, 24)]
            for (x, y), rgb_path, matte_path, plate in zip(boxes, _pngs(out), _pngs(Path(f"{out}_matte")), source):
                rgb, matte = _rgb(rgb_path), _matte(matte_path)
                outside = np.ones(matte.shape, bool)
                outside[y : y + 48, x : x + 64] = False
                assert matte[outside].max() == 0 and np.array_equal(rgb[outside], plate[outside])
                assert matte[y + 24, x + 32] > 0.95 * 65535 and matte[y, x + 32] < 65535 // 4  # full inside, feathered edge


def test_scale_sets_the_working_size_and_fit_keeps_its_meaning(make_clip, run_cli, monkeypatch, tmp_path):
    generator = _with_generator(monkeypatch, _Generator())
    clip = make_clip("shot.mp4", n_frames=2, width=160, height=96)
    for args, size in (([], (108, 64)), (["--scale", "32"], (52, 32)), (["--scale", "48", "--fit", "stretch"], (48, 48))):
        generator.sizes.clear()
        done = run_cli("render", clip, "--run", tmp_path, "--out", tmp_path / "out.mp4", "--overwrite", *args, "--device", "cpu")
        assert done.code == 0, done.stderr
        assert set(generator.sizes) - {(32, 32)} == {size}  # 32x32: auto tiling's memory probe


def test_recorded_working_scale_is_the_default(make_clip, run_cli, monkeypatch, tiny_run, tmp_path):
    import shutil

    from vidgan.runs.folder import RunFolder

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    folder = RunFolder(run)
    config = folder.read_config()
    config["working_scale"] = 96
    (run / "config.json").write_text(__import__("json").dumps(config))
    seen = []
    real = translator.FrameTranslator.generate

    def spy(self, images):
        seen.extend(image.shape[:2] for image in images)
        return real(self, images)

    monkeypatch.setattr(translator.FrameTranslator, "generate", spy)
    clip = make_clip("shot.mp4", n_frames=2, width=160, height=96)
    done = run_cli("render", clip, "--run", run, "--out", tmp_path / "out.mp4", "--device", "cpu")
    assert done.code == 0, done.stderr
    assert set(seen) == {(96, 160)}


class _NormedConvs(nn.Module):
    """A small fully convolutional generator with instance norms (random weights, 5-px reach), stride 4."""

    config = SimpleNamespace(size=64)
    stride = 4

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 3, 1), nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def test_tiled_render_equals_the_untiled_one(make_clip, run_cli, monkeypatch, tmp_path):
    _with_generator(monkeypatch, _NormedConvs().eval().requires_grad_(False))
    clip = make_clip("shot.mp4", n_frames=2, width=192, height=96, draw=_detailed_frame_wide)
    outputs = {}
    for tile in ("0", "32"):
        out = tmp_path / f"tile{tile}"
        args = ["--scale", "96", "--tile", tile, "--detail", "model", "--device", "cpu"]
        done = run_cli("render", clip, "--run", tmp_path, "--out", out, *args)
        assert done.code == 0, done.stderr
        outputs[tile] = [_rgb(p) for p in _pngs(out)]
    assert len(outputs["32"]) == 2
    assert min(_psnr(a, b) for a, b in zip(outputs["0"], outputs["32"])) >= 45


def _detailed_frame_wide(i: int) -> np.ndarray:
    return _detailed_frame(i, 192, 96)


def test_tiles_are_chosen_when_memory_is_short_and_the_progress_says_so(make_clip, run_cli, monkeypatch, tmp_path):
    generator = _with_generator(monkeypatch, _Generator())
    monkeypatch.setattr(tiles, "free_memory", lambda device: 2_000_000)  # bytes: too little for 4 untiled frames
    clip = make_clip("shot.mp4", n_frames=4, width=160, height=96)
    done = run_cli("render", clip, "--run", tmp_path, "--out", tmp_path / "out.mp4", "--device", "cpu")
    assert done.code == 0, done.stderr
    assert "do not fit in cpu's free memory: tiles of" in done.stderr.replace("\n", " ")
    assert max(width for width, _ in generator.sizes) < 108  # the generator saw tiles, not the 108x64 frame


def test_bad_values_are_one_line_usage_errors(make_clip, run_cli, tiny_run, tmp_path):
    clip = make_clip("shot.mp4", n_frames=2)
    cases = [
        (["--scale", "0"], "--scale must be a positive"),
        (["--scale", "-3"], "--scale must be a positive"),
        (["--tile", "7"], "multiple of the generator's stride 4, got 7"),
        (["--tile", "-1"], "--tile must be 0"),
        (["--detail", "blur"], "--detail"),
        (["--scale", "64", "--fit", "native"], "leave out --scale"),
    ]
    for args, fragment in cases:
        done = run_cli("render", clip, "--run", tiny_run, "--out", tmp_path / "out.mp4", *args)
        assert_clean_failure(done, fragment, code=2)
        assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("detail", ["source", "model"])
def test_fits_with_source_detail_keep_the_frame_size(make_clip, monkeypatch, tmp_path, detail):
    from vidgan.render.options import RenderOptions
    from vidgan.render.video import render_video

    _with_generator(monkeypatch, _Generator(_brighten_left_half))
    clip = make_clip("shot.mkv", n_frames=2, width=100, height=60, draw=lambda i: _detailed_frame(i, 100, 60))
    source = next(iter_frames(clip)).rgb
    for fit in ("short-side", "stretch", "crop", "native"):
        out = tmp_path / f"{fit}_{detail}.mkv"
        render_video(clip, tmp_path, RenderOptions(out=out, fit=fit, detail=detail, quiet=True, device="cpu"))
        rgb = next(iter_frames(out)).rgb
        assert rgb.shape == source.shape
        if detail == "source":
            assert np.array_equal(rgb[:, 85:], source[:, 85:])  # right of every fit's changed half
