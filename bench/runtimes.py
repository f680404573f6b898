"""Inference runtimes side by side: the default 128-px generator run by torch eager, ONNX Runtime and OpenVINO.

    PYTHONPATH=. python bench/runtimes.py [--rounds 3] [--calibration-frames 32]

Model only (no decoding or encoding): a batch of 4 frames of 224x128 (a 16:9 frame at the 128-px working scale),
on the CPU. Each runtime's frames/s, its ratio to torch, its achieved GFLOP/s (FLOPs counted by
torch.utils.flop_counter) beside a 2048x2048 float32 matmul's measured in the same run, and the largest difference
of its 8-bit output from torch's. Then `--precision int8`: each ONNX runtime's int8 model (its quantiser,
vidgan.render.quantise) beside its float32 one, timed in the same interleaved rounds: frames/s, the ratio, and the
int8 output's 8-bit PSNR to float32's. The weights are random and the frames noise (calibration frames and timed
batch drawn apart), so the PSNR describes quantisation of this architecture, not of a trained run's statistics.
The last line is the headline: what `--runtime auto` picks and how fast it is.

What holds the runtimes below the matmul peak (ONNX Runtime's profiler, same batch): convolutions are 74% of their
time; reflection padding (8%), the blocked-layout reorders around it (12%) and nearest upsampling (3%) move memory
without arithmetic.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from benchlib import best_rate, default_generator, machine
from torch.utils.flop_counter import FlopCounterMode

from vidgan.core.directions import A2B
from vidgan.eval.metrics import psnr
from vidgan.io.batches import to_float, to_uint8
from vidgan.models.cyclegan import build_generator
from vidgan.render.quantise import QUANTISERS, quantise
from vidgan.render.runtimes import (
    RUNTIMES,
    ExportedGenerator,
    cached_onnx,
    installed,
    installed_runtimes,
    model_threads,
    open_onnx,
    resolve_runtime,
    runtime_generator,
)

BATCH, WIDTH, HEIGHT, MATMUL_SIDE = 4, 224, 128, 2048


def random_default_generator() -> torch.nn.Module:
    """The generator `vidgan train` builds at 128 px by default, with random weights: speed does not depend on them."""
    torch.manual_seed(0)
    return build_generator(default_generator(128)).eval().requires_grad_(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calibration-frames", type=int, default=32)
    args = parser.parse_args()
    generator = random_default_generator()
    batch = to_float(torch.randint(0, 256, (BATCH, 3, HEIGHT, WIDTH), dtype=torch.uint8))
    calibration = [
        to_float(torch.randint(0, 256, (1, 3, HEIGHT, WIDTH), dtype=torch.uint8)).numpy() for _ in range(args.calibration_frames)
    ]
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        reference = generator(batch)
    gflop_per_frame = counter.get_total_flops() / BATCH / 1e9
    # The exports are cached beside a checkpoint; this one is never written, only its folder is used.
    with tempfile.TemporaryDirectory(prefix="vidgan-bench-runtimes-") as folder:
        source = Path(folder) / "generator.pt"
        runners = {name: runtime_generator(generator, source, "a2b", torch.device("cpu"), name) for name in installed_runtimes()}
        for name in [name for name in runners if name in QUANTISERS and installed(QUANTISERS[name].package)]:
            int8 = quantise(cached_onnx(generator, source, A2B, name), name, calibration)
            threads = model_threads(generator, torch.get_num_threads())
            runners[f"{name} int8"] = ExportedGenerator(open_onnx(int8, name, threads), name, generator)
    errors = {name: int((to_uint8(run(batch)).int() - to_uint8(reference).int()).abs().max()) for name, run in runners.items()}
    a, b = torch.randn(MATMUL_SIDE, MATMUL_SIDE), torch.randn(MATMUL_SIDE, MATMUL_SIDE)

    def matmul() -> float:
        torch.mm(a, b)
        return 2 * MATMUL_SIDE**3 / 1e9  # GFLOP

    def frames(run: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], float]:
        def go() -> float:
            with torch.inference_mode():
                run(batch)
            return BATCH

        return go

    rates = best_rate({"matmul": matmul, **{name: frames(run) for name, run in runners.items()}}, args.rounds)
    peak = rates.pop("matmul")
    print(f"Runtimes: default 128-px generator (U-Net, 3 res blocks, full-res skip), {WIDTH}x{HEIGHT}, batch {BATCH}")
    print(f"{machine()}\n{gflop_per_frame:.1f} GFLOP per frame; {MATMUL_SIDE}x{MATMUL_SIDE} float32 matmul: {peak:.0f} GFLOP/s")
    print(f"{'runtime':<16}  {'frames/s':>8}  {'vs torch':>8}  {'GFLOP/s':>7}  {'of peak':>7}  {'max 8-bit diff':>14}")
    for name, rate in rates.items():
        achieved = rate * gflop_per_frame
        print(f"{name:<16}  {rate:8.2f}  {rate / rates['torch']:7.2f}x  {achieved:7.0f}  {achieved / peak:6.2f}x  {errors[name]:14d}")
    print(f"\nint8 against float32 (calibrated on {args.calibration_frames} noise frames; PSNR of the 8-bit outputs)")
    print(f"{'runtime':<12}  {'fp32 f/s':>8}  {'int8 f/s':>8}  {'int8/fp32':>9}  {'PSNR dB':>7}")
    for name in [name for name in rates if f"{name} int8" in rates]:
        with torch.inference_mode():
            psnr = psnr_8bit(runners[f"{name} int8"](batch), runners[name](batch))
        fp32, int8 = rates[name], rates[f"{name} int8"]
        print(f"{name:<12}  {fp32:8.2f}  {int8:8.2f}  {int8 / fp32:8.2f}x  {psnr:7.1f}")
    missing = [name for name in RUNTIMES[1:] if name not in rates]
    if missing:
        print(f"not installed: {', '.join(missing)}")
    chosen = resolve_runtime("auto", torch.device("cpu"))
    achieved = rates[chosen] * gflop_per_frame
    print(
        f"auto picks {chosen} on the CPU: {rates[chosen]:.2f} frames/s, {rates[chosen] / rates['torch']:.2f}x torch eager, "
        f"{achieved:.0f} GFLOP/s = {achieved / peak:.2f}x the matmul peak"
    )


def psnr_8bit(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two generator outputs as the 8-bit images they become."""
    return psnr(float((to_float(to_uint8(a)) - to_float(to_uint8(b))).pow(2).mean()))


if __name__ == "__main__":
    main()
