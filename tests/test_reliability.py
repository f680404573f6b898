"""Bad input, damaged files, interrupted jobs and unsafe checkpoints, each through the `vidgan` command line.

Checks that need a real process (signals, hangs, argv bytes, tracebacks) run `python -m vidgan` in a subprocess;
the rest call the same entry point, `vidgan.cli.main`, in this process (run_cli's default).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import random
import resource
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    REPO_ROOT,
    SHARED_DATA,
    CliResult,
    assert_clean_failure,
    break_packet,
)
from PIL import Image
from torch import nn

from vidgan.core import errors
from vidgan.core.errors import Interrupted, VidganError
from vidgan.io import extract
from vidgan.io.batches import load_image_folder
from vidgan.io.video import iter_frames
from vidgan.models.cyclegan import GeneratorConfig, ResnetGenerator
from vidgan.render.translator import FrameTranslator
from vidgan.runs.checkpoints import (
    load_checkpoint,
    save_checkpoint,
    save_run_checkpoint,
    step_checkpoints,
)
from vidgan.runs.folder import RunFolder
from vidgan.training.cyclegan import CycleGANTask
from vidgan.training.loop import restore, train_loop

TINY = GeneratorConfig.for_size(64, channels=4, res_blocks=1)
TRAIN_TINY = ["--size", "64", "--channels", "4", "--res-blocks", "1", "--batch-size", "1", "--disc", "dc", "-q"]


def _save_cyclegan(path: Path, config: GeneratorConfig = TINY) -> Path:
    generators = nn.ModuleDict({d: ResnetGenerator(config) for d in ("a2b", "b2a")})
    return save_checkpoint(path, kind="cyclegan", step=1, arch={"generator": config.to_dict()}, modules={"generators": generators})


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    return _save_cyclegan(tmp_path / "model" / "tiny.pt")


def _frame_count(path: Path) -> int:
    return sum(1 for _ in iter_frames(path))


# --- bad input matrix ---------------------------------------------------------------------------------------


def _bad_clips(tmp_path: Path, clip: Path, audio_only: Path, no_frames: Path) -> dict[str, tuple[Path, str]]:
    (tmp_path / "folder.mp4").mkdir()
    (tmp_path / "notes.mp4").write_text("not a video\n")
    data = clip.read_bytes()
    cases = {
        "missing": (tmp_path / "missing.mp4", "no such file"),
        "folder": (tmp_path / "folder.mp4", "no images found"),  # extract and render read image sequences too
        "text": (tmp_path / "notes.mp4", "not a readable video file"),
        "audio only": (audio_only, "has no video stream"),
        "no frames": (no_frames, "has no frames"),
    }
    for percent in (10, 50, 90):  # an .mp4 keeps its index at the end, so any cut loses it
        cut = tmp_path / f"cut{percent}.mp4"
        cut.write_bytes(data[: len(data) * percent // 100])
        cases[f"cut {percent}%"] = (cut, "not a readable video file")
    return cases


def test_unusable_clips_fail_cleanly_in_extract_and_render(
    run_cli, make_clip, tmp_path, audio_only_file, video_without_frames, tiny_checkpoint,
):
    good = make_clip("good.mp4", n_frames=30)
    for name, (bad, problem) in _bad_clips(tmp_path, good, audio_only_file, video_without_frames).items():
        result = run_cli("extract", "--a", good, "--b", bad, "--out", tmp_path / "frames", "-q")
        assert_clean_failure(result, str(bad), problem, code=1)
        result = run_cli("render", bad, "--checkpoint", tiny_checkpoint, "--out", tmp_path / "r.mp4", "-q")
        assert_clean_failure(result, str(bad), problem, code=1)
        assert not (tmp_path / "frames").exists() and not (tmp_path / "r.mp4").exists(), name


def test_a_file_where_a_folder_belongs_and_the_reverse(run_cli, make_clip, tmp_path, tiny_checkpoint):
    clip = make_clip(n_frames=3)
    assert_clean_failure(run_cli("extract", "--a", clip, "--b", clip, "--out", clip, "-q"), str(clip), "not a folder", code=1)
    assert_clean_failure(run_cli("render", clip, "--run", clip, "-q"), str(clip), "not a readable checkpoint", code=1)
    assert_clean_failure(run_cli("render", clip, "--checkpoint", tmp_path, "-q"), str(tmp_path), "no checkpoint", code=1)
    assert_clean_failure(
        run_cli("train", "--a", clip, "--b", tmp_path, "--out", tmp_path / "run", *TRAIN_TINY), str(clip), "expected a folder", code=1,
    )
    missing = tmp_path / "nowhere"
    assert_clean_failure(
        run_cli("train", "--a", missing, "--b", tmp_path, "--out", tmp_path / "run", *TRAIN_TINY), str(missing), "no such folder", code=1,
    )
    assert clip.read_bytes()  # inputs untouched


@pytest.mark.parametrize(
    "args",
    [
        ["extract", "--every", "0"],
        ["extract", "--every", "-3"],
        ["train", "--iters", "0"],
        ["train", "--iters", "-1"],
        ["train", "--batch-size", "0"],
        ["train", "--batch-size", "-2"],
        ["render", "--batch-size", "0"],
        ["render", "--batch-size", "-4"],
    ],
)
def test_zero_or_negative_counts_are_usage_errors(run_cli, make_clip, tmp_path, tiny_checkpoint, args):
    clip = make_clip(n_frames=3)
    command, flag, value = args
    where = {
        "extract": ["--a", clip, "--b", clip, "--out", tmp_path / "frames"],
        "train": ["--a", SHARED_DATA / "cats" / "grumpy", "--b", SHARED_DATA / "cats" / "russian_blue", "--out", tmp_path / "run"],
        "render": [clip, "--checkpoint", tiny_checkpoint],
    }[command]
    result = run_cli(command, *where, flag, value, "-q")
    assert_clean_failure(result, flag, value, code=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "model"]  # nothing written


def test_a_roi_outside_the_frame_is_a_usage_error(run_cli, make_clip, tmp_path, tiny_checkpoint):
    clip = make_clip(n_frames=3)  # 96x64
    cases = {
        "96,10,20,20": ["--roi 96,10,20,20 lies outside the 96x64 frame of", str(clip)],  # just right of it
        "-30,0,30,64": ["--roi -30,0,30,64 lies outside the 96x64 frame of", str(clip)],  # just left of it
        "10,10,0,5": ["--roi width and height must be positive, got 0x5"],
    }
    for roi, fragments in cases.items():
        result = run_cli("render", clip, "--checkpoint", tiny_checkpoint, "--roi", roi, "--out", tmp_path / "r.mp4", "-q")
        assert_clean_failure(result, *fragments, code=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "model"]  # nothing written


def test_odd_paths_work_and_are_named_in_errors(run_cli, make_clip, tmp_path):
    clip = make_clip("my clip.mp4", n_frames=4)
    odd = Path(os.fsdecode(b"caf\xe9 \xff take.mp4"))  # Latin-1 bytes: not valid UTF-8
    (tmp_path / odd).write_bytes(clip.read_bytes())
    out = Path(os.fsdecode(b"out \xfe dir"))

    done = run_cli("extract", "--a", clip, "--b", odd, "--out", out, "--every", "2", "--size", "16", "-q", isolated=True)

    assert done.code == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / out / "b").iterdir()) == ["c00_caf_take_f000000.png", "c00_caf_take_f000002.png"]
    missing = Path(os.fsdecode(b"gone \xff.mp4"))
    assert_clean_failure(run_cli("extract", "--a", clip, "--b", missing, "--out", "x", "-q", isolated=True), "gone", "no such file", code=1)


def _write_odd_images(folder: Path) -> dict[str, np.ndarray]:
    """The first grumpy cat saved as grayscale, RGBA, 16-bit grey and CMYK, plus what each must read back as."""
    folder.mkdir()
    rgb = np.asarray(Image.open(SHARED_DATA / "cats" / "grumpy" / "0.png").convert("RGB"))
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    Image.fromarray(grey).save(folder / "grey.png")
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:8, :, 3] = 0  # a transparent band: composited onto black
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(folder / "grey16.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.tif")
    expected_rgba = rgb.copy()
    expected_rgba[:8] = 0
    return {"cmyk.tif": rgb, "grey.png": np.dstack([grey] * 3), "grey16.png": np.dstack([grey] * 3), "rgba.png": expected_rgba}


def test_image_folders_convert_any_mode_and_skip_corrupt_files(run_cli, tmp_path, capsys, tiny_checkpoint):
    mixed = tmp_path / "mixed"
    expected = _write_odd_images(mixed)
    good = (SHARED_DATA / "cats" / "grumpy" / "1.png").read_bytes()
    (mixed / "broken.png").write_bytes(good[: len(good) // 3])
    (mixed / "notes.png").write_text("not an image")
    (tmp_path / "empty").mkdir()

    result = run_cli("train", "--a", mixed, "--b", tmp_path / "empty", "--out", tmp_path / "run", *TRAIN_TINY)
    assert_clean_failure(result, str(tmp_path / "empty"), "no images", code=1)
    assert not (tmp_path / "run").exists()

    # Through the command line: `translate` reads the folder as training does, one image at a time.
    translated = run_cli("translate", mixed, "--run", tiny_checkpoint, "--out", tmp_path / "translated", "-q")
    assert translated.code == 0, translated.stderr
    warnings = [line for line in translated.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and "broken.png" in warnings[0] and "notes.png" in warnings[1], translated.stderr
    outputs = sorted((tmp_path / "translated").iterdir())
    assert [p.name for p in outputs] == ["cmyk.png", "grey.png", "grey16.png", "rgba.png"]
    assert all(Image.open(p).mode == "RGB" and Image.open(p).size == (64, 64) for p in outputs)

    capsys.readouterr()
    images = load_image_folder(mixed, 64)  # what training would have used from the mixed folder
    stderr = capsys.readouterr().err
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and "broken.png" in warnings[0] and "notes.png" in warnings[1], stderr
    assert images.shape == (len(expected), 3, 64, 64) and images.dtype == torch.uint8
    for image, (name, rgb) in zip(images, sorted(expected.items())):
        assert np.abs(image.permute(1, 2, 0).numpy().astype(int) - rgb).max() <= 3, name


def test_checkpoints_of_another_kind_or_architecture_are_refused(run_cli, make_clip, tmp_path):
    clip = make_clip(n_frames=3)
    dcgan_run = tmp_path / "dcgan-run"
    save_run_checkpoint(dcgan_run, 5, kind="dcgan", arch={"z": 8}, modules={"generator": nn.Linear(8, 8)})
    result = run_cli("render", clip, "--run", dcgan_run, "-q")
    assert_clean_failure(result, str(dcgan_run), "dcgan", "CycleGAN", code=1)

    wider = _save_cyclegan(tmp_path / "wider.pt", GeneratorConfig.for_size(64, channels=8, res_blocks=1))
    payload = torch.load(wider, weights_only=True)
    payload["arch"]["generator"]["channels"] = 4  # weights of one size, architecture of another
    torch.save(payload, tmp_path / "mismatched.pt")
    result = run_cli("render", clip, "--checkpoint", tmp_path / "mismatched.pt", "-q")
    assert_clean_failure(result, "mismatched.pt", "do not fit the model", "size mismatch", code=1)
    payload["arch"]["generator"]["gated_skips"] = True  # an option this vidgan does not know
    torch.save(payload, tmp_path / "unknown.pt")
    assert_clean_failure(run_cli("render", clip, "--checkpoint", tmp_path / "unknown.pt", "-q"), "unknown.pt", "gated_skips", code=1)
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == ["clip.mp4"]


def test_debug_shows_the_traceback(run_cli, tmp_path):
    plain = run_cli("extract", "--a", "x.mp4", "--b", "x.mp4", "--out", "frames", isolated=True)
    assert_clean_failure(plain, "x.mp4", "no such file", code=1)
    debug = run_cli("--debug", "extract", "--a", "x.mp4", "--b", "x.mp4", "--out", "frames", isolated=True)
    assert debug.code == 1 and "Traceback" in debug.stderr and "VidganError: x.mp4: no such file" in debug.stderr


# --- damaged clips: keep what decodes -----------------------------------------------------------------------


def test_decode_error_mid_clip_keeps_the_frames_before_it(run_cli, make_clip, tmp_path, tiny_checkpoint):
    clip = make_clip("noise.mp4", n_frames=30, draw=lambda i: np.random.default_rng(i).integers(0, 256, (64, 96, 3), np.uint8))
    break_packet(clip, 15)
    decodable = _frame_count(clip)
    assert 0 < decodable < 30

    rendered = run_cli("render", clip, "--checkpoint", tiny_checkpoint, "--out", tmp_path / "out.mp4", "-q")
    extracted = run_cli("extract", "--a", clip, "--b", clip, "--out", tmp_path / "frames", "--every", "1", "--size", "16", "-q")

    for result in (rendered, extracted):
        assert result.code == 0, result.stderr
        assert f"frame {decodable}" in result.stderr and str(clip) in result.stderr and "warning:" in result.stderr
    assert _frame_count(tmp_path / "out.mp4") == decodable
    assert len(list((tmp_path / "frames" / "a").glob("*.png"))) == decodable


def test_truncated_streamable_clip_keeps_what_decodes_and_says_so(run_cli, make_clip, tmp_path):
    clip = make_clip("take.mkv", n_frames=48)
    data = clip.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    kept = _frame_count(cut)
    assert 0 < kept < 48

    result = run_cli("extract", "--a", cut, "--b", clip, "--out", tmp_path / "frames", "--every", "1", "--size", "16", "-q")

    assert result.code == 0, result.stderr
    assert "may be truncated" in result.stderr and str(cut) in result.stderr
    assert len(list((tmp_path / "frames" / "a").glob("*.png"))) == kept


FUZZ_DRIVER = """
import contextlib, io, json, sys
from vidgan.cli import main
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            main(args)
            code = 0
        except SystemExit as done:
            code = done.code
    print(json.dumps({"args": args, "code": code, "stderr": err.getvalue()}), flush=True)
"""


@pytest.mark.slow
def test_fuzzed_clips_never_crash_or_hang(make_clip, tmp_path, tiny_checkpoint):
    clip = make_clip("seed.mp4", n_frames=12, width=48, height=32, audio=True)
    original = clip.read_bytes()
    rng = random.Random(7)
    calls = []
    for n in range(8):
        data = bytearray(original)
        start = rng.randrange(len(data))
        for i in range(start, min(len(data), start + rng.choice([1, 16, 256]))):
            data[i] = rng.randrange(256)
        if n % 3 == 2:  # also drop or duplicate a slice
            cut = rng.randrange(len(data))
            data = data[:cut] + data[cut + rng.randrange(1, 512) :] if n % 2 else data[:cut] + data[cut - 64 : cut] + data[cut:]
        mutant = tmp_path / f"mutant{n}.mp4"
        mutant.write_bytes(bytes(data))
        calls.append(
            ["extract", "--a", str(mutant), "--b", str(mutant), "--out", str(tmp_path / f"f{n}"), "--every", "1", "--size", "16", "-q"],
        )
        calls.append(["render", str(mutant), "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / f"r{n}.mp4"), "-q"])

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    # The timeout is the hang detector: 20 small runs finish in a few seconds.
    done = subprocess.run([sys.executable, "-c", FUZZ_DRIVER, json.dumps(calls)], capture_output=True, text=True, timeout=120, env=env)

    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(calls)
    for result in results:
        assert result["code"] in (0, 1), result
        assert "Traceback" not in result["stderr"] and "internal error" not in result["stderr"], result
        if result["code"]:
            assert len([x for x in result["stderr"].splitlines() if x.startswith("error:")]) == 1, result
    outputs = [Path(c[5]) for c in calls if c[0] == "render"]
    for output, result in zip(outputs, results[1::2]):
        assert output.exists() == (result["code"] == 0)
        if output.exists():
            assert _frame_count(output) == _frame_count(Path(result["args"][1]))
    assert not list(tmp_path.rglob(".*tmp*")) and not list(tmp_path.rglob(".vidgan-partial")), "temporaries left"


# --- security ---------------------------------------------------------------------------------------------


class _RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def test_a_checkpoint_that_would_run_code_is_refused(run_cli, make_clip, tmp_path):
    clip = make_clip(n_frames=3)
    marker = tmp_path / "pwned"
    trap = {"format": "vidgan-checkpoint/1", "kind": "cyclegan", "models": _RunsACommand(marker)}
    torch.save(trap, tmp_path / "trap.pt")  # the torch zip format
    (tmp_path / "raw.pt").write_bytes(pickle.dumps(trap))  # a bare pickle
    run = tmp_path / "run"
    _save_cyclegan(run / "checkpoints" / "step_0000001.pt")
    torch.save(trap, run / "checkpoints" / "step_0000002.pt")  # a trap planted as a run's newer checkpoint
    whole = (run / "checkpoints" / "step_0000001.pt").read_bytes()
    (run / "checkpoints" / "step_0000003.pt").write_bytes(whole[: len(whole) // 2])  # and a truncated newest one

    assert_clean_failure(
        run_cli("render", clip, "--checkpoint", tmp_path / "trap.pt", "-q"), "trap.pt", "refused to load", "posix.system", code=1,
    )
    assert_clean_failure(run_cli("render", clip, "--checkpoint", tmp_path / "raw.pt", "-q"), "raw.pt", "not a readable checkpoint", code=1)
    result = run_cli("render", clip, "--run", run, "-q")
    assert result.code == 0, result.stderr  # each bad one reported, then the oldest used
    assert "step_0000003.pt: not a readable checkpoint" in result.stderr and "step_0000002.pt: refused to load" in result.stderr
    assert not marker.exists()
    torch.load(tmp_path / "trap.pt", weights_only=False)  # proof that the trap is armed
    assert marker.exists()


def test_output_names_come_from_vidgan_not_from_the_clip_path(run_cli, make_clip, tmp_path, tiny_checkpoint):
    make_clip("x.mp4", n_frames=2)
    work = tmp_path / "deep" / "er"
    work.mkdir(parents=True)

    done = run_cli("extract", "--a", "../../x.mp4", "--b", "../../x.mp4", "--out", "out", "--size", "16", "-q", cwd=work, isolated=True)
    rendered = run_cli("render", "../../x.mp4", "--checkpoint", tiny_checkpoint, "--out-dir", "videos", "-q", cwd=work)

    assert done.code == 0, done.stderr
    assert rendered.code == 0, rendered.stderr
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() and p != tiny_checkpoint)
    assert written == ["deep/er/out/a/c00_x_f000000.png", "deep/er/out/b/c00_x_f000000.png", "deep/er/out/manifest.json",
                       "deep/er/videos/x_a2b.mp4", "x.mp4"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert (work / "out" / "manifest.json").stat().st_mode & 0o777 == 0o666 & ~umask  # not left private like a temp file


def test_render_and_extract_never_write_over_inputs_or_earlier_outputs(run_cli, make_clip, tmp_path, tiny_checkpoint):
    clip = make_clip(n_frames=3)
    original = clip.read_bytes()
    os.link(clip, tmp_path / "alias.mp4")
    for out in (clip, tmp_path / "alias.mp4"):
        result = run_cli("render", clip, "--checkpoint", tiny_checkpoint, "--out", out, "--overwrite", "-q")
        assert_clean_failure(result, "would overwrite", str(clip), code=2)
    (tmp_path / "r.mp4").write_text("earlier result")
    assert_clean_failure(
        run_cli("render", clip, "--checkpoint", tiny_checkpoint, "--out", tmp_path / "r.mp4", "-q"), "r.mp4", "--overwrite", code=2,
    )
    assert (tmp_path / "r.mp4").read_text() == "earlier result" and clip.read_bytes() == original

    frames = tmp_path / "frames"
    assert run_cli("extract", "--a", clip, "--b", clip, "--out", frames, "--every", "1", "--size", "16", "-q").code == 0
    first = {p.name: p.read_bytes() for p in (frames / "a").iterdir()}
    again = run_cli("extract", "--a", clip, "--b", clip, "--out", frames, "--every", "2", "--size", "16", "-q")
    assert_clean_failure(again, str(frames), "manifest.json", "--overwrite", code=2)
    assert {p.name: p.read_bytes() for p in (frames / "a").iterdir()} == first
    (frames / "a" / "mine.png").write_bytes(b"user's own file")
    replaced = run_cli("extract", "--a", clip, "--b", clip, "--out", frames, "--every", "2", "--size", "16", "--overwrite", "-q")
    assert replaced.code == 0, replaced.stderr
    assert sorted(p.name for p in (frames / "a").iterdir()) == ["c00_clip_f000000.png", "c00_clip_f000002.png", "mine.png"]
    assert len(json.loads((frames / "manifest.json").read_text())["images"]) == 4
    assert sorted(p.name for p in frames.iterdir()) == ["a", "b", "manifest.json"]  # no staging folder left


def test_failed_extraction_leaves_earlier_output_intact(run_cli, make_clip, tmp_path):
    clip = make_clip(n_frames=3)
    frames = tmp_path / "frames"
    assert run_cli("extract", "--a", clip, "--b", clip, "--out", frames, "--every", "1", "--size", "16", "-q").code == 0
    before = {str(p): p.read_bytes() for p in frames.rglob("*") if p.is_file()}
    late = run_cli("extract", "--a", clip, "--b", clip, "--out", frames, "--start", "0.05", "--end", "0.06", "--overwrite", "-q")
    assert_clean_failure(late, "no frames to extract", code=1)
    assert {str(p): p.read_bytes() for p in frames.rglob("*") if p.is_file()} == before


# --- disk full, NaN ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _disk_full_after(limit: int) -> Iterator[None]:
    """Files may not grow past `limit` bytes: the OS refuses the write (EFBIG), as it does on a full disk (ENOSPC)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel stops the process instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_full_disk_gives_a_clear_error_and_no_file_under_a_final_name(run_cli, make_clip, tmp_path, tiny_checkpoint):
    noise = make_clip("noise.mp4", n_frames=40, draw=lambda i: np.random.default_rng(i).integers(0, 256, (64, 96, 3), np.uint8))
    cats = SHARED_DATA / "cats"
    big = {"g": ResnetGenerator(GeneratorConfig.for_size(64, channels=32, res_blocks=2))}
    with _disk_full_after(8_000):
        rendered = run_cli("render", noise, "--checkpoint", tiny_checkpoint, "--out", tmp_path / "r.mp4", "-q")
        trained = run_cli(
            "train", "--a", cats / "grumpy", "--b", cats / "russian_blue", "--out", tmp_path / "run", "--iters", "1", *TRAIN_TINY,
        )
        with pytest.raises(VidganError) as saving:
            save_checkpoint(tmp_path / "big.pt", kind="cyclegan", step=1, arch={}, modules=big)

    assert_clean_failure(rendered, "r.mp4", "File too large", code=1)
    assert_clean_failure(trained, str(tmp_path / "run"), "cannot write (File too large)", code=1)
    assert str(saving.value) == f"{tmp_path / 'big.pt'}: cannot write (File too large)"
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    # Written in full: the tiny files before the sample grid. No partial video, sample, checkpoint or temporary.
    assert left == ["model/tiny.pt", "noise.mp4", "run/config.json", "run/metrics.jsonl", "run/split.json"]


def test_nan_loss_stops_naming_step_and_term_and_keeps_the_good_checkpoint(run_cli, tmp_path, monkeypatch):
    real_step = CycleGANTask.train_step

    def poisoned(self, step, total):
        losses = real_step(self, step, total)
        if step + 1 >= 2:  # from step 2 on the cycle loss is NaN
            losses["cycle"] = torch.tensor(float("nan"))
        return losses

    monkeypatch.setattr(CycleGANTask, "train_step", poisoned)
    run = tmp_path / "run"
    cats = SHARED_DATA / "cats"
    result = run_cli(
        "train", "--a", cats / "grumpy", "--b", cats / "russian_blue", "--out", run,
        "--iters", "3", "--checkpoint-every", "1", "--sample-every", "100", *TRAIN_TINY,
    )

    assert_clean_failure(result, "loss cycle", "nan", "step 2", "step_0000001.pt", code=1)
    assert [p.name for p in step_checkpoints(run)] == ["step_0000001.pt"]
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["step"] == 1


# --- interrupted jobs --------------------------------------------------------------------------------------


def _spawn(tmp_path: Path, *args: object) -> subprocess.Popen:
    # The same thread count as this process, so that its float sums match an in-process run bit for bit.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": str(torch.get_num_threads()), "PYTHONFAULTHANDLER": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "vidgan", *map(str, args)], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _finished(process: subprocess.Popen) -> CliResult:
    """Its exit code and output; if it hangs, the failure shows where each of its threads is stuck."""
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        stdout, stderr = process.communicate()
        raise AssertionError(stderr[-10000:]) from None
    return CliResult(process.returncode, stdout, stderr)


def _latest_step(run: Path) -> int:
    return load_checkpoint(run / "checkpoints" / "latest.pt")["step"]


def _adam_steps(run: Path) -> dict[str, int]:
    """Each optimizer's own count of the updates it has made."""
    optimizers = load_checkpoint(run / "checkpoints" / "latest.pt")["optimizers"]
    return {name: int(next(iter(state["state"].values()))["step"]) for name, state in optimizers.items()}


def _assert_same_weights(run: Path, reference: Path) -> None:
    ours, theirs = (load_checkpoint(r / "checkpoints" / "latest.pt")["models"] for r in (run, reference))
    assert ours.keys() == theirs.keys()
    for group in theirs:
        for key, tensor in theirs[group].items():
            assert torch.equal(ours[group][key], tensor), f"{group}.{key}"


@pytest.mark.slow
def test_killed_then_interrupted_training_resumes_exactly_where_it_stopped(run_cli, tmp_path, monkeypatch):
    cats = SHARED_DATA / "cats"
    iters, every = 6, 2
    start = ["train", "--a", cats / "grumpy", "--b", cats / "russian_blue", "--iters", iters, "--checkpoint-every", every,
             "--sample-every", 3, *TRAIN_TINY]
    run = tmp_path / "run"
    whole = _spawn(tmp_path, *start, "--out", "whole")  # alongside: the same run, never stopped
    # 1. SIGKILL at a random moment after the first checkpoint: nothing gets the chance to clean up.
    train = _spawn(tmp_path, *start, "--out", run)
    _wait_for(lambda: (run / "checkpoints" / "latest.pt").exists(), train)
    time.sleep(random.Random(3).uniform(0.0, 0.5))
    train.kill()
    train.wait()
    killed_at = _latest_step(run)
    assert killed_at % every == 0 and killed_at < iters
    samples_before = [int(p.stem[5:]) for p in (run / "samples").glob("step_*.png")]
    assert max(samples_before, default=0) <= killed_at + every  # at most --checkpoint-every steps were lost

    # 2. Resume; a real Ctrl-C (SIGINT to this process) arrives during the next step, between two checkpoints:
    #    that step is finished and saved, and the job exits 130.
    real_step = CycleGANTask.train_step

    def ctrl_c_during_a_step(self, step, total):
        if step == killed_at:
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler  # else pytest would stop
            signal.raise_signal(signal.SIGINT)
        return real_step(self, step, total)

    monkeypatch.setattr(CycleGANTask, "train_step", ctrl_c_during_a_step)
    interrupted = run_cli("train", "--resume", "--out", run, "-q")
    monkeypatch.undo()
    stopped_at = killed_at + 1
    assert_clean_failure(interrupted, f"interrupted at step {stopped_at}; checkpoint saved", "--resume", code=130)
    assert "warning: stopping after the current step" in interrupted.stderr
    assert _latest_step(run) == stopped_at and _adam_steps(run) == {"generators": stopped_at, "discriminators": stopped_at}

    # 3. Resume again to the end: steps, optimizer, metrics and samples all continue without gaps or repeats,
    #    and the weights are bit for bit those of the run that was never stopped.
    final = run_cli("train", "--resume", "--out", run, "-q")
    assert final.code == 0, final.stderr
    assert _latest_step(run) == iters and set(_adam_steps(run).values()) == {iters}
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == iters
    assert sorted(int(p.stem[5:]) for p in (run / "samples").glob("step_*.png")) == [3, 6]
    assert _finished(whole).code == 0
    _assert_same_weights(run, tmp_path / "whole")


class _TwoPlayers:
    """A toy Trainable whose step updates two networks one after the other, as a GAN updates G, then D.

    `signals` maps a step to the signals this process sends itself between the two updates of that step.
    """

    kind = "two-players"
    arch: dict = {}

    def __init__(self, signals: dict[int, list[signal.Signals]] | None = None) -> None:
        torch.manual_seed(0)
        self.modules = {"g": nn.Linear(4, 4), "d": nn.Linear(4, 1)}
        self.optimizers = {name: torch.optim.Adam(m.parameters(), lr=0.1) for name, m in self.modules.items()}
        self.signals = signals or {}

    def train_step(self, step: int, total_steps: int) -> dict[str, torch.Tensor]:
        g, d = self.modules["g"], self.modules["d"]
        losses = {}
        for name in ("g", "d"):
            x = torch.randn(8, 4)
            loss = -d(g(x)).mean() if name == "g" else d(g(x).detach()).mean() - d(x).mean()
            self.optimizers[name].zero_grad()
            loss.backward()
            self.optimizers[name].step()
            losses[name] = loss.detach()
            if name == "g":
                for signum in self.signals.get(step + 1, []):
                    signal.raise_signal(signum)
        return losses

    def sample_grid(self) -> torch.Tensor:
        return torch.zeros(3, 4, 4, dtype=torch.uint8)


def _train(task: _TwoPlayers, run: Path, *, start_step: int = 0) -> None:
    train_loop(task, RunFolder(run), iters=5, sample_every=100, checkpoint_every=2, start_step=start_step, quiet=True)


def test_ctrl_c_in_the_middle_of_a_step_lets_it_finish_and_saves_it(tmp_path, monkeypatch, capsys):
    _train(_TwoPlayers(), tmp_path / "whole")
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    # Ctrl-C between G's and D's update of step 3, delivered twice at once, as torchrun's workers get it (from
    # the terminal and from torchrun): one request. Step 3 is finished, saved, and nothing more is done.
    with pytest.raises(Interrupted, match=r"interrupted at step 3; checkpoint saved to .*step_0000003\.pt"):
        _train(_TwoPlayers({3: [signal.SIGINT, signal.SIGINT]}), tmp_path / "cut")
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers  # put back
    assert "stopping after the current step" in capsys.readouterr().err
    checkpoint = load_checkpoint(tmp_path / "cut" / "checkpoints" / "latest.pt")
    assert checkpoint["step"] == 3
    assert [int(o["state"][0]["step"]) for o in checkpoint["optimizers"].values()] == [3, 3]  # G and D alike
    # The checkpoint is a whole step 3: resuming from it ends where the run that was never stopped ended.
    resumed = _TwoPlayers()
    _train(resumed, tmp_path / "cut", start_step=restore(resumed, RunFolder(tmp_path / "cut"), torch.device("cpu")))
    _assert_same_weights(tmp_path / "cut", tmp_path / "whole")

    # Asked twice (here SIGTERM, as `kill` sends it, with no pause needed between the two): stop at once. The
    # half-done step 3 is dropped, and the message points at the newest checkpoint, of step 2.
    monkeypatch.setattr(errors, "REPEAT_AFTER_SECONDS", 0.0)
    with pytest.raises(Interrupted, match=r"stopped at once .*--resume continues from .*step_0000002\.pt"):
        _train(_TwoPlayers({3: [signal.SIGTERM, signal.SIGTERM]}), tmp_path / "twice")
    assert [p.name for p in step_checkpoints(tmp_path / "twice")] == ["step_0000002.pt"]


@pytest.mark.slow
def test_ctrl_c_in_a_png_render_says_where_the_frames_are_and_resume_finishes_them(run_cli, make_clip, tmp_path, tiny_checkpoint):
    clip = make_clip("shot.mp4", n_frames=120, width=64, height=48)
    render = ["render", clip, "--checkpoint", tiny_checkpoint, "--warp-error-every", "0", "--out", "frames"]
    process = _spawn(tmp_path, *render, "--batch-size", "1")
    frames = tmp_path / "frames"
    _wait_for(lambda: len(list(frames.glob("shot_*.png"))) >= 3, process)
    process.send_signal(signal.SIGINT)

    result = _finished(process)
    kept = sorted(frames.glob("shot_*.png"))
    assert 3 <= len(kept) < 120
    assert_clean_failure(result, f"partial image sequence is in frames ({len(kept)} frames)", "--resume continues it", code=130)
    # Every file is a whole frame, and the folder says it is unfinished until a --resume completes it.
    assert sorted(p.name for p in frames.iterdir()) == ["INCOMPLETE.txt", *(p.name for p in kept)]
    assert all(Image.open(p).size == (64, 48) for p in kept)
    resumed = run_cli(*render, "--resume", "-q")
    assert resumed.code == 0, resumed.stderr
    assert f"120 frames, {len(kept)} kept from before" in " ".join(resumed.stderr.split())
    assert len(list(frames.iterdir())) == 120 and not (frames / "INCOMPLETE.txt").exists()


def test_interrupted_video_render_leaves_no_file(run_cli, make_clip, tmp_path, tiny_checkpoint, monkeypatch):
    clip = make_clip(n_frames=30)
    real_translate = FrameTranslator.__call__
    batches = []

    def sigterm_at_the_third_batch(self, frames):
        batches.append(len(frames))
        if len(batches) == 3:  # SIGTERM, as `kill` and schedulers send it, to this process
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)  # else pytest would stop
            signal.raise_signal(signal.SIGTERM)
        return real_translate(self, frames)

    monkeypatch.setattr(FrameTranslator, "__call__", sigterm_at_the_third_batch)
    result = run_cli("render", clip, "--checkpoint", tiny_checkpoint, "--out", tmp_path / "out.mp4", "--compare", "--batch-size", "2", "-q")
    assert_clean_failure(
        result, f"interrupted; not written: {tmp_path / 'out.mp4'}, {tmp_path / 'out_compare.mp4'}", "kept only when complete", code=130,
    )
    assert len(batches) == 3  # stopped before the next batch
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "model"]  # no output, no side-by-side, no temporary


def test_interrupted_extraction_writes_nothing(run_cli, make_clip, tmp_path, monkeypatch):
    clip = make_clip(n_frames=6)
    real_frames = extract.iter_frames

    def ctrl_c_at_the_third_frame(*args, **kwargs):
        for n, frame in enumerate(real_frames(*args, **kwargs)):
            if n == 2:
                assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler  # else pytest would stop
                signal.raise_signal(signal.SIGINT)
            yield frame

    monkeypatch.setattr(extract, "iter_frames", ctrl_c_at_the_third_frame)
    result = run_cli("extract", "--a", clip, "--b", clip, "--out", tmp_path / "frames", "--every", "1", "--size", "16", "-q")
    assert_clean_failure(result, f"interrupted; nothing was written to {tmp_path / 'frames'}", code=130)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no frames folder, no staging folder
