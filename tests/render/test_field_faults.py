"""Streams and files from the field (issue 34): inputs made like those of cameras and editing software, each checked
by the values that come out."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from vidgan.io.video import VideoWriter, iter_frames
from vidgan.render.options import RenderOptions
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
    render_video(source, tiny_run, RenderOptions(out=tmp_path / "frames", quiet=True))
    render_video(source, tiny_run, RenderOptions(out=tmp_path / "out.mov", codec="prores4444", quiet=True))
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

