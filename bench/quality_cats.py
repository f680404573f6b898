"""Quality benchmark: train the 64×64 CycleGAN on ../shared/data/cats (a = russian_blue, b = grumpy) for a fixed
wall-time budget with `vidgan train`'s defaults, then `vidgan eval` it on the held-out images.

    python bench/quality_cats.py [--minutes 15 | --iters N] [--holdout 0.2] [--out runs/quality_cats] [--plain] [--set KEY=VALUE ...]

`--plain` trains the plain seed-sized CycleGAN that set the quality bar (docs/experiments.md) instead of the defaults;
`--set` overrides one option of `train_cyclegan` (repeatable), for screening one change at a time.
Prints the eval table, the steps reached, torch's thread count and the load average at start and end;
the last line holds both translation scores, both cycle L1 and both C2ST figures (C2ST averaged over 3 classifier seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from vidgan.core.progress import console  # noqa: E402
from vidgan.eval.options import EvalOptions  # noqa: E402
from vidgan.eval.run import eval_table, evaluate_run  # noqa: E402
from vidgan.training.cyclegan import train_cyclegan  # noqa: E402
from vidgan.training.options import CycleGANOptions  # noqa: E402

CATS = REPO.parent / "shared" / "data" / "cats"
# The quality bar's configuration: width 32, 3 residual blocks, nearest-upsampling decoder, instance norm, 3-layer patch D,
# LSGAN, cycle weight 10, deluxe augmentation plus DiffAugment, batch 16, Adam 3e-4 (0.5, 0.999), no averaging.
PLAIN = dict(
    gen="resnet",
    channels=32,
    res_blocks=3,
    upsample="resize",
    disc="patch",
    disc_layers=3,
    disc_channels=64,
    spectral_norm=False,
    cycle_weight=10.0,
    identity_weight=0.0,
    aug="deluxe",
    diffaug=True,
    diffaug_policy="color,translation,cutout",
    pool=0,
    batch_size=16,
    lr=3e-4,
    lr_g=None,
    lr_d=None,
    beta1=0.5,
    beta2=0.999,
    ema=0.0,
)


def parse_setting(text: str) -> tuple[str, object]:
    """KEY=VALUE, the value read as JSON where it parses (numbers, true/false, null) and as a string otherwise."""
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.replace("-", "_"), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="training wall time (default 15)")
    parser.add_argument(
        "--iters",
        type=int,
        default=None,
        help="train exactly this many steps instead of for --minutes: a time-matched comparison that a busy machine "
        "cannot skew, with N the steps the configuration reaches in 15 minutes on the idle machine",
    )
    parser.add_argument(
        "--holdout",
        type=float,
        default=0.2,
        help="share of each domain held out for evaluation (default 0.2: 15 russian_blue, 41 grumpy images)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "quality_cats", help="run folder (replaced)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--plain", action="store_true", help="train the plain seed-sized CycleGAN of the quality bar")
    parser.add_argument("--set", type=parse_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="override one train option, e.g. --set ema=0.999 (repeatable)")
    args = parser.parse_args()
    options = {**(PLAIN if args.plain else {}), **dict(args.set)}

    shutil.rmtree(args.out, ignore_errors=True)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    trained = train_cyclegan(
        CycleGANOptions(
            a_dir=CATS / "russian_blue",
            b_dir=CATS / "grumpy",
            out=args.out,
            size=64,
            iters=args.iters or 10**9,  # without --iters the time budget stops it
            minutes=None if args.iters else args.minutes,
            holdout=args.holdout,
            device=args.device,
            **options,
        )
    )
    train_seconds = time.perf_counter() - started
    results = evaluate_run(args.out, EvalOptions(device=args.device))
    console.print(eval_table(results))
    d = results["directions"]
    print(f"options {options or 'train defaults'}")
    print(
        f"trained {trained.step} steps in {train_seconds / 60:.1f} min with {torch.get_num_threads()} torch threads, "
        f"load average {load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end; run folder {args.out}"
    )
    print(
        f"translation a2b {d['a2b']['translation_score']:.1%} b2a {d['b2a']['translation_score']:.1%} | "
        f"cycle L1 a2b {d['a2b']['cycle_l1']:.3f} b2a {d['b2a']['cycle_l1']:.3f} | "
        f"C2ST a2b {d['a2b']['c2st']:.3f} b2a {d['b2a']['c2st']:.3f}"
    )


if __name__ == "__main__":
    main()
