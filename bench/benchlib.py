"""What the bench scripts share: the machine's description, a random-weight checkpoint, timing, a table.

Run the scripts from the repository root (`python bench/render.py`); each compares its variants side by side in
one run, because on a shared machine absolute times drift while ratios of interleaved runs hold.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import torch
from torch import nn

from vidgan.io.video import write_test_clip
from vidgan.models.cyclegan import DiscriminatorConfig, GeneratorConfig, build_generator
from vidgan.runs.checkpoints import save_checkpoint
from vidgan.training.options import CycleGANOptions


def machine() -> str:
    """CPU model, cores, torch version, and the load average (1, 5, 15 min) as the table is printed."""
    cpu = platform.processor() or "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    gpu = f"{torch.cuda.get_device_name()}, " if torch.cuda.is_available() else ""
    return f"{gpu}{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), load {load}"


def clip_bench_setup(doc: str, name: str, size: tuple[int, int], frames: int, rounds: int) -> tuple[argparse.Namespace, Path, Path]:
    """Parse --frames/--rounds, then write a synthetic 25 fps clip of that many frames into a fresh temp folder.

    Returns the arguments, the folder and the clip.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--frames", type=int, default=frames)
    parser.add_argument("--rounds", type=int, default=rounds)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix=f"vidgan-bench-{name}-"))
    clip = write_test_clip(folder / "clip.mp4", width=size[0], height=size[1], fps=Fraction(25), n_frames=args.frames)
    return args, folder, clip


def default_generator(size: int) -> GeneratorConfig:
    """The generator `vidgan train cyclegan` builds by default at `size` px."""
    options = CycleGANOptions(a_dir=Path("a"), b_dir=Path("b"), size=size)
    return options.resolved(size).generator()


def random_generator_checkpoint(path: Path, config: GeneratorConfig) -> Path:
    """A CycleGAN checkpoint with untrained generators: speed does not depend on the weights."""
    torch.manual_seed(0)
    generators = nn.ModuleDict({d: build_generator(config) for d in ("a2b", "b2a")})
    arch = {"generator": config.to_dict(), "discriminator": DiscriminatorConfig(size=config.size).to_dict()}
    return save_checkpoint(path, kind=CycleGANOptions.kind, step=0, arch=arch, modules={"generators": generators})


def best_rate(runs: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Each run returns units done; rounds interleave the variants and each keeps its best units per second."""
    best = dict.fromkeys(runs, 0.0)
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            units = run()
            best[name] = max(best[name], units / (time.perf_counter() - started))
    return best


def print_table(title: str, unit: str, rates: dict[str, float], baseline: str, notes: dict[str, str] | None = None) -> None:
    """Variants with their rate, their ratio to `baseline` and a note each (e.g. memory)."""
    width = max(map(len, rates))
    notes = notes or {}
    print(f"{title}\n{machine()}")
    print(f"{'variant':<{width}}  {unit:>10}  vs {baseline}")
    for name, rate in rates.items():
        print(f"{name:<{width}}  {rate:10.2f}  {rate / rates[baseline]:.2f}x  {notes.get(name, '')}".rstrip())


def parse_setting(text: str) -> tuple[str, object]:
    """KEY=VALUE, the value read as JSON where it parses (numbers, true/false, null) and as a string otherwise."""
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.replace("-", "_"), value
