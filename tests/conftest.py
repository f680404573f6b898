"""Shared fixtures: tiny synthetic clips written with vidgan.io.video.write_test_clip."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidgan.io.video import write_test_clip


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the tests that raise it in-process: a suite started in the background (`pytest &` from a
    script), whose shell ignores SIGINT for it, would otherwise ignore them, as vidgan rightly does in a background job."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

NTSC = Fraction(30000, 1001)


@pytest.fixture
def make_clip(tmp_path: Path) -> Callable[..., Path]:
    """Factory for small clips in tmp_path: make_clip("a.mp4", n_frames=30, audio=True, draw=None, width=96, height=64)."""

    def make(
        name: str = "clip.mp4",
        *,
        n_frames: int = 30,
        width: int = 96,
        height: int = 64,
        fps: Fraction = NTSC,
        audio: bool = False,
        draw: Callable[[int], np.ndarray] | None = None,
    ) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_test_clip(path, width=width, height=height, fps=fps, n_frames=n_frames, audio=audio, draw=draw)

    return make


@pytest.fixture
def audio_only_file(tmp_path: Path) -> Path:
    """A one-second AAC file with no video stream."""
    import av

    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44100, layout="mono")
        t = np.arange(44100) / 44100
        frame = av.AudioFrame.from_ndarray(
            (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :], format="fltp", layout="mono"
        )
        frame.sample_rate = 44100
        frame.pts = 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


@pytest.fixture
def video_without_frames(tmp_path: Path) -> Path:
    """A file with a declared video stream that holds no frames (and a short audio track)."""
    import av

    path = tmp_path / "empty-video.mkv"
    with av.open(str(path), "w") as out:
        picture = out.add_stream("libx264", rate=30)
        picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream("aac", rate=44100, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4410), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44100, 0
        out.mux(sound.encode(frame))
        out.mux(sound.encode())
    return path


def break_packet(clip: Path, packet: int) -> None:
    """Damage one video packet of an H.264 clip so that decoding fails there (concealment cannot hide it)."""
    import av

    with av.open(str(clip)) as container:
        positions = [p.pos for p in container.demux(video=0) if p.size]
    data = bytearray(clip.read_bytes())
    # A broken NAL length prefix makes the decoder reject the packet.
    data[positions[packet] : positions[packet] + 8] = b"\xff" * 8
    clip.write_bytes(bytes(data))


REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def write_random_domains(root: Path, count: int) -> None:
    """`count` 64-px PNGs of uniform noise in root/a and root/b, the same pixels every time."""
    for domain, seed in (("a", 1), ("b", 2)):
        (root / domain).mkdir(parents=True)
        for i in range(count):
            pixels = np.random.default_rng(seed * 10 + i).integers(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / domain / f"{i}.png")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """An (untrained) 64-px CycleGAN run: 2 steps of a 4-channel, 1-block generator."""
    root = tmp_path_factory.mktemp("run")
    write_random_domains(root, 4)
    from vidgan.training.cyclegan import train_cyclegan
    from vidgan.training.options import CycleGANOptions

    # A ResNet generator without augmentation or averaging: the render tests were written against its untrained outputs.
    before_issue_9 = dict(gen="resnet", aug="mirror", diffaug=False, lr=2e-4, ema=0.0)
    tiny = dict(channels=4, res_blocks=1, iters=2, quiet=True, device="cpu")
    train_cyclegan(CycleGANOptions(a_dir=root / "a", b_dir=root / "b", out=root / "run", **tiny, **before_issue_9))
    return root / "run"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., CliResult]:
    """Run `vidgan ARGS…` as a user's shell would, from tmp_path.

    By default in this process through `vidgan.cli.main` (the same code path as the console script, without
    paying a torch import per call); with a `timeout`, or isolated=True, in a subprocess `python -m vidgan`.
    """

    def run(*args: object, timeout: float | None = None, cwd: Path | None = None, isolated: bool = False) -> CliResult:
        argv = [str(a) for a in args]
        if isolated or timeout is not None:
            env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "120"}
            done = subprocess.run(
                [sys.executable, "-m", "vidgan", *argv],
                capture_output=True,
                text=True,
                timeout=timeout or 300,
                cwd=cwd or tmp_path,
                env=env,
            )
            return CliResult(done.returncode, done.stdout, done.stderr)
        from vidgan.cli import main

        stdout, stderr = io.StringIO(), io.StringIO()
        previous = os.getcwd()
        os.chdir(cwd or tmp_path)
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                main(argv)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        finally:
            os.chdir(previous)
        return CliResult(code, stdout.getvalue(), stderr.getvalue())

    return run


def assert_clean_failure(result: CliResult, *fragments: str, code: int | None = None) -> None:
    """A failure the way users should see it: non-zero exit, no traceback, one error line naming the problem."""
    assert result.code != 0, result.stderr
    if code is not None:
        assert result.code == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


# What every numeric option must refuse: not a number, not finite, negative; zero where it means nothing.
BAD_NUMBERS = ("nan", "inf", "-1", "0")


def numeric_options(*command: str) -> list[str]:
    """The flags of `vidgan COMMAND…`'s int and float options, read from the CLI's own command objects, so that a
    new option is covered by the tests that use this without being listed anywhere."""
    import typer

    from vidgan.cli import app

    found = typer.main.get_command(app)
    for name in command:
        found = found.commands[name]

    def is_number(param: object) -> bool:
        if hasattr(param, "type_descriptor"):  # Typer's own parameter classes (newer Typer releases)
            return param.type_descriptor.annotation in (int, float)
        return getattr(param.type, "name", "") in ("integer", "float")  # click's

    return [param.opts[0] for param in found.params if param.param_type_name == "option" and is_number(param)]


def free_port() -> int:
    """A TCP port free on this machine now, for a torchrun rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
