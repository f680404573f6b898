"""A project folder moved or copied keeps its runs working: data folders recorded relative to the run (vidgan.runs.places)."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import write_random_domains

from vidgan.core.errors import VidganError
from vidgan.eval.options import ClassifierSettings, EvalOptions
from vidgan.eval.run import evaluate_run
from vidgan.runs.folder import RunFolder
from vidgan.runs.places import relative_place
from vidgan.runs.splits import load_split
from vidgan.training.cyclegan import train_cyclegan
from vidgan.training.launch import resume_training
from vidgan.training.options import CycleGANOptions

FAST = ClassifierSettings(steps=5, batch_size=8, lr=2e-3, c2st_repeats=1)


def _project(root: Path) -> Path:
    """root/data/{a,b} of 8 64-px images each and root/run, a 1-step CycleGAN trained on them with a held-out split."""
    write_random_domains(root / "data", 8)
    tiny = dict(size=64, channels=4, res_blocks=1, iters=1, holdout=0.25, quiet=True, device="cpu")
    train_cyclegan(CycleGANOptions(a_dir=root / "data" / "a", b_dir=root / "data" / "b", out=root / "run", **tiny))
    return root / "run"


@pytest.mark.slow
def test_a_copied_project_evaluates_and_resumes_on_its_own_data_and_says_what_is_gone(tmp_path, capsys):
    _project(tmp_path / "projA")
    recorded = json.loads((tmp_path / "projA" / "run" / "config.json").read_text())
    assert recorded["data_folders"] == {"a_dir": "../data/a", "b_dir": "../data/b"}
    shutil.copytree(tmp_path / "projA", tmp_path / "projB")
    shutil.rmtree(tmp_path / "projA")
    run = tmp_path / "projB" / "run"
    data = (tmp_path / "projB" / "data").resolve()
    config = RunFolder(run).read_config()
    assert (config["a_dir"], config["b_dir"]) == (str(data / "a"), str(data / "b"))
    assert {d: s.folder for d, s in load_split(run / "split.json").items()} == {"a": data / "a", "b": data / "b"}
    assert evaluate_run(run, EvalOptions(classifier=FAST, device="cpu", quiet=True))["images"]["set"] == "held-out"

    # projA back (say, restored from a backup): projB's run still uses projB's data.
    shutil.copytree(tmp_path / "projB", tmp_path / "projA")
    assert RunFolder(run).read_config()["a_dir"] == str(data / "a")
    # projB's data gone, projA's left: the old place is used, and a warning says so; neither: one line names it.
    shutil.move(tmp_path / "projB" / "data" / "b", tmp_path / "kept_b")
    capsys.readouterr()
    old = (tmp_path / "projA" / "data" / "b").resolve()
    assert RunFolder(run).read_config()["b_dir"] == str(old)
    assert load_split(run / "split.json")["b"].folder == old
    RunFolder(run).check_data(RunFolder(run).read_config())
    assert f"data folder b_dir is not at {data / 'b'}" in " ".join(capsys.readouterr().err.split())
    shutil.rmtree(tmp_path / "projA")
    gone = rf"{run}: data folder b_dir is gone: not at {data / 'b'} \(\.\./data/b from the run\), nor where it was trained"
    with pytest.raises(VidganError, match=gone):
        evaluate_run(run, EvalOptions(classifier=FAST, device="cpu", quiet=True))
    with pytest.raises(VidganError, match=gone):
        resume_training(run, {"iters": 2, "device": "cpu", "quiet": True})
    shutil.move(tmp_path / "kept_b", tmp_path / "projB" / "data" / "b")
    assert resume_training(run, {"iters": 2, "device": "cpu", "quiet": True}).step == 2
    assert json.loads((run / "config.json").read_text())["a_dir"] == str(data / "a")  # recorded where it is now

    # A run of vidgan 0.6 records absolute paths only: they are used as they are.
    config = json.loads((run / "config.json").read_text())
    del config["data_folders"]
    config["versions"]["vidgan"] = "0.6.0"
    (run / "config.json").write_text(json.dumps(config))
    assert RunFolder(run).read_config()["a_dir"] == str(data / "a")
    shutil.rmtree(data / "b")
    with pytest.raises(VidganError, match=r"data folder b_dir .*/data/b is gone \(the run records it as an absolute path\)"):
        resume_training(run, {"iters": 3, "device": "cpu", "quiet": True})


def test_data_folders_are_recorded_relative_only_under_a_common_root(tmp_path):
    assert relative_place("/usr/share", tmp_path / "run") is None  # only the file system's root in common
    assert relative_place(tmp_path / "data", tmp_path / "runs" / "one") == "../../data"
