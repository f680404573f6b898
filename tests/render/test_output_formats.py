"""Every output format of the table (vidgan.render.formats) through `vidgan render`: with and without --out, into
--out-dir, with --matte, under --segments; a format added by a test; --overwrite through a symbolic link; the
warning for tracks an image-sequence output cannot hold. Every check is on values read back from the outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

import vidgan.render.formats as formats
from vidgan.core.fsutil import write_text_atomic
from vidgan.io.images import read_stored
from vidgan.io.video import Frame
from vidgan.render.formats import DISPLAY_REFERRED, OutputFormat, WriterSpec, format_names, register_format

FRAMES = 8  # of the test clip: two batches of 4, so --segments 2 cuts it in two


@dataclass(frozen=True)
class Expected:
    """What one built-in format writes for an 8-bit, 96x64 RGB video source."""

    suffix: str  # of the default name: a video's file suffix, "" for an image sequence's folder
    pix_fmts: tuple[str, ...] = ()  # a video's decoded pixel format, as FFmpeg's decoder reports it
    frame_suffix: str | None = None  # an image sequence's files
    sample: type | None = None  # an image sequence's sample type for an 8-bit source
    alpha: bool = False  # holds an alpha channel (--alpha matte writes the change matte there)


EXPECTED = {
    "h264": Expected(".mp4", pix_fmts=("yuv420p",)),
    "prores": Expected(".mov", pix_fmts=("yuv422p10le",)),
    # FFmpeg decodes ProRes 4444 at 12 bits unless the stream header says 10 (as a copy of the encoder's does)
    "prores4444": Expected(".mov", pix_fmts=("yuva444p12le", "yuva444p10le"), alpha=True),
    "ffv1": Expected(".mkv", pix_fmts=("bgr0",)),
    "png": Expected("", frame_suffix=".png", sample=np.uint8, alpha=True),
    "tiff": Expected("", frame_suffix=".tif", sample=np.uint8, alpha=True),
    "exr": Expected("", frame_suffix=".exr", sample=np.float16, alpha=True),
    "dpx": Expected("", frame_suffix=".dpx", sample=np.uint8, alpha=True),
}
MODES = ("out", "default", "out_dir", "matte", "segments")


def test_every_format_in_the_table_is_in_the_matrix():
    assert set(format_names()) == set(EXPECTED)


def _video_frames(path: Path, alpha: bool) -> tuple[str, list[np.ndarray], list[int]]:
    """The decoded frames' pixel format, the frames (RGBA 16-bit where it has alpha, else RGB 8-bit) and their pts."""
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
    pix_fmts = {frame.format.name for frame in decoded}
    assert len(pix_fmts) == 1
    frames = [frame.to_ndarray(format="rgba64le" if alpha else "rgb24") for frame in decoded]
    return pix_fmts.pop(), frames, [frame.pts for frame in decoded]


def _sequence_frames(folder: Path, suffix: str) -> tuple[list[str], list[np.ndarray]]:
    files = sorted(p for p in folder.iterdir() if p.suffix == suffix)
    assert not (folder / "INCOMPLETE.txt").exists()
    return [p.name for p in files], [read_stored(p)[0] for p in files]


def _mattes(folder: Path) -> tuple[list[str], list[np.ndarray]]:
    files = sorted(folder.glob("*.png"))
    return [p.name for p in files], [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in files]


def _args(mode: str, codec: str, tmp_path: Path, with_alpha: bool) -> tuple[list, Path]:
    """The render command of one case of the matrix, and where its output should be."""
    expected = EXPECTED[codec]
    args = ["clip.mp4", "--codec", codec, "--batch-size", "4"]
    output = tmp_path / f"clip_a2b{expected.suffix}"  # the default name: STEM_DIRECTION and the format's suffix
    if mode == "out":
        output = tmp_path / "renders" / f"result{expected.suffix}"
        args += ["--out", output]
    elif mode == "out_dir":
        output = tmp_path / "renders" / output.name
        args += ["--out-dir", tmp_path / "renders"]
    elif mode == "matte":
        args += ["--matte", *(["--alpha", "matte"] if with_alpha else [])]
    elif mode == "segments":
        args += ["--segments", "2"]
    return args, output


def _read_output(output: Path, codec: str, with_alpha: bool) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """The output's frames, checked for the format's pixel format or sample type, frame numbers and timestamps,
    and their alpha channels in [0, 1] where the output has one."""
    expected = EXPECTED[codec]
    if expected.pix_fmts:
        assert output.is_file()
        pix_fmt, frames, stamps = _video_frames(output, expected.alpha)
        assert pix_fmt in expected.pix_fmts
        assert stamps == sorted(stamps) and len(set(stamps)) == FRAMES  # one pts per frame, in order, joined or not
        return frames, [frame[..., 3] / 65535 for frame in frames] if expected.alpha else None
    assert output.is_dir()
    names, frames = _sequence_frames(output, expected.frame_suffix)
    assert names == [f"clip_{i:06d}{expected.frame_suffix}" for i in range(FRAMES)]  # the source's frame numbers
    assert {frame.dtype for frame in frames} == {np.dtype(expected.sample)}
    assert {frame.shape[2] for frame in frames} == {4 if with_alpha else 3}  # the source has no alpha
    if not with_alpha:
        return frames, None
    return frames, [frame[..., 3] / (255 if frame.dtype == np.uint8 else 1) for frame in frames]


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("codec", sorted(EXPECTED))
def test_every_codec_renders_in_every_mode(run_cli, make_clip, tiny_run, tmp_path, codec, mode):
    make_clip("clip.mp4", n_frames=FRAMES, width=96, height=64)
    with_alpha = mode == "matte" and EXPECTED[codec].alpha  # --alpha matte, where the format holds alpha
    args, output = _args(mode, codec, tmp_path, with_alpha)
    # A 24x16 working size: the formats are under test here, not the generator.
    done = run_cli("render", *args, "--run", tiny_run, "--device", "cpu", "--warp-error-every", "0", "--scale", "16", "--quiet")
    assert done.code == 0, done.stderr
    assert "error:" not in done.stderr
    frames, alphas = _read_output(output, codec, with_alpha)
    assert len(frames) == FRAMES
    assert {frame.shape[:2] for frame in frames} == {(64, 96)}
    assert not list(output.parent.glob(".*"))  # no temporary files or segments' parts left
    matte = output.with_name(f"{output.stem}_matte")
    if mode != "matte":
        assert not matte.exists()
        if alphas is not None:  # ProRes 4444 of a source without alpha: opaque
            assert all(alpha.min() > 0.999 for alpha in alphas)
        return
    matte_names, mattes = _mattes(matte)
    assert matte_names == [f"clip_{i:06d}.png" for i in range(FRAMES)]  # named as the output's frames as PNGs
    assert all(m.dtype == np.uint16 and m.shape == (64, 96) for m in mattes)
    assert max(m.max() for m in mattes) > 0  # an untrained generator changes something
    if with_alpha:  # the output's alpha is the change matte
        for alpha, grey in zip(alphas, mattes):
            assert np.abs(alpha - grey / 65535).max() < 2 / 255


class NpyFrames:
    """A format made in this test: each frame as FOLDER/PREFIX<number>.npy holding its H×W×3 uint8 picture."""

    def __init__(self, path: Path, spec: WriterSpec) -> None:
        self.path = path
        self.spec = spec
        path.mkdir(parents=True, exist_ok=True)

    def existing(self, frame: Frame) -> np.ndarray | None:
        return None

    def write_frame(self, frame: Frame, picture: np.ndarray, alpha: np.ndarray | None = None) -> None:
        assert picture.shape == (self.spec.height, self.spec.width, 3)
        np.save(self.path / f"{self.spec.prefix}{frame.index:0{self.spec.padding}d}.npy", picture)

    def written(self) -> list[Path]:
        return sorted(self.path.glob("*.npy"))

    def close(self) -> None:
        assert self.written()

    def abort(self) -> None:
        pass


def test_a_format_registered_outside_vidgan_renders_through_the_cli(run_cli, make_clip, tiny_run, tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "FORMATS", dict(formats.FORMATS))  # the registration ends with the test
    npy = OutputFormat(
        "npy", (".npy",), sequence=True, bits=(8,), alpha=False, colour=DISPLAY_REFERRED, tracks=False, open=NpyFrames
    )
    register_format(npy)
    make_clip("clip.mp4", n_frames=FRAMES, width=96, height=64)
    common = ["--run", tiny_run, "--device", "cpu", "--warp-error-every", "0", "--scale", "16", "--quiet"]

    done = run_cli("render", "clip.mp4", "--codec", "npy", "--matte", *common)  # the default name: a folder
    assert done.code == 0, done.stderr
    done = run_cli("render", "clip.mp4", "--codec", "png", "--out", "png", *common)
    assert done.code == 0, done.stderr
    names = [f"clip_{i:06d}" for i in range(FRAMES)]
    assert sorted(p.stem for p in (tmp_path / "clip_a2b").glob("*.npy")) == names
    assert sorted(p.stem for p in (tmp_path / "clip_a2b_matte").glob("*.png")) == names
    for name in names:  # the same pixels as the lossless PNG render of the same run
        npy = np.load(tmp_path / "clip_a2b" / f"{name}.npy")
        assert npy.dtype == np.uint8
        assert np.array_equal(npy, read_stored(tmp_path / "png" / f"{name}.png")[0])

    refused = run_cli("render", "clip.mp4", "--codec", "npy", "--out", "frames.mp4", *common)
    assert refused.code == 2 and "--codec npy needs a folder" in refused.stderr


@pytest.mark.parametrize("segments", ["1", "2"])
def test_overwrite_through_a_symbolic_link_replaces_its_target_and_keeps_the_link(run_cli, make_clip, tiny_run, tmp_path, segments):
    make_clip("clip.mp4", n_frames=FRAMES, width=96, height=64)
    older = make_clip("shot_v003.mp4", n_frames=3, width=96, height=64)
    latest = tmp_path / "shot_latest.mp4"
    latest.symlink_to(older.name)
    done = run_cli(
        "render", "clip.mp4", "--run", tiny_run, "--out", latest, "--overwrite", "--segments", segments,
        "--batch-size", "4", "--device", "cpu", "--warp-error-every", "0", "--scale", "16", "--quiet",
    )
    assert done.code == 0, done.stderr
    assert latest.is_symlink() and os.readlink(latest) == older.name
    with av.open(str(older)) as container:
        assert sum(1 for _ in container.decode(video=0)) == FRAMES  # the render, not the older 3-frame file
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".shot", ".clip"))) == []  # no leftovers


def test_atomic_writes_replace_a_symbolic_links_target(tmp_path):
    target = tmp_path / "v003" / "frame.txt"
    target.parent.mkdir()
    target.write_text("older")
    link = tmp_path / "latest.txt"
    link.symlink_to(target)
    write_text_atomic(link, "newer")  # how image-sequence frames and every other file are written
    assert link.is_symlink() and link.resolve() == target and target.read_text() == "newer"
    assert sorted(p.name for p in target.parent.iterdir()) == ["frame.txt"]


def test_the_warning_for_tracks_an_image_sequence_cannot_hold_names_the_output(run_cli, make_clip, tiny_run):
    make_clip("clip.mp4", n_frames=4, width=96, height=64, audio=True)
    done = run_cli("render", "clip.mp4", "--run", tiny_run, "--codec", "png", "--device", "cpu", "--scale", "16", "--quiet")
    assert done.code == 0, done.stderr
    warning = "clip_a2b/: an image-sequence output holds no audio; clip.mp4's audio track 1 (aac) is not carried"
    assert warning in " ".join(done.stderr.split())
    silent = run_cli("render", "clip.mp4", "--run", tiny_run, "--codec", "png", "--no-audio", "--out", "quiet",
                     "--device", "cpu", "--scale", "16", "--quiet")
    assert silent.code == 0 and "holds no" not in silent.stderr
    both = run_cli("render", "clip.mp4", "--run", tiny_run, "--codec", "tiff", "--direction", "both", "--out-dir", "both",
                   "--device", "cpu", "--scale", "16", "--quiet")
    assert both.code == 0, both.stderr
    warning = "both/clip_a2b/, both/clip_b2a/: image-sequence outputs hold no audio; clip.mp4's audio track 1 (aac) is not"
    assert warning in " ".join(both.stderr.split())
