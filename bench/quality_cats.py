"""Quality benchmark: train 64×64 translation models on ../shared/data/cats (a = russian_blue, b = grumpy) for a fixed
wall-time budget each with `vidgan train`'s defaults, then `vidgan eval` them on the held-out images.

    python bench/quality_cats.py [--models cyclegan,cut,fastcut] [--minutes 15 | --iters N] [--holdout 0.2]
        [--out runs/quality_cats] [--plain] [--set KEY=VALUE ...] [--classifier-steps N] [--speed STEPS]

`--models` trains each kind in turn (default: cyclegan) into OUT/KIND; `--plain` trains the plain seed-sized CycleGAN
that set the quality bar (docs/experiments.md) instead of the defaults; `--set` overrides one option of every model
trained (repeatable), for screening one change at a time.
Prints each eval table, the steps reached, torch's thread count and the load average at start and end; then one
line per model: translation scores, cycle L1 (CycleGAN), edge SSIM and C2ST (averaged over 3 classifier seeds) of
each direction it has, seconds per step and the steps reached.

`--speed STEPS` instead times each model's training step at 64 px, batch 4 (the models' defaults otherwise),
interleaved over 3 rounds (best of each), and measures its peak training memory over STEPS steps of a new task in a
process of its own: on CUDA the peak allocated memory, on the CPU the weights plus the peak of the tensor bytes the
steps hold at once, from torch.profiler's memory records (interpreter, torch and images left out); the same figure
on every run, whatever the load.
The ratios to the first model are the figures to quote; absolute times drift with the load.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from vidgan.core.devices import resolve_device  # noqa: E402
from vidgan.core.progress import console  # noqa: E402
from vidgan.eval.options import ClassifierSettings, EvalOptions  # noqa: E402
from vidgan.eval.run import eval_table, evaluate_run  # noqa: E402
from vidgan.runs.kinds import model_kind  # noqa: E402
from vidgan.training.launch import train  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from benchlib import best_rate, machine, parse_setting  # noqa: E402

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


def model_options(kind: str, out: Path, args: argparse.Namespace, **overrides: object):
    """The options of one model on the cats: its defaults at 64 px, with --plain (CycleGAN) and --set applied."""
    settings = {**(PLAIN if args.plain and kind == "cyclegan" else {}), **dict(args.set), **overrides}
    return model_kind(kind).options_type(
        a_dir=CATS / "russian_blue", b_dir=CATS / "grumpy", out=out, size=64, holdout=args.holdout, device=args.device, **settings
    )


def build_model_task(kind: str, args: argparse.Namespace, out: Path, batch: int):
    """A model's training task as `vidgan train` builds it (without a run folder's files besides its split)."""
    options = model_options(kind, out, args, batch_size=batch, quiet=True)
    options.validate()
    options = replace(options, a_dir=options.a_dir.resolve(), b_dir=options.b_dir.resolve()).resolved(64)
    config = {
        **options.to_config(),
        "kind": kind,
        "generator": options.generator().to_dict(),
        "discriminator": options.discriminator().to_dict(),
        "working_scale": 64,
    }
    torch.manual_seed(0)
    return model_kind(kind).get("build_task")(config, resolve_device(args.device))


def model_bytes(task) -> int:
    """The bytes of the task's networks' weights and buffers (its weight average included)."""
    tensors = [t for module in task.modules.values() for t in (*module.parameters(), *module.buffers())]
    return sum(t.numel() * t.element_size() for t in tensors)


def peak_allocated_bytes(work) -> int:
    """The peak of the bytes that tensors allocated during `work()` hold at once, from torch.profiler's memory records
    (profile_memory: every allocation and free of torch's CPU allocator, with its size and time): the running sum
    of their sizes in time order, at its highest. Counts tensors only, so it does not move with the load or with the
    C library's caching of freed memory, which make the resident set's rise vary by tenths from run to run."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as profiler:
        work()
    records = sorted(
        (event.start_ns(), event.nbytes()) for event in profiler.profiler.kineto_results.events() if event.name() == "[memory]"
    )
    live = peak = 0
    for _, size in records:
        live += size
        peak = max(peak, live)
    return peak


def peak_training_memory(kind: str, args: argparse.Namespace, out: Path, batch: int, steps: int, answer) -> None:
    """(In a process of its own.) The peak memory of `steps` training steps of the newly built task: on CUDA the peak
    allocated bytes; on the CPU the networks' weights (model_bytes) plus the peak of what the steps allocate
    (peak_allocated_bytes): gradients, Adam's state (allocated by the first step) and activations, without the
    interpreter, torch and the images, which are the same in every model's process."""
    task = build_model_task(kind, args, out, batch)

    def train_steps() -> None:
        for step in range(steps):
            task.train_step(step, steps)

    if task.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        train_steps()
        answer.put(torch.cuda.max_memory_allocated())
    else:
        answer.put(model_bytes(task) + peak_allocated_bytes(train_steps))


def speed(kinds: list[str], args: argparse.Namespace) -> None:
    """Step time and peak training memory of each model at 64 px, batch 4 (see the module's docstring)."""
    batch, work = 4, Path(tempfile.mkdtemp(prefix="vidgan-bench-cut-"))
    tasks = {kind: build_model_task(kind, args, work / kind, batch) for kind in kinds}
    for task in tasks.values():
        task.train_step(0, args.speed)  # warm-up: the first step allocates Adam's state

    def steps_of(task):
        def run() -> float:
            for step in range(args.speed):
                task.train_step(step, args.speed)
            if task.device.type == "cuda":
                torch.cuda.synchronize()
            return args.speed
        return run

    rates = best_rate({kind: steps_of(task) for kind, task in tasks.items()}, rounds=3)
    print("s/step: " + ", ".join(f"{kind} {1 / rate:.3f}" for kind, rate in rates.items()), flush=True)
    del tasks
    memory = {}
    context = multiprocessing.get_context("spawn")
    for kind in kinds:
        answer = context.Queue()
        child = context.Process(target=peak_training_memory, args=(kind, args, work / f"{kind}-memory", batch, args.speed, answer))
        child.start()
        memory[kind] = answer.get()
        child.join()
    shutil.rmtree(work, ignore_errors=True)
    first = kinds[0]
    print(f"training step at 64 px, batch {batch}, best of 3 rounds of {args.speed} steps\n{machine()}")
    memory_note = "" if torch.cuda.is_available() and args.device != "cpu" else "  (peak: weights + live tensor bytes of the steps)"
    print(f"{'model':<10} {'s/step':>8} {'vs ' + first:>12} {'peak MiB':>9} {'vs ' + first:>12}{memory_note}")
    for kind in kinds:
        seconds, mib = 1 / rates[kind], memory[kind] / 2**20
        print(f"{kind:<10} {seconds:8.3f} {seconds * rates[first]:11.2f}x {mib:9.0f} {memory[kind] / memory[first]:11.2f}x")


def summary(kind: str, results: dict, steps: int, seconds: float) -> str:
    """One line of a model's figures: per direction it has, translation, cycle L1 where measured, edge SSIM, C2ST."""
    parts = []
    for name, d in results["directions"].items():
        cycle = f" cycle L1 {d['cycle_l1']:.3f}" if d.get("cycle_l1") is not None else ""
        c2st = "n/a" if d["c2st"] is None else f"{d['c2st']:.3f}"
        parts.append(f"{name}: translation {d['translation_score']:.1%}{cycle} edge SSIM {d['edge_ssim']:.3f} C2ST {c2st}")
    return f"{kind:<9} {' | '.join(parts)} | {seconds / max(steps, 1):.3f} s/step, {steps} steps"


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
    parser.add_argument("--models", default="cyclegan", help="comma-separated model kinds: cyclegan, cut, fastcut")
    parser.add_argument("--classifier-steps", type=int, default=ClassifierSettings.steps,
                        help="training steps of eval's classifiers (fewer only to check the bench runs)")
    parser.add_argument("--speed", type=int, default=None, metavar="STEPS",
                        help="time STEPS training steps of each model and measure its peak memory instead")
    args = parser.parse_args()
    kinds = args.models.split(",")
    if args.speed:
        speed(kinds, args)
        return
    lines = []
    for kind in kinds:
        lines.append(train_and_eval(kind, args, args.out / kind if len(kinds) > 1 else args.out))
    print("\n".join(lines))


def train_and_eval(kind: str, args: argparse.Namespace, out: Path) -> str:
    """Train one model on the cats for the budget, evaluate it, print its table; returns its summary line."""
    options = model_options(kind, out, args, iters=args.iters or 10**9, minutes=None if args.iters else args.minutes)

    shutil.rmtree(out, ignore_errors=True)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    trained = train(options)  # without --iters the time budget stops it
    train_seconds = time.perf_counter() - started
    results = evaluate_run(out, EvalOptions(device=args.device, classifier=ClassifierSettings(steps=args.classifier_steps)))
    console.print(eval_table(results))
    print(f"options {dict(args.set) or 'train defaults'}{' (plain)' if args.plain and kind == 'cyclegan' else ''}")
    print(
        f"{kind}: trained {trained.step} steps in {train_seconds / 60:.1f} min with {torch.get_num_threads()} torch threads, "
        f"load average {load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end; run folder {out}"
    )
    return summary(kind, results, trained.step, train_seconds)


if __name__ == "__main__":
    main()
