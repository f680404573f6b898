"""Tests for vidgan.io.extract: image counts, names, manifest, cropping and input checks."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import assert_clean_failure

from vidgan.core.errors import UsageError, VidganError
from vidgan.io.extract import extract_frames, safe_stem

NAME = re.compile(r"c\d{2}_[A-Za-z0-9_-]+_f\d{6}\.png")


def _read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_counts_names_and_manifest(make_clip, tmp_path):
    a1, a2 = make_clip("a/glove.mp4", n_frames=30, audio=True), make_clip("a/my clip é.mp4", n_frames=25)
    b1, b2 = make_clip("b/glove.mp4", n_frames=40), make_clip("b/x.mp4", n_frames=20)
    out = tmp_path / "frames"

    result = extract_frames({"a": [a1, a2], "b": [b1, b2]}, out, every=7, size=32, quiet=True)

    expected = {"a": math.ceil(30 / 7) + math.ceil(25 / 7), "b": math.ceil(40 / 7) + math.ceil(20 / 7)}
    assert result.counts == expected and result.out_dir == out
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["every"], manifest["size"], manifest["crop"]) == (7, 32, "center")
    images = manifest["images"]
    assert len(images) == sum(expected.values())
    assert len({image["file"] for image in images}) == len(images)
    for domain in ("a", "b"):
        files = sorted(p.name for p in (out / domain).iterdir())
        assert files == sorted(i["file"].split("/")[1] for i in images if i["domain"] == domain)
        assert all(NAME.fullmatch(name) for name in files)
    first_of_a2 = next(i for i in images if i["domain"] == "a" and i["clip_index"] == 1)
    assert first_of_a2 == {
        "file": "a/c01_my_clip_f000000.png",
        "domain": "a",
        "source": str(a2.resolve()),
        "clip_index": 1,
        "frame_index": 0,
        "time": 0.0,
    }
    last = images[-1]
    assert (last["source"], last["frame_index"], last["time"]) == (str(b2.resolve()), 14, pytest.approx(14 * 1001 / 30000))
    assert _read_rgb(out / last["file"]).shape == (32, 32, 3)
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "manifest.json"]  # no temp files left


def test_names_stay_inside_the_output_folder(make_clip, tmp_path):
    clip = make_clip("deep/dir/x.mp4", n_frames=3)
    odd = Path(os.fsdecode(b"strange \xff name..mp4"))
    assert safe_stem(odd) == "strange_name"
    assert safe_stem(Path("../../...mp4")) == "clip"
    dotted = tmp_path / "deep" / "dir" / ".." / ".." / "deep" / "dir" / "x.mp4"

    extract_frames({"a": [dotted]}, tmp_path / "out", every=1, size=16, quiet=True)

    assert sorted(p.name for p in (tmp_path / "out" / "a").iterdir()) == [f"c00_x_f00000{i}.png" for i in range(3)]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert {i["source"] for i in manifest["images"]} == {str(clip.resolve())}


def _thirds(i: int) -> np.ndarray:
    rgb = np.zeros((30, 90, 3), np.uint8)
    rgb[:, :30] = (255, 0, 0)
    rgb[:, 30:60] = (0, 255, 0)
    rgb[:, 60:] = (0, 0, 255)
    return rgb


def test_center_crop_versus_stretch(make_clip, tmp_path):
    clip = make_clip("thirds.mp4", n_frames=2, width=90, height=30, draw=_thirds)

    extract_frames({"a": [clip]}, tmp_path / "center", every=1, size=16, crop="center", quiet=True)
    extract_frames({"a": [clip]}, tmp_path / "none", every=1, size=16, crop="none", quiet=True)

    centre = _read_rgb(tmp_path / "center" / "a" / "c00_thirds_f000000.png").astype(int)
    assert centre.shape == (16, 16, 3)
    assert (centre[:, 2:-2, 1] > 200).all() and (centre[:, 2:-2, [0, 2]] < 60).all()  # all green
    stretched = _read_rgb(tmp_path / "none" / "a" / "c00_thirds_f000000.png").astype(int)
    assert stretched.shape == (16, 16, 3)
    assert (stretched[:, 1, 0] > 200).all() and (stretched[:, 8, 1] > 200).all() and (stretched[:, 14, 2] > 200).all()


def test_start_and_end_limit_the_frames(make_clip, tmp_path):
    clip = make_clip(n_frames=30)
    result = extract_frames({"a": [clip]}, tmp_path / "out", every=2, size=16, start=0.3, end=0.6, quiet=True)
    assert result.counts == {"a": 4}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [i["frame_index"] for i in manifest["images"]] == [10, 12, 14, 16]


def test_clip_with_no_frame_in_range_is_an_error(make_clip, tmp_path):
    clip = make_clip(n_frames=30)
    with pytest.raises(VidganError, match="no frames to extract"):
        extract_frames({"a": [clip]}, tmp_path / "out", every=15, size=16, start=0.1, end=0.2, quiet=True)
    assert not (tmp_path / "out" / "manifest.json").exists()
    with pytest.raises(VidganError, match="past its end"):
        extract_frames({"a": [clip]}, tmp_path / "late", start=5.0, quiet=True)
    assert not (tmp_path / "late").exists()


@pytest.mark.parametrize(
    "options",
    [
        {"every": 0},
        {"every": -1},
        {"every": 1.5},
        {"size": 8},
        {"crop": "left"},
        {"start": 2.0, "end": 1.0},
        {"start": -1.0},
    ],
)
def test_bad_options_are_usage_errors(make_clip, tmp_path, options):
    clip = make_clip(n_frames=3)
    with pytest.raises(UsageError):
        extract_frames({"a": [clip]}, tmp_path / "out", quiet=True, **options)
    assert not (tmp_path / "out").exists()


def test_bad_clips_fail_before_anything_is_written(make_clip, tmp_path, audio_only_file):
    good = make_clip("good.mp4", n_frames=5)
    (tmp_path / "folder.mp4").mkdir()
    (tmp_path / "notes.mp4").write_text("not a video\n")
    cases = {
        tmp_path / "missing.mp4": "no such file",
        tmp_path / "folder.mp4": "no images found",  # a folder is an image sequence
        tmp_path / "notes.mp4": "not a readable video file",
        audio_only_file: "has no video stream",
    }
    out = tmp_path / "out"
    for bad, message in cases.items():
        # the good clip comes first, so this checks that probing happens before any extraction
        with pytest.raises(VidganError, match=message) as caught:
            extract_frames({"a": [good], "b": [bad]}, out, quiet=True)
        assert str(caught.value).startswith(f"{bad}:") and "\n" not in str(caught.value)
        assert not out.exists()


def test_empty_domain_and_clip_inside_output_are_refused(make_clip, tmp_path):
    clip = make_clip("clip.mp4", n_frames=3)
    with pytest.raises(VidganError, match="domain b: no clips"):
        extract_frames({"a": [clip], "b": []}, tmp_path / "out", quiet=True)
    inside = make_clip("out/a/clip.mp4", n_frames=3)
    with pytest.raises(VidganError, match="inside the output folder"):
        extract_frames({"a": [inside]}, tmp_path / "out", quiet=True)
    assert sorted(p.name for p in (tmp_path / "out" / "a").iterdir()) == ["clip.mp4"]


def test_scale_keeps_whole_frames_and_train_crop_records_the_working_scale(make_clip, run_cli, tmp_path):
    clips = {d: make_clip(f"{d}.mp4", n_frames=6, width=160, height=90) for d in ("a", "b")}
    done = run_cli("extract", "--out", tmp_path / "data", "--a", clips["a"], "--b", clips["b"], "--every", "2", "--scale", "72")
    assert done.code == 0, done.stderr
    images = sorted((tmp_path / "data" / "a").glob("*.png"))
    assert len(images) == 3 and {_read_rgb(p).shape for p in images} == {(72, 128, 3)}  # 160x90 at a 72-px short side
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert (manifest["scale"], manifest["size"], manifest["crop"]) == (72, None, None)

    tiny = ["--channels", "4", "--res-blocks", "1", "--iters", "1", "--device", "cpu", "-q"]
    done = run_cli("train", tmp_path / "data", "--out", tmp_path / "run", "--crop", "64", *tiny)
    assert done.code == 0, done.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["working_scale"] == 72 and config["generator"]["size"] == 64
    done = run_cli("train", tmp_path / "data", "--out", tmp_path / "big", "--crop", "128", *tiny)
    assert_clean_failure(done, "--crop 128 is larger than the images", code=2)


def test_scale_bad_values_and_combinations_are_usage_errors(make_clip, run_cli, tmp_path):
    clip = make_clip("a.mp4", n_frames=2)
    for args, fragment in (
        (["--scale", "0"], "--scale must be a whole number of 16 or more"),
        (["--scale", "64", "--size", "64"], "leave out --size and --crop"),
        (["--scale", "64", "--crop", "none"], "leave out --size and --crop"),
    ):
        done = run_cli("extract", "--out", tmp_path / "data", "--a", clip, "--b", clip, *args)
        assert_clean_failure(done, fragment, code=2)
        assert not (tmp_path / "data").exists()
