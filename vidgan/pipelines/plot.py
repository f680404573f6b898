"""`vidgan plot`: redraw a run's losses.png and progress.gif from its metrics and sample grids."""

from __future__ import annotations

from pathlib import Path

from vidgan.errors import VidganError
from vidgan.plots import refresh_plots
from vidgan.runs import RunFolder


def plot_run(run_dir: Path) -> list[Path]:
    """Redraw the run's plots now (training also refreshes them with every sample grid); returns the files written."""
    run = RunFolder(run_dir)
    run.read_config()  # a clear error when this is not a run folder
    written = refresh_plots(run)
    if not written:
        raise VidganError(f"{run_dir}: nothing to plot yet (no metrics.jsonl records or sample grids)")
    return written
