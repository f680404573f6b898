"""`vidgan train --crop C`: random C x C crops of whole frames at their working scale (their short side)."""

import json

import numpy as np
import torch
from conftest import assert_clean_failure
from PIL import Image

from vidgan.io.batches import to_uint8
from vidgan.runs.folder import RunFolder
from vidgan.training.cyclegan import build_task

TINY = ["--channels", 4, "--res-blocks", 1, "--disc-channels", 4, "--batch-size", 2, "--iters", 1, "--device", "cpu", "-q"]


def write_frames(folder, count, width=160, height=96):
    """Whole frames whose pixels say where they are: red = row, green = column, blue = 40 x frame number."""
    folder.mkdir(parents=True)
    rows, columns = np.mgrid[0:height, 0:width]
    for i in range(count):
        Image.fromarray(np.stack([rows, columns, np.full_like(rows, 40 * i)], axis=-1).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def test_crops_are_recorded_and_the_banks_draw_them_from_whole_frames(run_cli, tmp_path):
    write_frames(tmp_path / "data" / "a", 3)
    write_frames(tmp_path / "data" / "b", 3, width=320, height=192)  # scaled to a's short side
    out = tmp_path / "run"
    done = run_cli("train", tmp_path / "data", "--crop", 64, "--aug", "none", "--holdout", 0, "--out", out, *TINY)
    assert done.code == 0, done.stderr
    config = json.loads((out / "config.json").read_text())
    assert (config["crop"], config["size"], config["working_scale"], config["generator"]["size"]) == (64, 64, 96, 64)

    banks = build_task(RunFolder(out).read_config(), torch.device("cpu")).banks  # as --resume rebuilds them
    assert banks["a"].images.shape[-2:] == banks["b"].images.shape[-2:] == (96, 160)  # whole frames, 96 px short side
    crops = to_uint8(banks["a"].batch(32)).long()
    assert crops.shape == (32, 3, 64, 64)
    steps = torch.arange(64)
    for crop in crops:  # each is one frame's 64 x 64 window at (top, left)
        top, left = crop[0, 0, 0], crop[1, 0, 0]
        assert torch.equal(crop[0], (top + steps)[:, None].expand(64, 64)) and torch.equal(crop[1], (left + steps).expand(64, 64))
        assert crop[2].unique().tolist() in ([0], [40], [80]) and top <= 96 - 64 and left <= 160 - 64
    corners = {(int(crop[0, 0, 0]), int(crop[1, 0, 0])) for crop in crops}
    assert len(corners) > 16 and min(left for _, left in corners) < 48 < max(left for _, left in corners)  # not one square
    fixed = to_uint8(banks["a"].fixed(2)).long()
    assert fixed.shape == (2, 3, 64, 64) and (fixed[0, 0, 0, 0], fixed[0, 1, 0, 0]) == (16, 48)  # the sample grids: centres


def test_crops_that_do_not_fit_the_images_are_refused(run_cli, tmp_path):
    write_frames(tmp_path / "data" / "a", 1)
    write_frames(tmp_path / "data" / "b", 1)
    cases = {
        ("--crop", 128): f"--crop 128 is larger than the images in {tmp_path / 'data' / 'a'} (short side 96 px)",
        ("--crop", 64, "--size", 128): "--crop 64 trains the networks at 64 px; leave out --size 128",
        ("--crop", 96): "--crop must be 64 or 128, got 96",
    }
    for args, message in cases.items():
        assert_clean_failure(run_cli("train", tmp_path / "data", *args, "--out", tmp_path / "run", *TINY), message, code=2)
    assert not (tmp_path / "run").exists()


def test_eval_judges_a_crop_run_on_centre_windows_at_its_working_scale(run_cli, tmp_path):
    from vidgan.eval.cyclegan import image_sets

    write_frames(tmp_path / "data" / "a", 3)
    write_frames(tmp_path / "data" / "b", 3, width=320, height=192)
    out = tmp_path / "run"
    done = run_cli("train", tmp_path / "data", "--crop", 64, "--aug", "none", "--holdout", 0, "--out", out, *TINY)
    assert done.code == 0, done.stderr

    run = RunFolder(out)
    sets = image_sets(run, run.read_config(), None, torch.device("cpu"))
    steps = torch.arange(64)
    for domain in ("a", "b"):  # b's 320x192 frames come at a's working scale (96 px short side), as they trained
        images = sets.train[domain].long()
        assert images.shape == (3, 3, 64, 64)
        rows, columns = (16 + steps)[:, None].expand(64, 64), (48 + steps).expand(64, 64)  # the 160x96 frame's centre
        if domain == "a":
            assert torch.equal(images[0, 0], rows) and torch.equal(images[0, 1], columns)
        else:  # scaled by half from 192 rows: each value about twice the row or column it lands on
            assert (images[0, 0] - 2 * rows).abs().max() <= 2 and (images[0, 1] - 2 * columns).abs().max() <= 2
