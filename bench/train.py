"""CycleGAN training step: vidgan's vs a straightforward one (PNGs through a DataLoader each step), same networks.

64-px cat photos from ../shared/data (grumpy vs russian_blue), 32-channel generators, batch 4, on the CPU:
    PYTHONPATH=. python bench/train.py [--steps 10] [--rounds 3] [--bf16]
Also: vidgan's step with a pre-made batch (does data loading stall the step?), and with --bf16 the step under
bf16 autocast (about 3x slower than fp32 on CPUs without bf16 units, so not run by default).
The last line is the headline: vidgan's steps/s over the straightforward step's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from benchlib import best_rate, print_table
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from vidgan.io.images import list_images
from vidgan.models.cyclegan import DiscriminatorConfig, GeneratorConfig
from vidgan.training.cyclegan import CycleGANTask, LossWeights
from vidgan.training.data import ImageBank, load_image_folder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cats"
DOMAINS = {"a": DATA / "grumpy", "b": DATA / "russian_blue"}
SIZE, BATCH = 64, 4
CPU = torch.device("cpu")


class PngFolder(Dataset):
    """Decodes one PNG per item, as most training scripts do: float CHW in [-1, 1], randomly mirrored."""

    def __init__(self, folder: Path) -> None:
        self.paths = list_images(folder)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        rgb = np.asarray(Image.open(self.paths[index]).convert("RGB").resize((SIZE, SIZE)), dtype=np.float32)
        image = torch.from_numpy(rgb).permute(2, 0, 1) / 127.5 - 1
        return image.flip(2) if torch.rand(()) < 0.5 else image


class LoaderBank:
    """Stands in for an ImageBank: batches come from a DataLoader over the PNG files (2 worker processes)."""

    def __init__(self, folder: Path) -> None:
        self.dataset = PngFolder(folder)
        self.loader = DataLoader(self.dataset, BATCH, shuffle=True, num_workers=2, drop_last=True, persistent_workers=True)
        self.batches = iter(self.loader)

    def batch(self, batch_size: int) -> torch.Tensor:
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)

    def fixed(self, count: int) -> torch.Tensor:
        return torch.stack([self.dataset[i] for i in range(min(count, len(self.dataset)))])


class PremadeBank:
    """The same batch every step: a step with no data loading at all."""

    def __init__(self, bank: ImageBank) -> None:
        self.images = bank.batch(BATCH)
        self.fixed = bank.fixed

    def batch(self, batch_size: int) -> torch.Tensor:
        return self.images


def make_task(banks: dict, precision: torch.dtype = torch.float32) -> CycleGANTask:
    torch.manual_seed(0)
    return CycleGANTask(
        banks,
        GeneratorConfig.for_size(SIZE),
        DiscriminatorConfig(size=SIZE),
        LossWeights(),
        batch_size=BATCH,
        lr_g=2e-4,
        lr_d=2e-4,
        betas=(0.5, 0.999),
        diffaug=(),
        device=CPU,
        precision=precision,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="also time the step under bf16 autocast")
    args = parser.parse_args()
    banks = {d: ImageBank(load_image_folder(folder, SIZE), CPU) for d, folder in DOMAINS.items()}
    tasks = {
        "straightforward: PNG DataLoader, eager fp32": make_task({d: LoaderBank(f) for d, f in DOMAINS.items()}),
        "vidgan: uint8 bank, --precision auto (fp32 on CPU)": make_task(banks),
        "vidgan, pre-made batch (no data loading)": make_task({d: PremadeBank(b) for d, b in banks.items()}),
    }
    if args.bf16:
        tasks["vidgan, --precision bf16 (autocast on CPU)"] = make_task(banks, torch.bfloat16)

    def steps(task: CycleGANTask) -> int:
        for step in range(args.steps):
            task.train_step(step, args.steps)
        return args.steps

    for task in tasks.values():
        task.train_step(0, 1)  # warm-up (and the DataLoader workers' start)
    rates = best_rate({name: (lambda task=task: steps(task)) for name, task in tasks.items()}, args.rounds)
    names = list(rates)
    print_table(f"train step: CycleGAN {SIZE} px, batch {BATCH}, {args.steps} steps per round", "steps/s", rates, names[0])
    print(
        f"step with data / with a pre-made batch: {rates[names[1]] / rates[names[2]]:.2f}x; "
        f"vidgan step / straightforward step: {rates[names[1]] / rates[names[0]]:.2f}x (target 1.0 on CPU)"
    )


if __name__ == "__main__":
    main()
