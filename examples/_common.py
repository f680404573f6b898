"""What every example script shares: its command line (--full, --out, --data, --device), training a few variants
of one pipeline, and the picture that compares them."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from vidgan.runs.folder import RunFolder
from vidgan.training.launch import train
from vidgan.training.options import TrainOptions

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# CycleGAN sizes shared by the cat and fruit experiments: laptop-CPU minutes, and the seeds' full size. They pin
# the configuration the README's pictures were made with (a ResNet generator, cycle weight 10, a 3-layer patch D of
# width 64) unless a variant says otherwise.
CYCLEGAN_SMALL = {
    "gen": "resnet",
    "cycle_weight": 10.0,
    "disc_layers": 3,
    "disc_channels": 64,
    "channels": 8,
    "res_blocks": 2,
    "iters": 300,
}
CYCLEGAN_FULL = {
    "gen": "resnet",
    "cycle_weight": 10.0,
    "disc_layers": 3,
    "disc_channels": 64,
    "channels": 32,
    "res_blocks": 6,
    "iters": 10000,
}


@dataclass
class Experiment:
    full: bool
    out: Path
    data: Path
    device: str

    def run_variants(
        self, options_type: type[TrainOptions], inputs: dict[str, Path], variants: dict[str, dict], *, small: dict, full: dict
    ) -> dict[str, Path]:
        """Train one run per variant (its own options on top of the small or --full sizes), then compare them;
        `inputs` are the image folders the options take (a_dir and b_dir, or data)."""
        sizes = {"device": self.device, "sample_every": 100, "checkpoint_every": 1000, **(full if self.full else small)}
        runs = {}
        for label, options in variants.items():
            runs[label] = self.out / folder_name(label)
            train(options_type(**inputs, out=runs[label], **{**sizes, **options}))
        compare(runs, self.out / "comparison.png")
        return runs


def folder_name(label: str) -> str:
    """A variant's run folder: its label with every run of other characters (spaces, +, /) as one underscore."""
    return re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_")


def experiment(description: str | None, name: str) -> Experiment:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--full", action="store_true", help="the full-size run (hours on a CPU; meant for a GPU)")
    parser.add_argument("--out", type=Path, default=Path("runs/examples") / name, help="folder for the runs")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding cats/ and fruits/")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args()
    return Experiment(args.full, args.out, args.data, args.device)


def compare(run_dirs: dict[str, Path], out: Path, *, max_width: int = 360) -> Path:
    """Put the last sample grid of each run side by side, each under its label, into one PNG."""
    panels = []
    for label, run_dir in run_dirs.items():
        with Image.open(RunFolder(run_dir).latest_sample()) as opened:
            grid = opened.convert("RGB")
        if grid.width > max_width:
            grid = grid.resize((max_width, round(grid.height * max_width / grid.width)), Image.Resampling.LANCZOS)
        panel = Image.new("RGB", (grid.width, grid.height + 18), "white")
        panel.paste(grid, (0, 18))
        ImageDraw.Draw(panel).text((4, 3), label, fill="black")
        panels.append(panel)
    gap = 8
    sheet = Image.new("RGB", (sum(p.width for p in panels) + gap * (len(panels) - 1), max(p.height for p in panels)), "white")
    x = 0
    for panel in panels:
        sheet.paste(panel, (x, 0))
        x += panel.width + gap
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    print(f"wrote {out}")
    return out
