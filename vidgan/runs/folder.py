"""The run folder: the one place that knows its layout.

    RUN/config.json        every option of the run, with vidgan/torch versions
    RUN/metrics.jsonl      one JSON object per logged step: {"step": …, "time": …, <loss term>: …}
    RUN/checkpoints/       step_NNNNNNN.pt (newest few) and latest.pt
    RUN/checkpoints/onnx/  DIRECTION.RUNTIME.onnx: cached ONNX exports of the generators (vidgan.render.runtimes)
    RUN/samples/           step_NNNNNNN.png sample grids
    RUN/losses.png         smoothed loss curves from metrics.jsonl     (refreshed with each sample grid)
    RUN/progress.gif       the sample grids over training, in order    (refreshed with each sample grid)
    RUN/histograms/        step_NNNNNNN.png histograms of D's scores, real vs generated (GAN runs)
    RUN/split.json         training / held-out / guard image names per domain (vidgan.runs.splits)
    RUN/eval.json          the latest `vidgan eval` results
    RUN/report.html        the latest `vidgan report`
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image

import vidgan
from vidgan.core.errors import VidganError
from vidgan.core.fsutil import atomic_path, write_text_atomic
from vidgan.runs.config import upgrade_config

CHECKPOINTS = "checkpoints"
ONNX_CACHE = "onnx"


class RunFolder:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    config_path = property(lambda self: self.root / "config.json")
    metrics_path = property(lambda self: self.root / "metrics.jsonl")
    samples_dir = property(lambda self: self.root / "samples")
    checkpoints_dir = property(lambda self: self.root / CHECKPOINTS)
    losses_plot_path = property(lambda self: self.root / "losses.png")
    progress_gif_path = property(lambda self: self.root / "progress.gif")
    histograms_dir = property(lambda self: self.root / "histograms")
    split_path = property(lambda self: self.root / "split.json")
    eval_path = property(lambda self: self.root / "eval.json")
    report_path = property(lambda self: self.root / "report.html")

    def histogram_path(self, step: int) -> Path:
        return self.histograms_dir / f"step_{step:07d}.png"

    def create(self) -> None:
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoints_dir.mkdir(parents=True, exist_ok=True)

    def has_checkpoint(self) -> bool:
        return self.checkpoints_dir.is_dir() and any(self.checkpoints_dir.glob("*.pt"))

    def write_config(self, config: dict[str, Any]) -> None:
        record = {
            **config,
            "versions": {"vidgan": vidgan.__version__, "torch": torch.__version__, "python": platform.python_version()},
        }
        write_text_atomic(self.config_path, json.dumps(record, indent=2, default=str) + "\n")

    def read_config(self) -> dict[str, Any]:
        """The run's config in the current form, whichever vidgan version wrote it (vidgan.runs.config)."""
        try:
            return upgrade_config(json.loads(self.config_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise VidganError(f"{self.root}: not a vidgan run folder (no config.json)") from None
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError):
            raise VidganError(f"{self.config_path}: corrupt run config") from None
        except KeyError as error:
            raise VidganError(f"{self.config_path}: corrupt run config (no {error})") from None

    def append_metrics(self, step: int, values: dict[str, float]) -> None:
        record = {"step": step, "time": round(time.time(), 3), **{k: round(v, 6) for k, v in values.items()}}
        try:
            with self.metrics_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        except OSError as error:  # a line cut short here is skipped by read_metrics
            raise VidganError(f"{self.metrics_path}: cannot write ({error.strerror or error})") from None

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        records = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
        return records

    def truncate_metrics(self, last_step: int) -> None:
        """Drop records logged after `last_step` (work lost since the checkpoint a resume starts from)."""
        kept = [r for r in self.read_metrics() if r.get("step", 0) <= last_step]
        write_text_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))

    def save_sample(self, grid: torch.Tensor, step: int) -> Path:
        """Save a 3×H×W uint8 grid as samples/step_NNNNNNN.png."""
        path = self.samples_dir / f"step_{step:07d}.png"
        with atomic_path(path) as temp:
            Image.fromarray(grid.permute(1, 2, 0).cpu().numpy()).save(temp, format="PNG")
        return path

    def sample_paths(self) -> list[Path]:
        """The saved sample grids, oldest first."""
        return sorted(self.samples_dir.glob("step_*.png"))

    def latest_sample(self) -> Path | None:
        samples = self.sample_paths()
        return samples[-1] if samples else None


def run_of(source: Path) -> RunFolder | None:
    """The run that `source` belongs to: `source` itself when it is a run folder, RUN for a checkpoint file in
    RUN/checkpoints/; None where that folder holds no config.json (a checkpoint file copied elsewhere)."""
    source = Path(source)
    root = source if source.is_dir() else source.parent.parent if source.parent.name == CHECKPOINTS else None
    return RunFolder(root) if root is not None and (root / "config.json").is_file() else None


def onnx_cache_dir(source: Path) -> Path:
    """Where ONNX exports of `source`'s generators are cached: RUN/checkpoints/onnx/ for a run folder,
    FOLDER/onnx/ for a checkpoint file in FOLDER."""
    source = Path(source)
    return (RunFolder(source).checkpoints_dir if source.is_dir() else source.parent) / ONNX_CACHE
