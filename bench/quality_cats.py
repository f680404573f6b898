"""Quality benchmark: train the 64×64 CycleGAN on ../shared/data/cats (a = russian_blue, b = grumpy) for a fixed
wall-time budget with `vidgan train`'s defaults, then `vidgan eval` it on the held-out images.

    python bench/quality_cats.py [--minutes 15] [--holdout 0.2] [--out runs/quality_cats]

Prints the eval table; the last line holds both translation scores, both cycle L1 and both C2ST figures.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vidgan.pipelines.cyclegan import train_cyclegan  # noqa: E402
from vidgan.pipelines.evaluate import eval_table, evaluate_run  # noqa: E402
from vidgan.progress import console  # noqa: E402

CATS = REPO.parent / "shared" / "data" / "cats"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="training wall time (default 15)")
    parser.add_argument(
        "--holdout",
        type=float,
        default=0.2,
        help="share of each domain held out for evaluation (default 0.2: 15 russian_blue, 41 grumpy images)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "quality_cats", help="run folder (replaced)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    shutil.rmtree(args.out, ignore_errors=True)
    started = time.perf_counter()
    trained = train_cyclegan(
        CATS / "russian_blue",
        CATS / "grumpy",
        args.out,
        size=64,
        iters=10**9,  # the time budget stops it
        minutes=args.minutes,
        holdout=args.holdout,
        device=args.device,
    )
    train_seconds = time.perf_counter() - started
    results = evaluate_run(args.out, device=args.device)
    console.print(eval_table(results))
    d = results["directions"]
    print(f"trained {trained.step} steps in {train_seconds / 60:.1f} min; run folder {args.out}")
    print(
        f"translation a2b {d['a2b']['translation_score']:.1%} b2a {d['b2a']['translation_score']:.1%} | "
        f"cycle L1 a2b {d['a2b']['cycle_l1']:.3f} b2a {d['b2a']['cycle_l1']:.3f} | "
        f"C2ST a2b {d['a2b']['c2st']:.3f} b2a {d['b2a']['c2st']:.3f}"
    )


if __name__ == "__main__":
    main()
