"""Instance norm as vidgan writes it (a group norm with one channel per group) vs nn.InstanceNorm2d, same weights.

    PYTHONPATH=. python bench/norm.py [--rounds 3]
Rows: the 128-px generator's inference on 224x128 inputs (what render runs for a 1280x720 frame), batch 4, and a
64-px CycleGAN training step (the quality benchmark's networks: base width 32, 3 residual blocks), batch 4, each
with either norm. The last line is the headline: the speed-ups of each.
"""

from __future__ import annotations

import argparse

import torch

from benchlib import best_rate, print_table, with_textbook_norm
from vidgan.data import ImageBank
from vidgan.models.cyclegan import DiscriminatorConfig, GeneratorConfig, build_generator
from vidgan.pipelines.cyclegan import CycleGANTask, LossWeights

BATCH = 4
CPU = torch.device("cpu")


def training_task(textbook: bool) -> CycleGANTask:
    """A 64-px CycleGAN on random images; `textbook` swaps every network's norm layers for nn.InstanceNorm2d."""
    torch.manual_seed(0)
    banks = {d: ImageBank(torch.randint(0, 256, (64, 3, 64, 64), dtype=torch.uint8), CPU, "deluxe") for d in "ab"}
    task = CycleGANTask(
        banks, GeneratorConfig.for_size(64, res_blocks=3), DiscriminatorConfig(size=64), LossWeights(),
        batch_size=BATCH, lr_g=3e-4, lr_d=3e-4, betas=(0.5, 0.999), diffaug=("color", "translation", "cutout"), device=CPU,
    )
    if textbook:
        for networks in (task.generators, task.discriminators):
            for name in list(networks):
                networks[name] = with_textbook_norm(networks[name])
        task.optimizers = {
            "generators": torch.optim.Adam(task.generators.parameters(), lr=3e-4, betas=(0.5, 0.999)),
            "discriminators": torch.optim.Adam(task.discriminators.parameters(), lr=3e-4, betas=(0.5, 0.999)),
        }
    return task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    ours = build_generator(GeneratorConfig.for_size(128)).eval().requires_grad_(False)
    generators = {"group-norm form (vidgan)": ours, "nn.InstanceNorm2d": with_textbook_norm(ours)}
    frames = torch.rand(BATCH, 3, 128, 224) * 2 - 1
    with torch.inference_mode():
        difference = (generators["nn.InstanceNorm2d"](frames) - ours(frames)).abs().max().item()

    def infer(generator: torch.nn.Module) -> int:
        with torch.inference_mode():
            generator(frames)
        return BATCH

    tasks = {"group-norm form (vidgan)": training_task(False), "nn.InstanceNorm2d": training_task(True)}

    def train(task: CycleGANTask) -> int:
        task.train_step(0, 1)
        return 1

    runs = {f"inference, 128-px G, {name}": (lambda g=g: infer(g)) for name, g in generators.items()}
    runs |= {f"training step, 64-px CycleGAN, {name}": (lambda t=t: train(t)) for name, t in tasks.items()}
    for run in runs.values():
        run()  # warm-up
    rates = best_rate(runs, args.rounds)
    names = list(rates)
    for title, unit, rows in (("inference", "frames/s", names[:2]), ("training", "steps/s", names[2:])):
        print_table(f"instance norm, {title}: group-norm form vs nn.InstanceNorm2d", unit, {n: rates[n] for n in rows}, rows[1])
    print(f"largest output difference between the two forms: {difference:.1e}")
    print(
        f"group-norm form / nn.InstanceNorm2d: inference {rates[names[0]] / rates[names[1]]:.2f}x, "
        f"training step {rates[names[2]] / rates[names[3]]:.2f}x"
    )


if __name__ == "__main__":
    main()
