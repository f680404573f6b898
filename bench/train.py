"""CycleGAN training step: vidgan's vs a straightforward one (PNGs through a DataLoader each step), same networks.

Cat photos from ../shared/data (grumpy vs russian_blue) at the networks' size with the default CycleGAN networks:
    PYTHONPATH=. python bench/train.py [--device auto] [--size 64] [--batch 4 16] [--steps 10] [--rounds 3]
        [--bf16] [--compile] [--channels C]
Variants, each on the same networks:
- straightforward: a PNG DataLoader (2 workers) feeding an eager float32 step with the default memory layout and
  the default (unfused) Adam, as most training scripts do;
- vidgan: the uint8 image bank on the device, channels_last and fused Adam on CUDA, at --precision fp32;
- vidgan bf16 (on CUDA, or with --bf16): the step under bf16 autocast;
- vidgan bf16 + --compile (with --compile): torch.compile on every network.
On CUDA each variant's peak GPU memory (weights, Adam state and activations) is printed beside its rate.
The last line is the headline: vidgan's best steps/s over the straightforward step's.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from benchlib import best_rate, print_table
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from vidgan.core.devices import resolve_device
from vidgan.io.batches import load_image_folder
from vidgan.io.images import list_images
from vidgan.training.cyclegan import CycleGANTask, LossWeights
from vidgan.training.data import ImageBank
from vidgan.training.options import CycleGANOptions

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cats"
DOMAINS = {"a": DATA / "grumpy", "b": DATA / "russian_blue"}


class PngFolder(Dataset):
    """Decodes one PNG per item, as most training scripts do: float CHW in [-1, 1], randomly mirrored."""

    def __init__(self, folder: Path, size: int) -> None:
        self.paths = list_images(folder)
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = Image.open(self.paths[index]).convert("RGB").resize((self.size, self.size))
        chw = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1
        return chw.flip(2) if torch.rand(()) < 0.5 else chw


class LoaderBank:
    """Stands in for an ImageBank: batches come from a DataLoader over the PNG files (2 worker processes)."""

    def __init__(self, folder: Path, size: int, batch: int, device: torch.device) -> None:
        self.dataset = PngFolder(folder, size)
        pin = device.type == "cuda"
        self.loader = DataLoader(self.dataset, batch, shuffle=True, num_workers=2, drop_last=True, persistent_workers=True, pin_memory=pin)
        self.batches = iter(self.loader)
        self.device = device

    def batch(self, batch_size: int) -> torch.Tensor:
        try:
            images = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            images = next(self.batches)
        return images.to(self.device, non_blocking=True)

    def fixed(self, count: int) -> torch.Tensor:
        return torch.stack([self.dataset[i] for i in range(min(count, len(self.dataset)))]).to(self.device)


def default_options(size: int, channels: int | None) -> CycleGANOptions:
    """The networks `vidgan train cyclegan` builds at `size` px by default (channels narrowed for a quick CPU try)."""
    return CycleGANOptions(a_dir=DOMAINS["a"], b_dir=DOMAINS["b"], size=size, channels=channels).resolved(size)


def make_task(banks: dict, options: CycleGANOptions, batch: int, device: torch.device, **levers) -> CycleGANTask:
    torch.manual_seed(0)
    return CycleGANTask(
        banks,
        options.generator(),
        options.discriminator(),
        LossWeights(),
        batch_size=batch,
        lr_g=options.lr,
        lr_d=options.lr,
        betas=(options.beta1, options.beta2),
        diffaug=(),
        device=device,
        **levers,
    )


def plain(task: CycleGANTask) -> CycleGANTask:
    """The task without vidgan's CUDA levers: default memory layout and one Adam kernel per tensor."""
    for network in (*task.generators.values(), *task.discriminators.values()):
        network.to(memory_format=torch.contiguous_format)
    for name, optimizer in task.optimizers.items():
        group = optimizer.param_groups[0]
        task.optimizers[name] = torch.optim.Adam(task.modules[name].parameters(), lr=group["lr"], betas=group["betas"])
    return task


def variants(args: argparse.Namespace, options: CycleGANOptions, batch: int, device: torch.device) -> dict:
    """name → a function building that variant's task."""
    bank_images = {d: load_image_folder(folder, options.size) for d, folder in DOMAINS.items()}

    def banks() -> dict:
        return {d: ImageBank(images, device) for d, images in bank_images.items()}

    def loaders() -> dict:
        return {d: LoaderBank(folder, options.size, batch, device) for d, folder in DOMAINS.items()}

    found = {
        "straightforward: PNG DataLoader, eager fp32": lambda: plain(make_task(loaders(), options, batch, device)),
        "vidgan, --precision fp32": lambda: make_task(banks(), options, batch, device),
    }
    if device.type == "cuda" or args.bf16:
        found["vidgan, --precision bf16"] = lambda: make_task(banks(), options, batch, device, precision=torch.bfloat16)
    if args.compile:
        found["vidgan, --precision bf16 --compile"] = lambda: make_task(
            banks(), options, batch, device, precision=torch.bfloat16, compile=True
        )
    return found


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_and_warm(build, device: torch.device) -> tuple[CycleGANTask, float, float]:
    """The task after two warm-up steps (DataLoader workers' start, kernel selection, compilation); the warm-up's
    seconds and, on CUDA, the peak GPU memory in GiB it took beyond what was allocated before it."""
    synchronize(device)
    before = 0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    started = time.perf_counter()
    task = build()
    for step in range(2):
        task.train_step(step, 2)
    synchronize(device)
    seconds = time.perf_counter() - started
    peak = (torch.cuda.max_memory_allocated(device) - before) / 2**30 if device.type == "cuda" else float("nan")
    return task, seconds, peak


def bench_batch(args: argparse.Namespace, options: CycleGANOptions, batch: int, device: torch.device) -> float:
    """Times every variant at one batch size, prints the table; returns vidgan's best over straightforward."""
    tasks, notes = {}, {}
    for name, build in variants(args, options, batch, device).items():
        tasks[name], seconds, peak = build_and_warm(build, device)
        notes[name] = f"warm-up {seconds:.1f} s" + ("" if np.isnan(peak) else f", peak {peak:.2f} GiB")

    def steps(task: CycleGANTask) -> int:
        for step in range(args.steps):
            task.train_step(step, args.steps)
        synchronize(device)
        return args.steps

    rates = best_rate({name: (lambda task=task: steps(task)) for name, task in tasks.items()}, args.rounds)
    names = list(rates)
    title = f"train step: CycleGAN {options.size} px ({options.gen}, {options.channels} channels), batch {batch}, {device}"
    print_table(f"{title}, {args.steps} steps per round", "steps/s", rates, names[0], notes)
    best = max(names[1:], key=rates.get)
    ratio = rates[best] / rates[names[0]]
    print(f"batch {batch}: best vidgan ({best}) / straightforward step: {ratio:.2f}x, {rates[best] * batch:.0f} images/s\n")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=64, choices=(64, 128))
    parser.add_argument("--batch", type=int, nargs="+", default=[4])
    parser.add_argument("--channels", type=int, default=None, help="generator width (default: the size's default)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="also time bf16 autocast on the CPU (slower there)")
    parser.add_argument("--compile", action="store_true", help="also time bf16 + torch.compile")
    args = parser.parse_args()
    device = resolve_device(args.device)
    options = default_options(args.size, args.channels)
    ratios = {batch: bench_batch(args, options, batch, device) for batch in args.batch}
    target = 1.5 if device.type == "cuda" else 1.0
    print("vidgan step / straightforward step: " + ", ".join(f"{r:.2f}x at batch {b}" for b, r in ratios.items()) + f" (target {target})")


if __name__ == "__main__":
    main()
