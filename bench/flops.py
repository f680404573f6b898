"""How close inference runs to the machine's limit: the default 128-px generator's FLOPs per frame, the FLOP/s it achieves,
and a large float32 matmul's FLOP/s measured in the same run.

    PYTHONPATH=. python bench/flops.py [--rounds 3]
The last line is the headline: inference FLOP/s as a fraction of the matmul's.
"""

from __future__ import annotations

import argparse

import torch
from benchlib import best_rate, default_generator, machine
from torch.utils.flop_counter import FlopCounterMode

from vidgan.io.batches import to_float
from vidgan.models.cyclegan import build_generator
from vidgan.render.framing import working_size

BATCH, MATMUL_SIDE = 4, 2048


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = default_generator(128)
    generator = build_generator(config).eval().requires_grad_(False)
    width, height = working_size(1280, 720, 128, generator.stride)
    batch = to_float(torch.randint(0, 256, (BATCH, 3, height, width), dtype=torch.uint8))
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        generator(batch[:1])
    flops_per_frame = counter.get_total_flops()
    a, b = torch.randn(MATMUL_SIDE, MATMUL_SIDE), torch.randn(MATMUL_SIDE, MATMUL_SIDE)

    def matmul() -> float:
        torch.mm(a, b)
        return 2 * MATMUL_SIDE**3 / 1e9

    def inference() -> float:
        with torch.inference_mode():
            generator(batch)
        return BATCH * flops_per_frame / 1e9

    matmul(), inference()  # warm-up
    rates = best_rate({"matmul": matmul, "inference": inference}, args.rounds)
    skip = ", full-res skip" if config.full_res_skip else ""
    described = f"{config.kind}, {config.channels} channels, {config.res_blocks} residual blocks{skip}"
    print(f"FLOPs: the default 128-px generator ({described}) on a 1280x720 frame ({width}x{height} input), batch {BATCH}\n{machine()}")
    print(f"generator: {flops_per_frame / 1e9:.1f} GFLOP per frame")
    print(f"{MATMUL_SIDE}x{MATMUL_SIDE} float32 matmul: {rates['matmul']:.0f} GFLOP/s")
    print(f"inference: {rates['inference']:.0f} GFLOP/s = {rates['inference'] * 1e9 / flops_per_frame:.2f} frames/s")
    print(f"inference / matmul peak: {rates['inference'] / rates['matmul']:.2f}x")


if __name__ == "__main__":
    main()
