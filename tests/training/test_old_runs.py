"""Runs that older vidgan versions wrote: the one kept from vidgan 0.5 (tests/fixtures/run-0.5) reads as it was
trained, resumes, renders and evaluates."""

import json
import shutil
from pathlib import Path

import av
import pytest

from vidgan.runs.checkpoints import load_checkpoint
from vidgan.runs.folder import RunFolder

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run-0.5"


@pytest.fixture
def run_05(tmp_path) -> Path:
    """A copy of the vidgan 0.5 run, its recorded image folders pointed at the copy's a/ and b/."""
    copy = tmp_path / "v05"
    shutil.copytree(FIXTURE, copy)
    run = copy / "run"
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "a_dir": str(copy / "a"), "b_dir": str(copy / "b")}))
    split = json.loads((run / "split.json").read_text())
    for domain, record in split["domains"].items():
        record["folder"] = str(copy / domain)
    (run / "split.json").write_text(json.dumps(split))
    return run


def test_the_0_5_run_reads_as_it_was_built(run_05):
    config = RunFolder(run_05).read_config()
    checkpoint = load_checkpoint(run_05 / "checkpoints" / "latest.pt")
    assert config["versions"]["vidgan"] == "0.5.0" and checkpoint["step"] == 4
    # The networks the config now describes are those vidgan 0.5 built and saved.
    assert config["generator"] == checkpoint["arch"]["generator"]
    assert config["discriminator"] == checkpoint["arch"]["discriminator"]
    assert (config["discriminator"]["channels"], config["discriminator"]["layers"]) == (4, 2)
    assert (config["working_scale"], config["crop"], config["full_res_skip"]) == (64, None, None)


def test_the_0_5_run_resumes_renders_and_evaluates(run_05, run_cli, make_clip, tmp_path):
    done = run_cli("train", "--out", run_05, "--resume", "--iters", 6, "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    assert f"resuming at step 4 from {run_05 / 'checkpoints' / 'step_0000004.pt'}\n" in done.stderr
    assert load_checkpoint(run_05 / "checkpoints" / "latest.pt")["step"] == 6
    assert [record["step"] for record in RunFolder(run_05).read_metrics()] == [4, 6]

    clip = make_clip("clip.mp4", n_frames=3, width=96, height=64)
    done = run_cli("render", clip, "--run", run_05, "--out", tmp_path / "out.mp4", "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    with av.open(str(tmp_path / "out.mp4")) as rendered:
        frames = [frame.to_ndarray(format="rgb24") for frame in rendered.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (64, 96, 3)

    done = run_cli("eval", "--run", run_05, "--classifier-steps", 3, "--c2st-repeats", 1, "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    results = json.loads((run_05 / "eval.json").read_text())
    assert results["step"] == 6 and results["images"] == {"set": "held-out", "a": 2, "b": 2}
