"""`vidgan extract --pair-gap N`: each kept frame's frame N later and the optical flow between them in
<domain>/pairs/, from video files and image sequences, never taken for training images."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import assert_clean_failure

from vidgan.io.extract import extract_frames
from vidgan.io.images import list_images, read_rgb
from vidgan.io.pairs import PairFiles, read_pair
from vidgan.runs.images import load_training_images
from vidgan.runs.splits import split_domain

BRIGHTNESS_STEP = 9  # frame i is a flat grey of i * BRIGHTNESS_STEP


def numbered(i: int, width: int = 48, height: int = 32) -> np.ndarray:
    """A flat grey frame whose brightness says its index."""
    return np.full((height, width, 3), i * BRIGHTNESS_STEP, np.uint8)


def sliding_texture(shift: int, width: int = 96, height: int = 64):
    """draw(i): a smooth random texture moved `shift` px to the right per frame."""
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.integers(0, 256, (height // 4, (width + 40 * shift) // 4, 3), dtype=np.uint8), None, fx=4, fy=4)
    texture = cv2.GaussianBlur(texture, (0, 0), 1.5)
    start = texture.shape[1] - width
    return lambda i: np.ascontiguousarray(texture[:height, start - i * shift : start - i * shift + width])


@pytest.mark.parametrize("every, gap", [(3, 2), (2, 2), (2, 5)])
def test_each_kept_frame_gets_the_frame_gap_later_of_its_clip(make_clip, tmp_path, every, gap):
    frames = 20
    clip = make_clip("count.mp4", n_frames=frames, width=48, height=32, draw=numbered)
    out = tmp_path / "data"
    result = extract_frames({"a": [clip]}, out, every=every, pair_gap=gap, size=16, quiet=True)

    kept = list(range(0, frames, every))
    paired = [t for t in kept if t + gap < frames]  # the clip lacks the later frame of the others
    assert result.counts == {"a": len(kept)} and result.pairs == {"a": len(paired)}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pair_gap"] == gap
    records = {image["frame_index"]: image for image in manifest["images"]}
    assert sorted(records) == kept
    for t in kept:
        image = records[t]
        if t not in paired:
            assert "pair" not in image and not PairFiles.of(out / "a", image["file"].split("/")[1]).later.exists()
            continue
        assert image["pair"]["frame_index"] == t + gap
        assert image["pair"]["file"] == image["file"].replace("a/", "a/pairs/")
        files = PairFiles.of(out / "a", image["file"].split("/")[1])
        assert (out / image["pair"]["flow"]) == files.flow and (out / image["pair"]["reliable"]) == files.reliable
        later, flow, reliable = read_pair(files)
        assert later.shape == (16, 16, 3) and flow.shape == (16, 16, 2) and reliable.shape == (16, 16)
        assert abs(float(later.mean()) - (t + gap) * BRIGHTNESS_STEP) < 3  # H.264 keeps a flat grey within a level or two
        assert abs(float(read_rgb(out / image["file"]).mean()) - t * BRIGHTNESS_STEP) < 3


def test_an_image_sequence_pairs_by_position_and_the_pairs_are_no_training_images(tmp_path):
    sequence = tmp_path / "shot"
    sequence.mkdir()
    for i in range(7):
        cv2.imwrite(str(sequence / f"shot_{1001 + i}.png"), numbered(i))  # grey: RGB and BGR alike
    out = tmp_path / "data"
    result = extract_frames({"a": [sequence], "b": [sequence / "shot_%d.png"]}, out, every=2, pair_gap=3, size=16, quiet=True)

    assert result.counts == {"a": 4, "b": 4} and result.pairs == {"a": 2, "b": 2}  # kept 0, 2, 4, 6; pairs of 0 and 2
    for domain in ("a", "b"):
        names = [path.name for path in list_images(out / domain)]
        assert names == [f"c00_shot_f{t:06d}.png" for t in (0, 2, 4, 6)]
        for t in (0, 2):
            later, _, _ = read_pair(PairFiles.of(out / domain, f"c00_shot_f{t:06d}.png"))
            assert np.all(later == (t + 3) * BRIGHTNESS_STEP)  # PNG in, PNG out: exact
        assert len(load_training_images(out / domain, None, 16)) == 4
        split = split_domain(out / domain, 0.25, seed=0)
        assert sorted(split.train + split.held_out + split.guard) == names


def test_the_flow_of_a_sliding_texture_is_its_shift(make_clip, tmp_path):
    shift, gap = 2, 2
    clip = make_clip("slide.mp4", n_frames=9, draw=sliding_texture(shift))
    out = tmp_path / "data"
    extract_frames({"a": [clip]}, out, every=4, pair_gap=gap, scale=64, quiet=True)  # whole 96x64 frames

    images = list_images(out / "a")
    assert [path.name for path in images] == ["c00_slide_f000000.png", "c00_slide_f000004.png", "c00_slide_f000008.png"]
    for path in images[:2]:
        files = PairFiles.of(out / "a", path.name)
        flow = cv2.readOpticalFlow(str(files.flow))  # a standard Middlebury .flo file
        mask = cv2.imread(str(files.reliable), cv2.IMREAD_UNCHANGED)
        assert flow.shape == (64, 96, 2) and mask.shape == (64, 96) and set(np.unique(mask)) <= {0, 255}
        reliable = mask == 255
        assert reliable.mean() > 0.5
        # Each pixel of frame t+gap was shift*gap px to its left in frame t.
        assert np.median(flow[reliable][:, 0]) == pytest.approx(-shift * gap, abs=0.25)
        assert np.median(np.abs(flow[reliable][:, 1])) < 0.25
    assert not PairFiles.of(out / "a", images[2].name).later.exists()  # frame 10 is past the clip's end


def test_without_a_gap_nothing_changes_and_a_new_extraction_drops_stale_pairs(make_clip, tmp_path):
    clip = make_clip("count.mp4", n_frames=6, width=48, height=32, draw=numbered)
    out = tmp_path / "data"
    extract_frames({"a": [clip]}, out, every=2, pair_gap=1, size=16, quiet=True)
    assert len(list((out / "a" / "pairs").iterdir())) == 9  # 3 pairs, 3 files each

    result = extract_frames({"a": [clip]}, out, every=2, size=16, overwrite=True, quiet=True)
    assert result.pairs == {"a": 0}
    assert sorted(path.name for path in (out / "a").iterdir()) == [f"c00_count_f{t:06d}.png" for t in (0, 2, 4)]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pair_gap"] == 0 and not any("pair" in image for image in manifest["images"])


def test_a_bad_pair_gap_is_a_usage_error(make_clip, run_cli, tmp_path):
    clip = make_clip("a.mp4", n_frames=2)
    for value, fragment in (("-2", "--pair-gap must be a whole number of 0 or more, got -2"), ("1.5", "--pair-gap")):
        done = run_cli("extract", "--out", tmp_path / "data", "--a", clip, "--b", clip, "--pair-gap", value)
        assert_clean_failure(done, fragment, code=2)
        assert not (tmp_path / "data").exists()
    done = run_cli("extract", "--out", tmp_path / "data", "--a", clip, "--b", clip, "--pair-gap", "1", "--size", "16")
    assert done.code == 0, done.stderr
    assert "wrote 1 in a/ (1 with pairs), 1 in b/ (1 with pairs)" in " ".join(done.stderr.split())  # the console is stderr
