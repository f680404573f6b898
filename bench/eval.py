"""`vidgan eval` time on the cats: the classifiers' old settings (300 steps each, no early stop) vs the defaults.

Trains a short CycleGAN on 64-px cat photos from ../shared/data (grumpy vs russian_blue, --holdout 0.1) with the
Python API, then times `evaluate_run` on it with each setting, side by side in one run, on the CPU:
    PYTHONPATH=. python bench/eval.py [--iters 200] [--run FOLDER]
The old settings are also run with another classifier seed: the spread between the two old rows is the noise the
new defaults' figures (C2ST, translation scores) are to stay within. The last line is the headline: the speed-up.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchlib import machine

from vidgan.eval.options import ClassifierSettings, EvalOptions
from vidgan.eval.run import evaluate_run
from vidgan.training.cyclegan import train_cyclegan
from vidgan.training.options import CycleGANOptions

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cats"
OLD = ClassifierSettings(steps=300, patience=None)
VARIANTS = {"old (300 steps)": OLD, "old, seed 1": replace(OLD, seed=1), "defaults": ClassifierSettings()}


def train_run(folder: Path, iters: int) -> Path:
    """A short run on the cats (reused when `folder` holds one)."""
    if not (folder / "checkpoints" / "latest.pt").exists():
        options = CycleGANOptions(a_dir=DATA / "russian_blue", b_dir=DATA / "grumpy", out=folder, iters=iters, holdout=0.1)
        train_cyclegan(replace(options, device="cpu", quiet=True, sample_every=iters, checkpoint_every=iters))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--run", type=Path, default=None, help="Run folder to train into or reuse (default: a temp folder).")
    args = parser.parse_args()
    run = train_run(args.run or Path(tempfile.mkdtemp(prefix="vidgan-bench-eval-")) / "run", args.iters)
    print(f"vidgan eval on {run} (cats, {args.iters} training steps)\n{machine()}")
    print(f"{'variant':<16} {'seconds':>8} {'domain acc':>10} {'C2ST a2b':>9} {'C2ST b2a':>9} {'transl a2b':>10} {'transl b2a':>10}")
    seconds = {}
    for name, settings in VARIANTS.items():
        started = time.perf_counter()
        results = evaluate_run(run, EvalOptions(classifier=settings, device="cpu", quiet=True))
        seconds[name] = time.perf_counter() - started
        a2b, b2a = results["directions"]["a2b"], results["directions"]["b2a"]
        print(
            f"{name:<16} {seconds[name]:8.1f} {results['classifier']['balanced_accuracy']:10.3f} {a2b['c2st']:9.3f} "
            f"{b2a['c2st']:9.3f} {a2b['translation_score']:10.3f} {b2a['translation_score']:10.3f}"
        )
    old, new = seconds["old (300 steps)"], seconds["defaults"]
    print(f"eval takes {new:.1f} s with the defaults vs {old:.1f} s with the old settings: {old / new:.2f}x faster")


if __name__ == "__main__":
    main()
