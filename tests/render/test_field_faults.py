"""Streams and files from the field (issue 34): inputs made like those of cameras and editing software, each checked
by the values that come out."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from vidgan.core.errors import VidganError
from vidgan.io.video import VideoWriter, iter_frames
from vidgan.render.boxes import Box
from vidgan.render.options import RenderOptions
from vidgan.render.temporal import warp_error
from vidgan.render.video import render_video

H, W = 48, 64
# Straight alpha of every column: clear, faint, half, most, opaque … (a matte an editor would export).
ALPHA = np.tile(np.array([0, 17, 128, 200, 255, 255, 64, 1], np.uint8), W // 8)


def _rgba(i: int) -> np.ndarray:
    pixels = np.zeros((H, W, 4), np.uint8)
    pixels[..., 0] = np.linspace(0, 255, W, dtype=np.uint8)[None, :]
    pixels[..., 1], pixels[..., 2], pixels[..., 3] = 100, 60 * i, ALPHA[None, :]
    return pixels


def _prores4444(path: Path) -> Path:
    """ProRes 4444 (yuva444p10le) with ALPHA."""
    with VideoWriter(path, width=W, height=H, fps=Fraction(25), codec="prores4444") as writer:
        for i in range(3):
            writer.write(_rgba(i))
    return path


def _qtrle(path: Path) -> Path:
    """QuickTime Animation (qtrle, argb) with ALPHA: lossless, as motion-graphics tools export it."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("qtrle", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "argb"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(_rgba(i), format="rgba").reformat(format="argb")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


@pytest.mark.parametrize("make", [_prores4444, _qtrle])
def test_alpha_of_a_video_source_reaches_png_and_prores4444_outputs(tiny_run, tmp_path, make):
    source = make(tmp_path / "graphics.mov")
    render_video(source, tiny_run, RenderOptions(out=tmp_path / "frames", quiet=True, warp_error_every=0))
    render_video(source, tiny_run, RenderOptions(out=tmp_path / "out.mov", codec="prores4444", quiet=True, warp_error_every=0))
    pngs = sorted((tmp_path / "frames").glob("*.png"))
    assert len(pngs) == 3
    for path in pngs:
        pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert pixels.shape == (H, W, 4)
        alpha = pixels[:, :, 3].astype(np.float64) / np.iinfo(pixels.dtype).max * 255
        assert np.abs(alpha - ALPHA[None, :]).max() <= (0 if make is _qtrle else 0.5), path.name
        assert (pixels[:, ALPHA == 255, 3] == np.iinfo(pixels.dtype).max).all()  # opaque stays opaque
    for frame in iter_frames(tmp_path / "out.mov", deep=True):
        alpha = frame.plate.alpha.astype(np.float64) / 65535 * 255
        assert np.abs(alpha - ALPHA[None, :]).max() <= 0.5 and (frame.plate.alpha[:, ALPHA == 255] == 65535).all()


def _plates(folder: Path, names: list[str]) -> dict[str, np.ndarray]:
    """A flat 32x24 PNG of its own colour per name; returns name → RGB."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for i, name in enumerate(names):
        rgb = np.full((24, 32, 3), (20 * i + 10, 200 - 20 * i, 90), np.uint8)
        cv2.imwrite(str(folder / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        written[name] = rgb
    return written


def _assert_frames_are(out: Path, expected: dict[str, np.ndarray]) -> None:
    """The output folder holds exactly these names, each the same plate outside the 8 px --roi box."""
    assert sorted(p.name for p in out.glob("*.png")) == sorted(expected)
    for name, rgb in expected.items():
        rendered = cv2.cvtColor(cv2.imread(str(out / name)), cv2.COLOR_BGR2RGB)
        assert np.array_equal(rendered[8:], rgb[8:]) and np.array_equal(rendered[:, 8:], rgb[:, 8:]), name


def test_image_sequences_keep_their_own_names_and_numbers_and_leave_strays_out(tiny_run, tmp_path, capsys):
    region = dict(roi=Box(0, 0, 8, 8), feather=0, quiet=True, warp_error_every=0)
    plates = _plates(tmp_path / "plates", [f"plate_{n:04d}.png" for n in range(1, 7)] + ["poster.png"])
    render_video(tmp_path / "plates", tiny_run, RenderOptions(out=tmp_path / "out", **region))
    _assert_frames_are(tmp_path / "out", {name: rgb for name, rgb in plates.items() if name != "poster.png"})
    warned = " ".join(capsys.readouterr().err.split())
    assert "poster.png not numbered like the sequence plate_0001-0006.png (6 files); left out" in warned

    unpadded = _plates(tmp_path / "shots", [f"shot_{n}.png" for n in (98, 99, 100, 101)])
    render_video(tmp_path / "shots", tiny_run, RenderOptions(out=tmp_path / "shots_out", **region))
    _assert_frames_are(tmp_path / "shots_out", unpadded)

    _plates(tmp_path / "passes", [f"{kind}.{n}.png" for kind in ("beauty", "matte") for n in range(1001, 1005)])
    several = (
        rf"{tmp_path / 'passes'}: holds 2 image sequences \(beauty\.1001-1004\.png \(4 files\); matte\.1001-1004\.png"
        rf" \(4 files\)\); render one by its pattern, e\.g\. {tmp_path / 'passes'}/beauty\.%04d\.png"
    )
    with pytest.raises(VidganError, match=several):
        render_video(tmp_path / "passes", tiny_run, RenderOptions(out=tmp_path / "passes_out", **region))
    assert not (tmp_path / "passes_out").exists()
    render_video(tmp_path / "passes" / "matte.%04d.png", tiny_run, RenderOptions(out=tmp_path / "matte_out", **region))
    assert sorted(p.name for p in (tmp_path / "matte_out").glob("*.png")) == [f"matte.{n}.png" for n in range(1001, 1005)]


def _panning(width: int, height: int, frames: int = 5, flicker: int = 8) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A smooth texture panning 1 px a frame, and the same with the brightness flickering ±`flicker` levels."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.random((height, width + frames), np.float32), (0, 0), 2.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    source, flickering = [], []
    for i in range(frames):
        grey = texture[:, i : i + width]
        rgb = (np.dstack([grey, 0.7 * grey + 0.1, 1 - grey]) * 200 + 20).astype(np.uint8)
        source.append(rgb)
        flickering.append((rgb.astype(int) + (flicker if i % 2 else -flicker)).astype(np.uint8))
    return source, flickering


@pytest.mark.parametrize(("width", "height"), [(160, 96), (2048, 32), (32, 2048)])
def test_the_warp_error_of_an_extreme_strip_measures_its_motion_and_its_flicker(width, height):
    source, flickering = _panning(width, height)
    own = warp_error(source, source)
    assert own < 1e-5  # the pan is tracked: nothing left of it (a 512x8 analysis left 3.6e-4 at 2048x32)
    # Consecutive frames differ by 16 levels of flicker: that, and nothing else, is the output's excess.
    assert warp_error(flickering, source) - own == pytest.approx((16 / 255) ** 2, rel=0.02)


def test_frames_too_thin_to_track_are_not_measured():
    source, flickering = _panning(1024, 12)
    assert warp_error(source, source) is None and warp_error(flickering, source) is None


def _gopro_like(path: Path) -> list[tuple[int, bytes]]:
    """An H.264 .mp4 with a telemetry data track as GoPro cameras write it (gpmd: FFmpeg's bin_data, handler 'GoPro
    MET'), one packet every other frame; returns the track's (pts, payload) pairs."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        data = out.add_data_stream("bin_data")
        out.start_encoding()
        for i in range(8):
            frame = av.VideoFrame.from_ndarray(np.full((H, W, 3), 30 * i, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
            if i % 2 == 0:
                packet = av.Packet(b"DEVC" + bytes([i]) * 28)
                packet.stream, packet.time_base = data, data.time_base
                packet.pts = packet.dts = round(Fraction(i, 25) / data.time_base)
                packet.duration = round(Fraction(2, 25) / data.time_base)
                out.mux(packet)
        out.mux(video.encode())
    return _data_packets(path)


def _data_packets(path: Path) -> list[tuple[int, bytes]]:
    """(pts in µs, payload) of each packet of the file's first data track."""
    with av.open(str(path)) as container:
        stream = container.streams.data[0]
        assert stream.metadata.get("handler_name") == "GoPro MET"
        return [(round(p.pts * p.time_base * 1_000_000), bytes(p)) for p in container.demux(stream) if p.size]


def test_a_telemetry_data_track_is_carried_into_mp4_and_mov_and_named_where_it_cannot_be(tiny_run, tmp_path, capsys):
    telemetry = _gopro_like(tmp_path / "GX010001.mp4")
    assert [pts for pts, _ in telemetry] == [0, 80_000, 160_000, 240_000]
    for name in ("out.mp4", "out.mov"):
        render_video(tmp_path / "GX010001.mp4", tiny_run, RenderOptions(out=tmp_path / name, quiet=True, warp_error_every=0))
        assert _data_packets(tmp_path / name) == telemetry, name
    capsys.readouterr()
    render_video(tmp_path / "GX010001.mp4", tiny_run, RenderOptions(out=tmp_path / "out.mkv", quiet=True, warp_error_every=0))
    warned = " ".join(capsys.readouterr().err.split())
    assert "not carried: data track 1 (bin_data, GoPro MET): a .mkv file cannot hold it" in warned
    with av.open(str(tmp_path / "out.mkv")) as container:
        assert not container.streams.data and container.streams.video[0].frames in (0, 8)
    render_video(tmp_path / "GX010001.mp4", tiny_run, RenderOptions(out=tmp_path / "frames", quiet=True, warp_error_every=0))
    warned = " ".join(capsys.readouterr().err.split())
    dropped = f"an image-sequence output holds no data tracks; {tmp_path / 'GX010001.mp4'}'s data track 1 (bin_data, GoPro MET)"
    assert f"{dropped} is not carried" in warned
