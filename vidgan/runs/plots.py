"""Pictures of a run: smoothed loss curves, the sample grids as an animated GIF, histograms of D's scores.

Matplotlib figures are drawn with the Agg canvas directly (no pyplot), so plotting needs no display and keeps
no global figure state between calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from vidgan.core.directions import DOMAINS
from vidgan.core.errors import VidganError
from vidgan.core.fsutil import atomic_path
from vidgan.runs.folder import RunFolder
from vidgan.runs.options import RunFolderOptions

GIF_MAX_FRAMES = 60
GIF_MAX_WIDTH = 768
GIF_FRAME_MS = 300
GIF_LAST_FRAME_MS = 1500
_STEP_NAME = re.compile(r"step_(\d+)")


def _new_figure(width: float, height: float):  # -> matplotlib.figure.Figure
    from matplotlib.figure import Figure  # imported when first needed: it costs ~0.5 s

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save_figure(figure, path: Path) -> Path:
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png")
    return path


def smooth(values: np.ndarray, weight: float = 0.9) -> np.ndarray:
    """Exponential moving average with the start-up bias removed (the first points are not dragged to 0)."""
    smoothed = np.empty(len(values))
    average, total_weight = 0.0, 0.0
    for i, value in enumerate(values):
        average = weight * average + (1 - weight) * value
        total_weight = weight * total_weight + (1 - weight)
        smoothed[i] = average / total_weight
    return smoothed


def domain_term(total: str, domain: str) -> str:
    """The name under which metrics log one domain's share of a loss term: ("cycle", "a") → "cycle_a"."""
    return f"{total}_{domain}"


def domain_totals(terms: dict[str, Any], totals: Iterable[str]) -> dict[str, Any]:
    """Each of `totals` that `terms` holds per domain, summed over the domains (a + b)."""
    summed = {}
    for total in totals:
        shares = [terms[domain_term(total, d)] for d in DOMAINS if domain_term(total, d) in terms]
        if shares:
            summed[total] = sum(shares)
    return summed


def domain_pairs(names: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The loss terms among `names` that are logged per domain: total name → its per-domain names in DOMAINS order
    ("cycle" → ("cycle_a", "cycle_b")), ordered by where the first of them stands in `names`. A total counts when
    every domain's term is there, whether or not the total itself is."""
    names = list(names)
    present = set(names)
    pairs: dict[str, tuple[str, ...]] = {}
    for name in names:
        total, _, domain = name.rpartition("_")
        members = tuple(domain_term(total, d) for d in DOMAINS)
        if total and domain in DOMAINS and present.issuperset(members):
            pairs.setdefault(total, members)
    return pairs


def _plot_curve(axes, records: list[dict], name: str, *, color: str, label: str, raw: bool = True, **style) -> None:
    """One term over steps: its smoothed curve (with markers while points are few), over its raw values drawn faint."""
    points = [(r["step"], r[name]) for r in records if name in r]
    steps, values = np.array(points, dtype=float).T
    if raw:
        axes.plot(steps, values, color=color, alpha=0.25, linewidth=1)
    marker = "o" if len(steps) <= 30 else None  # a short run's few points stay visible
    axes.plot(steps, smooth(values), color=color, linewidth=2, marker=marker, markersize=3, label=label, **style)


def plot_losses(run: RunFolder) -> Path | None:
    """Draw metrics.jsonl's loss terms over steps into losses.png; None if there are no metrics.

    The large panel holds every term that is not a per-domain share (the totals, raw values faint); below it, one
    small panel per total that is also logged per domain compares its domains' smoothed curves (a in the total's
    colour, b dashed grey)."""
    records = run.read_metrics()
    names = list(dict.fromkeys(name for record in records for name in record if name not in ("step", "time")))
    if not names:
        return None
    pairs = domain_pairs(names)
    shares = {name for members in pairs.values() for name in members}
    totals = [name for name in names if name not in shares]
    colors = {name: f"C{index % 10}" for index, name in enumerate(dict.fromkeys([*totals, *pairs]))}
    figure = _new_figure(8, 7 if pairs else 4.5)
    grid = figure.add_gridspec(2 if pairs else 1, max(len(pairs), 1), height_ratios=[2, 1] if pairs else None)
    axes = figure.add_subplot(grid[0, :])
    for name in totals:
        _plot_curve(axes, records, name, color=colors[name], label=name)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(f"{run.root.name}: losses (smoothed; raw values faint)")
    axes.grid(alpha=0.3)
    if totals:
        axes.legend()
    for column, (total, members) in enumerate(pairs.items()):
        panel = figure.add_subplot(grid[1, column])
        for domain, name, color, linestyle in zip(DOMAINS, members, (colors[total], "0.3"), ("-", "--")):
            _plot_curve(panel, records, name, color=color, label=domain, raw=False, linestyle=linestyle)
        panel.set_title(f"{total} by domain", fontsize="medium")
        panel.tick_params(labelsize="small")
        panel.grid(alpha=0.3)
        panel.legend(fontsize="small")
    return _save_figure(figure, run.losses_plot_path)


def write_progress_gif(run: RunFolder) -> Path | None:
    """Animate the sample grids (at most GIF_MAX_FRAMES, evenly spread, always the last) into progress.gif."""
    samples = run.sample_paths()
    if not samples:
        return None
    if len(samples) > GIF_MAX_FRAMES:
        picks = np.linspace(0, len(samples) - 1, GIF_MAX_FRAMES).round().astype(int)
        samples = [samples[i] for i in sorted(set(picks))]
    frames = [_labelled_frame(path) for path in samples]
    durations = [GIF_FRAME_MS] * (len(frames) - 1) + [GIF_LAST_FRAME_MS]
    with atomic_path(run.progress_gif_path) as temp:
        frames[0].save(temp, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return run.progress_gif_path


def _labelled_frame(path: Path) -> Image.Image:
    """A sample grid, scaled to at most GIF_MAX_WIDTH, under a band saying which step it is from."""
    with Image.open(path) as opened:
        grid = opened.convert("RGB")
    if grid.width > GIF_MAX_WIDTH:
        grid = grid.resize((GIF_MAX_WIDTH, round(grid.height * GIF_MAX_WIDTH / grid.width)), Image.Resampling.LANCZOS)
    band = 16
    frame = Image.new("RGB", (grid.width, grid.height + band), (0, 0, 0))
    frame.paste(grid, (0, band))
    match = _STEP_NAME.search(path.stem)
    ImageDraw.Draw(frame).text((4, 2), f"step {int(match.group(1))}" if match else path.stem, fill=(255, 255, 255))
    return frame


def refresh_plots(run: RunFolder) -> list[Path]:
    """Redraw losses.png and progress.gif from what the run folder holds now; returns the files written."""
    return [path for path in (plot_losses(run), write_progress_gif(run)) if path is not None]


def plot_score_histogram(real: torch.Tensor, fake: torch.Tensor, path: Path, *, title: str, xlabel: str) -> Path:
    """Overlaid histograms of the discriminator's outputs on real and on generated images."""
    real_values, fake_values = real.detach().float().flatten().cpu().numpy(), fake.detach().float().flatten().cpu().numpy()
    low = float(min(real_values.min(), fake_values.min()))
    high = float(max(real_values.max(), fake_values.max()))
    bins = np.linspace(low, high if high > low else low + 1, 31)
    figure = _new_figure(6, 4)
    axes = figure.add_subplot()
    axes.hist(real_values, bins=bins, alpha=0.6, label="real images", color="C0")
    axes.hist(fake_values, bins=bins, alpha=0.6, label="generated images", color="C3")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("count")
    axes.set_title(title)
    axes.legend()
    return _save_figure(figure, path)


def plot_run(options: RunFolderOptions) -> list[Path]:
    """`vidgan plot`: redraw the run's plots now (training also refreshes them with every sample grid); returns
    the files written. Raises VidganError when the folder is not a run or has nothing to plot yet."""
    run = RunFolder(options.run)
    run.read_config()  # a clear error when this is not a run folder
    written = refresh_plots(run)
    if not written:
        raise VidganError(f"{options.run}: nothing to plot yet (no metrics.jsonl records or sample grids)")
    return written
