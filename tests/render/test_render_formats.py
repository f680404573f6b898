"""Render keeps what image sequences and deep video hold: 16-bit PNG/TIFF, OpenEXR (half/float, RGB/RGBA, values
beyond 0..1), alpha, 10-bit video into ProRes, EXIF-rotated frames; every input is made here, every check on pixels."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pytest
import torch
from conftest import assert_clean_failure
from PIL import Image
from torch import nn

import vidgan.render.translator as translator
from vidgan.io.colorspaces import srgb_decode
from vidgan.io.exr import read_exr, write_exr
from vidgan.io.images import read_image
from vidgan.io.video import VideoWriter


class _Generator(nn.Module):
    """Stand-in generator (stride 4, 64 px): brightens the left half of what it sees, or changes nothing."""

    config = SimpleNamespace(size=64)
    stride = 4

    def __init__(self, change: bool = True) -> None:
        super().__init__()
        self.change = change

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.change:
            return x
        out = x.clone()
        out[:, :, :, : x.shape[3] // 2] = (x[:, :, :, : x.shape[3] // 2] + 0.5).clamp(-1, 1)
        return out


@pytest.fixture
def brighten_left(monkeypatch):
    monkeypatch.setattr(translator, "load_generator", lambda *args, **kwargs: _Generator())


@pytest.fixture
def identity(monkeypatch):
    monkeypatch.setattr(translator, "load_generator", lambda *args, **kwargs: _Generator(change=False))


def _ramp(height: int, width: int, frame: int) -> np.ndarray:
    """H×W×3 float64 in [0.05, 0.65]: a smooth colour ramp (values between any two 8-bit levels)."""
    ys, xs = np.mgrid[0:height, 0:width] / max(height, width)
    return np.dstack([0.05 + 0.5 * xs, 0.1 + 0.4 * ys, 0.6 - 0.3 * xs + 0.01 * (frame % 10)])


def _matte(folder: Path, name: str) -> np.ndarray:
    return cv2.imread(str(folder / name), cv2.IMREAD_UNCHANGED)


def _render(run_cli, tmp_path, *args):
    done = run_cli("render", *args, "--run", tmp_path, "--matte", "--warp-error-every", "0", "--device", "cpu")
    assert done.code == 0, done.stderr
    return done


@pytest.mark.parametrize("half, alpha", [(True, True), (False, False)])
def test_exr_plates_render_to_exr_keeping_numbers_channels_and_values_beyond_0_1(brighten_left, run_cli, tmp_path, half, alpha):
    plates = tmp_path / "plates"
    plates.mkdir()
    dtype = np.float16 if half else np.float32
    sources = {}
    for number in (1001, 1002, 1003):
        rgb = _ramp(64, 96, number) ** 2.2  # scene-linear
        rgb[10:20, 80:90] = 6.0  # a specular highlight far above 1.0
        rgb[40:50, 78:88] = -0.02  # negative values, as grading leaves them
        opacity = np.linspace(0, 1, 96)[None, :].repeat(64, 0)[..., None]
        planes = [rgb * opacity, opacity] if alpha else [rgb]  # an EXR's colour is premultiplied by its alpha
        sources[number] = np.dstack(planes).astype(dtype)
        write_exr(plates / f"shot.{number:04d}.exr", sources[number])
    out = tmp_path / "graded"
    _render(run_cli, tmp_path, plates / "shot.%04d.exr", "--out", out)
    assert sorted(p.name for p in out.glob("*.exr")) == ["shot.1001.exr", "shot.1002.exr", "shot.1003.exr"]
    for number, source in sources.items():
        rendered = read_exr(out / f"shot.{number:04d}.exr")
        assert rendered.dtype == dtype and rendered.shape == source.shape
        untouched = _matte(tmp_path / "graded_matte", f"shot.{number:04d}.png") == 0
        assert untouched[:, 70:].all()
        assert np.array_equal(rendered[untouched], source[untouched])  # 6.0 and -0.02 too, bit for bit
        if alpha:
            assert np.array_equal(rendered[..., 3], source[..., 3])
        left = rendered[:, :30, :3].astype(np.float32)
        assert (left > source[:, :30, :3]).mean() > 0.9  # brightened, in linear light
        assert left.max() < 2.0  # and written back to linear: a display 1.0 is linear 1.0


@pytest.mark.parametrize("suffix, dtype", [(".png", np.uint16), (".tif", np.uint16), (".tif", np.float32)])
def test_deep_sequences_keep_their_exact_values_outside_the_change(brighten_left, run_cli, tmp_path, suffix, dtype):
    frames = tmp_path / "frames"
    frames.mkdir()
    sources = {}
    for number in (1, 2):
        ramp = _ramp(64, 96, number)
        sources[number] = np.rint(ramp * 65535).astype(dtype) if dtype == np.uint16 else ramp.astype(dtype)
        cv2.imwrite(str(frames / f"f_{number:03d}{suffix}"), cv2.cvtColor(sources[number], cv2.COLOR_RGB2BGR))
    assert len(np.unique(np.rint(sources[1] * (255 / sources[1].max())))) < len(np.unique(sources[1]))  # finer than 8 bits
    out = tmp_path / "out"
    _render(run_cli, tmp_path, frames, "--out", out)
    for number, source in sources.items():
        rendered = read_image(out / f"f_{number:03d}{suffix}")
        assert rendered.dtype == dtype
        untouched = _matte(tmp_path / "out_matte", f"f_{number:03d}.png") == 0
        assert untouched[:, 70:].all() and np.array_equal(rendered[untouched], source[untouched])
        assert (rendered[:, :30] > source[:, :30]).mean() > 0.9


def test_alpha_passes_through_and_prores_4444_writes_it(brighten_left, run_cli, tmp_path):
    frames = tmp_path / "rgba"
    frames.mkdir()
    rgb = np.rint(_ramp(64, 96, 0) * 255).astype(np.uint8)
    alpha = np.tile(np.linspace(0, 255, 96).astype(np.uint8), (64, 1))
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(frames / "key_0001.png")
    Image.fromarray(np.dstack([rgb, alpha[:, ::-1]]), "RGBA").save(frames / "key_0002.png")
    _render(run_cli, tmp_path, frames, "--out", tmp_path / "png")
    for name, expected in (("key_0001.png", alpha), ("key_0002.png", alpha[:, ::-1])):
        rendered = read_image(tmp_path / "png" / name)
        assert rendered.shape == (64, 96, 4) and np.array_equal(rendered[..., 3], expected)
        untouched = _matte(tmp_path / "png_matte", name) == 0
        assert np.array_equal(rendered[..., :3][untouched], rgb[untouched])

    _render(run_cli, tmp_path, frames, "--out", tmp_path / "key.mov", "--codec", "prores4444")
    with av.open(str(tmp_path / "key.mov")) as container:
        stream = container.streams.video[0]
        # FFmpeg's ProRes decoder hands out 4444 as 12-bit 4:4:4 with alpha, whatever depth it was encoded from.
        assert (stream.codec_context.name, stream.codec_context.profile, stream.codec_context.pix_fmt) == ("prores", "4444", "yuva444p12le")
        decoded = [frame.to_ndarray(format="rgba64le") for frame in container.decode(stream)]
    for frame, expected in zip(decoded, (alpha, alpha[:, ::-1]), strict=True):
        assert np.abs(frame[..., 3] / 257 - expected).max() <= 0.5


def _rgb48(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb48le").astype(np.int64) for frame in container.decode(video=0)]


def test_10_bit_video_stays_10_bit_in_prores(identity, run_cli, tmp_path):
    source = tmp_path / "ten.mov"
    with VideoWriter(source, width=96, height=64, fps=Fraction(24), codec="prores") as writer:
        for i in range(3):
            grey = _ramp(64, 96, i).mean(axis=2, keepdims=True).repeat(3, axis=2)  # smooth: 4:2:2 chroma loses nothing
            writer.write(np.rint(grey * 65535).astype(np.uint16))
    _render(run_cli, tmp_path, source, "--out", tmp_path / "out.mov")
    originals, rendered = _rgb48(source), _rgb48(tmp_path / "out.mov")
    assert len(rendered) == 3
    for original, output in zip(originals, rendered):
        eight_bit = np.rint(original / 257) * 257  # what an 8-bit pipeline would hand the encoder at best
        assert np.abs(eight_bit - original).mean() > 40
        assert np.abs(output - original).mean() < 12  # 0.08 of a 10-bit level (64 in 16-bit units) measured


def test_exif_rotated_frames_render_upright(identity, run_cli, tmp_path):
    frames = tmp_path / "phone"
    frames.mkdir()
    for number, orientation in ((1, 6), (2, 3)):
        stored = np.full((64, 96, 3), 90, np.uint8)
        stored[:, :12] = 250  # a bright strip on the stored left edge
        image = Image.fromarray(stored)
        exif = image.getexif()
        exif[0x0112] = orientation
        image.save(frames / f"p_{number}.jpg", exif=exif, quality=95)
    _render(run_cli, tmp_path, "--fps", "24", frames / "p_%d.jpg", "--out", tmp_path / "upright")
    # Orientation 6 (turn clockwise) puts the stored left edge at the top; frames keep the first frame's size, so
    # the second (3: upside down, 96 wide) is letterboxed into 64x96 with its strip on the right.
    first = read_image(tmp_path / "upright" / "p_1.png")
    assert first.shape == (96, 64, 3) and first[:12].mean() > 200 and first[20:].mean() < 120


def test_colorspace_mistakes_are_usage_errors(identity, run_cli, make_clip, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "a_1.png"), np.zeros((32, 32, 3), np.uint8))
    bad = run_cli("render", frames, "--run", tmp_path, "--colorspace", "rec-nothing", "--device", "cpu")
    assert_clean_failure(bad, "--colorspace must be one of", "rec-nothing", code=2)
    clip = make_clip("clip.mp4", n_frames=2)
    video = run_cli("render", clip, "--run", tmp_path, "--colorspace", "linear", "--device", "cpu")
    assert_clean_failure(video, "--colorspace is for image sequences", code=2)


def test_alpha_matte_keys_the_translation(brighten_left, run_cli, make_clip, tmp_path):
    clip = make_clip("shot.mp4", n_frames=2, width=96, height=64, draw=lambda i: np.rint(_ramp(64, 96, i) * 255).astype(np.uint8))
    _render(run_cli, tmp_path, clip, "--out", tmp_path / "keyed", "--alpha", "matte")
    for name in ("shot_000000.png", "shot_000001.png"):
        keyed = read_image(tmp_path / "keyed" / name)
        matte = _matte(tmp_path / "keyed_matte", name)
        assert keyed.shape == (64, 96, 4) and keyed[:, :30, 3].min() > 200 and keyed[:, 70:, 3].max() == 0
        assert np.abs(keyed[..., 3].astype(int) - np.rint(matte / 257)).max() <= 1  # the same matte, at 8 bits
    # The spelling, `--matte alpha`, is the same option.
    _render(run_cli, tmp_path, clip, "--out", tmp_path / "keyed4444.mov", "--codec", "prores4444", "--matte", "alpha")
    with av.open(str(tmp_path / "keyed4444.mov")) as container:
        alpha = next(container.decode(video=0)).to_ndarray(format="rgba64le")[..., 3]
    assert alpha[:, :30].min() > 50000 and alpha[:, 70:].max() < 200
    refused = run_cli("render", clip, "--run", tmp_path, "--out", tmp_path / "x.mp4", "--alpha", "matte", "--device", "cpu")
    assert_clean_failure(refused, "--alpha matte needs an output with an alpha channel", code=2)


def test_16_bit_regions_with_detail_model_and_resume(brighten_left, run_cli, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    sources = {}
    for number in (7, 8, 9):
        sources[number] = np.rint(_ramp(64, 96, number) * 65535).astype(np.uint16)
        cv2.imwrite(str(frames / f"r.{number}.png"), cv2.cvtColor(sources[number], cv2.COLOR_RGB2BGR))
    out = tmp_path / "boxed"
    args = (frames, "--out", out, "--roi", "0,0,48,64", "--feather", "4", "--detail", "model")
    _render(run_cli, tmp_path, *args)
    finished = {p.name: p.read_bytes() for p in out.glob("*.png")}
    for number, source in sources.items():
        rendered = read_image(out / f"r.{number}.png")
        assert rendered.dtype == np.uint16 and np.array_equal(rendered[:, 48:], source[:, 48:])  # outside the box
        assert (rendered[:, :20] > source[:, :20]).mean() > 0.9
    (out / "r.9.png").unlink()  # as if interrupted before the last frame
    _render(run_cli, tmp_path, *args, "--resume")
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == finished


def _premultiplied_plates(folder: Path) -> np.ndarray:
    """folder/shot.1001.exr, 64×96 float32 RGBA as OpenEXR stores it: one straight colour (display 0.8, 0.4, 0.2;
    scene-linear in the file) premultiplied by an alpha ramp from 0 (top row) to 1 (bottom row)."""
    folder.mkdir()
    alpha = np.linspace(0, 1, 64, dtype=np.float32)[:, None, None].repeat(96, axis=1)
    pixels = np.dstack([srgb_decode(np.float32([0.8, 0.4, 0.2])) * alpha, alpha])
    write_exr(folder / "shot.1001.exr", pixels)
    return pixels


def test_premultiplied_exr_comes_back_as_stored_and_straight_in_png(identity, run_cli, tmp_path):
    source = _premultiplied_plates(tmp_path / "plates")
    _render(run_cli, tmp_path, tmp_path / "plates", "--out", tmp_path / "exr")
    assert np.array_equal(read_exr(tmp_path / "exr" / "shot.1001.exr"), source)  # inside the ramp and out
    _render(run_cli, tmp_path, tmp_path / "plates", "--out", tmp_path / "png", "--codec", "png")
    png = read_image(tmp_path / "png" / "shot.1001.png").astype(np.int64)
    assert np.array_equal(png[..., 3], np.rint(source[..., 3] * 65535))
    # PNG's alpha is straight: the colour the generator saw, not darkened by alpha, at every alpha > 0.
    assert (np.abs(png[1:, :, :3] - np.rint(np.float32([0.8, 0.4, 0.2]) * 65535)) <= 1).all()


def test_translated_premultiplied_exr_stays_premultiplied(brighten_left, run_cli, tmp_path):
    source = _premultiplied_plates(tmp_path / "plates")
    _render(run_cli, tmp_path, tmp_path / "plates", "--out", tmp_path / "graded")
    rendered = read_exr(tmp_path / "graded" / "shot.1001.exr")
    assert np.array_equal(rendered[:, 60:], source[:, 60:]) and np.array_equal(rendered[..., 3], source[..., 3])
    colour = rendered[1:, :40, :3] / rendered[1:, :40, 3:]  # straight again, in linear light
    # One brighter colour at every opacity of the ramp, each pixel premultiplied by its own alpha (the generator saw
    # the straight colour everywhere, so the same colour came back everywhere).
    assert np.allclose(colour, colour[-1], rtol=1e-3) and (colour > source[-1, 0, :3] + 0.05).all()
    assert (rendered[..., :3] <= rendered[..., 3:] + 1e-6).all()  # no colour beyond its alpha

    # --alpha matte: OpenEXR's RGBA is associated, so the colour is premultiplied by the matte; where the matte is 0
    # (the untouched right) nothing is laid over the plate.
    _render(run_cli, tmp_path, tmp_path / "plates", "--out", tmp_path / "keyed", "--alpha", "matte")
    keyed = read_exr(tmp_path / "keyed" / "shot.1001.exr")
    matte = _matte(tmp_path / "keyed_matte", "shot.1001.png") / np.float32(65535)
    assert np.allclose(keyed[..., 3], matte, atol=1e-4) and (keyed[:, 60:] == 0).all()
    shown = (keyed[..., 3] > 0) & (source[..., 3] > 0)  # the same straight colour as above, under the matte's alpha
    assert shown[1:, :40].all() and np.allclose(keyed[shown, :3] / keyed[shown, 3:], rendered[shown, :3] / rendered[shown, 3:], rtol=1e-4)
