"""Render throughput: vidgan's streaming render vs the model alone vs a naive one-frame-at-a-time cv2 loop.

A 1280×720 H.264 clip through vidgan's 128-px generator (random weights), batch 4, on the CPU:
    PYTHONPATH=. python bench/render.py [--frames 24] [--rounds 2]
The last line is the headline: end-to-end frames/s over model-only frames/s, and over the naive loop.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import segments
import torch
from benchlib import (
    best_rate,
    clip_bench_setup,
    print_table,
    random_generator_checkpoint,
)

from vidgan.core.directions import A2B
from vidgan.models.cyclegan import GeneratorConfig
from vidgan.render.framing import working_size
from vidgan.render.options import RenderOptions
from vidgan.render.translator import load_render_generator
from vidgan.render.video import render_video
from vidgan.training.data import to_float, to_uint8

WIDTH, HEIGHT, BATCH = 1280, 720, 4


def naive_loop(clip: Path, out: Path, generator: torch.nn.Module, size: tuple[int, int]) -> int:
    """What a first script does: cv2 read, one frame through the model, cv2 write (mp4v, no audio)."""
    capture = cv2.VideoCapture(str(clip))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 25, (WIDTH, HEIGHT))
    frames = 0
    with torch.inference_mode():
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            small = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size, interpolation=cv2.INTER_AREA)
            image = to_float(torch.from_numpy(small).permute(2, 0, 1)[None])
            result = to_uint8(generator(image))[0].permute(1, 2, 0).numpy()
            big = cv2.resize(result, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
            writer.write(cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
            frames += 1
    capture.release()
    writer.release()
    return frames


def main() -> None:
    if segments.asked():  # --segments: one clip split over 2 torchrun processes, beside 1 (bench/segments.py)
        return segments.main()
    args, folder, clip = clip_bench_setup(__doc__, "render", (WIDTH, HEIGHT), frames=24, rounds=2)
    config = GeneratorConfig.for_size(128)
    checkpoint = random_generator_checkpoint(folder / "model.pt", config)
    generator = load_render_generator(checkpoint, A2B, None, torch.device("cpu"))
    size = working_size(WIDTH, HEIGHT, config.size, generator.stride)
    batch = torch.randint(0, 256, (BATCH, 3, size[1], size[0]), dtype=torch.uint8)

    def model_only() -> int:
        with torch.inference_mode():
            for _ in range(args.frames // BATCH):
                to_uint8(generator(to_float(batch)))
        return args.frames // BATCH * BATCH

    def render(warp_error_every: int) -> int:
        out = folder / f"out_{warp_error_every}.mp4"
        options = RenderOptions(
            out=out, batch_size=BATCH, warp_error_every=warp_error_every, overwrite=True, device="cpu", quiet=True
        )
        return render_video(clip, checkpoint, options).frames

    model_only()  # warm-up: first calls pay for allocation and kernel selection
    rates = best_rate(
        {
            f"model only, {size[0]}x{size[1]} input, batch {BATCH}": model_only,
            "vidgan render (warp error every 10th pair)": lambda: render(10),
            "vidgan render, warp error on every pair": lambda: render(1),
            "naive cv2 loop, batch 1": lambda: naive_loop(clip, folder / "naive.mp4", generator, size),
        },
        args.rounds,
    )
    names = list(rates)
    print_table(f"render: {WIDTH}x{HEIGHT} H.264, {args.frames} frames, 128-px generator", "frames/s", rates, names[0])
    end_to_end = rates[names[1]]
    print(
        f"render end-to-end / model only: {end_to_end / rates[names[0]]:.2f}x (target 0.85); "
        f"render / naive loop: {end_to_end / rates[names[3]]:.2f}x (target 1.5)"
    )


if __name__ == "__main__":
    main()
