"""Held-out splits: time blocks per clip for extracted frames (no neighbour on both sides), seeded shuffles for folders."""

import json

import numpy as np
import pytest
from PIL import Image

from vidgan.core.errors import UsageError
from vidgan.runs.splits import load_split, split_domain
from vidgan.training.cyclegan import train_cyclegan
from vidgan.training.options import CycleGANOptions


def write_frames(root, clips, every=15, fps=30.0):
    """DATA/a/*.png plus DATA/manifest.json as `vidgan extract` writes them; clips = frames kept per clip."""
    folder = root / "a"
    folder.mkdir(parents=True)
    images = []
    for clip_index, count in enumerate(clips):
        for k in range(count):
            name = f"c{clip_index:02d}_clip_f{k * every:06d}.png"
            Image.new("RGB", (8, 8), (k, clip_index, 0)).save(folder / name)
            images.append(
                {"file": f"a/{name}", "domain": "a", "source": f"/clips/{clip_index}.mp4", "clip_index": clip_index,
                 "frame_index": k * every, "time": k * every / fps}
            )
    (root / "manifest.json").write_text(json.dumps({"every": every, "size": 8, "crop": "center", "images": images}))
    return folder


def frame_order(name):
    clip, _, frame = name.split("_")
    return clip, int(frame[1:7])


@pytest.mark.parametrize("every", [15, 3])
def test_time_blocks_never_put_neighbouring_frames_on_both_sides(tmp_path, every):
    folder = write_frames(tmp_path, [40, 25, 3, 60], every=every)
    split = split_domain(folder, 0.2, seed=7)
    assert split.method == "time-blocks"
    assert len(split.held_out) == pytest.approx(0.2 * 128, abs=2)
    assert sorted(split.train + split.held_out + split.guard) == sorted(p.name for p in folder.iterdir())
    side = {**{n: "train" for n in split.train}, **{n: "held" for n in split.held_out}}
    ordered = sorted(side.keys() | set(split.guard), key=frame_order)
    for first, second in zip(ordered, ordered[1:]):
        if frame_order(first)[0] == frame_order(second)[0] and first in side and second in side:
            assert side[first] == side[second], (first, second)
    # Guards cover a second of footage on each side: at every=3 (0.1 s apart) that is 10 frames.
    assert len(split.guard) >= (2 if every == 15 else 10)
    for clip in ("c00", "c01", "c03"):  # each long clip's held-out frames are one contiguous run
        held = sorted(frame_order(n)[1] for n in split.held_out if n.startswith(clip))
        assert held and held == list(range(held[0], held[-1] + every, every))
    assert split_domain(folder, 0.2, seed=7) == split  # deterministic
    assert split_domain(folder, 0.2, seed=8).held_out != split.held_out


def test_plain_folders_split_by_seeded_shuffle(tmp_path):
    folder = tmp_path / "cats"
    folder.mkdir()
    for i in range(30):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(folder / f"{i:02d}.png")
    split = split_domain(folder, 0.1, seed=0)
    assert split.method == "shuffled" and len(split.held_out) == 3 and len(split.train) == 27 and not split.guard
    assert split.held_out != ["00.png", "01.png", "02.png"]  # shuffled, not the first names
    assert split_domain(folder, 0.1, seed=0) == split
    assert split_domain(folder, 0.0, seed=0).held_out == []
    with pytest.raises(UsageError, match="--holdout"):
        split_domain(folder, 0.9, seed=0)


def test_train_records_the_split_and_trains_only_on_its_training_images(tmp_path, monkeypatch):
    import vidgan.runs.images

    loaded = []
    real_loader = vidgan.runs.images.load_image_files
    monkeypatch.setattr(vidgan.runs.images, "load_image_files", lambda paths, *rest: loaded.append(paths) or real_loader(paths, *rest))
    rng = np.random.default_rng(0)
    for domain in ("a", "b"):
        (tmp_path / domain).mkdir()
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / domain / f"{i}.png")
    run = tmp_path / "run"
    options = dict(channels=4, res_blocks=1, iters=50, minutes=1e-6, holdout=0.2, quiet=True, device="cpu")
    result = train_cyclegan(CycleGANOptions(a_dir=tmp_path / "a", b_dir=tmp_path / "b", out=run, **options))
    assert result.step == 1 and result.checkpoint is not None  # the time budget stopped it, with a checkpoint
    config = json.loads((run / "config.json").read_text())
    assert config["holdout"] == 0.2 and config["minutes"] == 1e-6
    split = load_split(run / "split.json")
    for domain in ("a", "b"):
        assert len(split[domain].held_out) == 2 and len(split[domain].train) == 8
        assert not set(split[domain].held_out) & set(split[domain].train)
    assert sorted(p.name for p in loaded[0]) == sorted(split["a"].train)
    assert sorted(p.name for p in loaded[1]) == sorted(split["b"].train)
