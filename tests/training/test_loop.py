"""The training loop's bookkeeping: loss logging and its NaN check, the progress bar and its text, the loss plot."""

import io
import math

import pytest
import torch
from PIL import Image
from rich.console import Console

from vidgan.core import progress as progress_module
from vidgan.core.errors import VidganError
from vidgan.core.progress import make_progress
from vidgan.runs.folder import RunFolder
from vidgan.runs.plots import domain_pairs, plot_losses
from vidgan.training.loop import LossLog, format_losses


@pytest.fixture
def run(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.create()
    return run


def _add(log: LossLog, **losses: float) -> None:
    log.add({name: torch.tensor(value) for name, value in losses.items()})


def test_loss_log_writes_the_averages_of_the_steps_since_the_last_log(run):
    log = LossLog(run, write=True)
    _add(log, g=1.0, d=0.5)
    _add(log, g=2.0, d=1.5)
    log.flush(2)
    log.flush(2)  # nothing pending: nothing written
    _add(log, g=4.0, d=0.25)
    log.flush(3)
    assert [{k: v for k, v in r.items() if k != "time"} for r in run.read_metrics()] == [
        {"step": 2, "g": 1.5, "d": 1.0},
        {"step": 3, "g": 4.0, "d": 0.25},
    ]
    assert log.logged == {"g": 4.0, "d": 0.25} and log.pending == {}
    LossLog(run, write=False).flush(9)  # a rank other than 0 logs nothing
    assert len(run.read_metrics()) == 2


def test_loss_log_names_the_earliest_bad_term_and_step(run):
    log = LossLog(run, write=True)
    for step in (1, 2, 3, 4):  # cycle_b goes bad at step 3, the total g (logged first) only at step 4
        _add(log, g=math.nan if step >= 4 else 1.0, cycle_a=0.1, cycle_b=math.inf if step >= 3 else 0.2)
    with pytest.raises(VidganError, match=r"^training stopped: loss cycle_b became inf at step 3$"):
        log.flush(4)
    assert run.read_metrics() == []
    (run.checkpoints_dir / "step_0000002.pt").write_bytes(b"")
    with pytest.raises(VidganError, match=r"loss cycle_b became inf at step 3; the last good checkpoint is .*step_0000002.pt$"):
        log.check_finite(4)


def test_progress_text_pairs_the_per_domain_terms():
    losses = {"g_adv_a": 0.512, "g_adv_b": 0.4981, "cycle_a": 0.0613, "cycle_b": 0.058, "g_adv": 1.0101, "cycle": 0.1193}
    assert format_losses({**losses, "d_real_a": 12.34, "d_real_b": 1.234, "d_real": 13.574}) == (
        "g_adv .51/.5 cycle .061/.058 d_real 12/1.2"
    )
    assert format_losses({"cycle_a": math.nan, "cycle_b": -0.25, "lr": 0.5}) == "cycle nan/-.25 lr 0.500"
    # Terms of models that log no per-domain terms read as they always did.
    assert format_losses({"d_real": 0.25, "d_fake": 0.5, "g": 2.0}) == "d_real 0.250 d_fake 0.500 g 2.000"


@pytest.mark.parametrize("width", [80, 120])
def test_the_bar_count_and_eta_show_whole_beside_a_run_of_losses_in_a_narrow_terminal(width, monkeypatch):
    monkeypatch.setattr(progress_module, "console", Console(file=io.StringIO(), width=width, force_terminal=False))
    progress = make_progress()
    info = "g_adv .28/.29 cycle .032/.024 temporal .013/.0084 d_real .26/.27 d_fake .25/.24"
    progress.update(progress.add_task("train", total=400, info=info), advance=29)
    progress.console.print(progress.get_renderable())
    lines = progress.console.file.getvalue().splitlines()
    assert lines[0].startswith("train ") and "29/400" in lines[0] and "eta" in lines[0]
    assert " ".join(" ".join(lines).split()).endswith(info)  # every loss, wrapped onto more lines where it must
    assert max(len(line.rstrip()) for line in lines) <= width


def test_domain_pairs_need_every_domain():
    names = ["g_adv_b", "g_adv_a", "g_adv", "cycle_a", "cycle", "d_real", "x_a", "x_b"]
    assert domain_pairs(names) == {"g_adv": ("g_adv_a", "g_adv_b"), "x": ("x_a", "x_b")}
    assert domain_pairs(["d_real", "d_fake", "g", "_a", "_b"]) == {}


def test_loss_plot_adds_a_panel_row_for_per_domain_terms(run, tmp_path):
    for step in (10, 20, 30):
        run.append_metrics(step, {"d_real": 1.0 / step, "d_fake": 0.5, "g": 2.0})
    plot_losses(run)
    with Image.open(run.losses_plot_path) as plot:
        assert plot.size == (800, 450)
    paired = RunFolder(tmp_path / "paired")
    paired.create()
    for step in (10, 20, 30):
        shares = {"cycle_a": 0.1, "cycle_b": 0.2 / step, "g_adv_a": 0.5, "g_adv_b": 1.0 / step}
        paired.append_metrics(step, {**shares, "cycle": 0.1 + 0.2 / step, "g_adv": 0.5 + 1.0 / step})
    plot_losses(paired)
    with Image.open(paired.losses_plot_path) as plot:
        assert plot.size == (800, 700)
