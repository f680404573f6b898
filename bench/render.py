"""Render throughput: vidgan's streaming render vs the model alone vs a naive one-frame-at-a-time cv2 loop.

Synthetic H.264 clips through vidgan's default CycleGAN generator (U-Net, random weights), per frame size, working
scale and runtime:
    PYTHONPATH=. python bench/render.py [--device auto] [--sizes 1280x720 1920x1080] [--scales 128 full]
        [--runtimes torch onnxruntime openvino] [--half] [--frames 24] [--rounds 2] [--batch B]
--scales: the working scale in px, or `full` for the frame's own short side (the generator at full resolution).
Rows per frame size and scale:
- decode → encode only: the clip decoded to RGB and encoded again (H.264 veryfast), no model: the ceiling
  decoding, RGB conversion and encoding set for any render;
- model only: the translation step alone (uint8 working-size frames in, out; the runtime's graph), batch B;
- vidgan render: the whole `vidgan render` (decode thread, translation, --detail source composite, encode thread);
- naive cv2 loop: cv2 read, one frame through the torch model, cv2 write (mp4v, no audio).
The last line is the headline for the runtime `--runtime auto` picks, at the first size and scale: end-to-end frames/s over
model-only frames/s, and over the naive loop.
"""

from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import segments
import torch
from benchlib import best_rate, default_generator, print_table, random_generator_checkpoint

from vidgan.core.devices import inference_dtype, resolve_device
from vidgan.core.directions import A2B
from vidgan.io.batches import to_float, to_uint8
from vidgan.io.video import VideoWriter, iter_frames, write_test_clip
from vidgan.render.options import RenderOptions
from vidgan.render.runtimes import resolve_runtime
from vidgan.render.translator import default_batch_size, load_translators
from vidgan.render.video import render_video
from vidgan.runs.generators import load_generator


def naive_loop(clip: Path, out: Path, generator: torch.nn.Module, size: tuple[int, int], device: torch.device) -> int:
    """What a first script does: cv2 read, one frame through the model, cv2 write (mp4v, no audio)."""
    capture = cv2.VideoCapture(str(clip))
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 25, (width, height))
    frames = 0
    with torch.inference_mode():
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            small = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size, interpolation=cv2.INTER_AREA)
            image = to_float(torch.from_numpy(small).permute(2, 0, 1)[None].to(device))
            result = to_uint8(generator(image))[0].permute(1, 2, 0).cpu().numpy()
            big = cv2.resize(result, (width, height), interpolation=cv2.INTER_CUBIC)
            writer.write(cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
            frames += 1
    capture.release()
    writer.release()
    return frames


def transcode(clip: Path, out: Path, width: int, height: int) -> int:
    """Decode to RGB and encode again with vidgan's own reader and writer, no model."""
    frames = 0
    with VideoWriter(out, width=width, height=height, fps=Fraction(25)) as writer:
        for frame in iter_frames(clip):
            writer.write(frame.rgb)
            frames += 1
    return frames


def nvenc_transcode(clip: Path, out: Path, width: int, height: int) -> int:
    """The same through the GPU's H.264 encoder (PyAV's h264_nvenc), to see whether it lifts the encoder's limit;
    0 frames (a rate of 0) where the encoder does not open."""
    frames = 0
    try:
        with av.open(str(out), "w") as container:
            stream = container.add_stream("h264_nvenc", rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for frame in iter_frames(clip):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame.rgb, format="rgb24")))
                frames += 1
            container.mux(stream.encode())
    except OSError as error:  # PyAV's FFmpeg errors are OSErrors
        print(f"h264_nvenc: {error}")
        return 0
    return frames


def parse_size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


class ClipBench:
    """The rows of one frame size × working scale."""

    def __init__(self, args: argparse.Namespace, folder: Path, checkpoint: Path, size: tuple[int, int], scale: str) -> None:
        self.args, self.folder, self.checkpoint = args, folder, checkpoint
        self.width, self.height = size
        self.device = resolve_device(args.device)
        self.scale = min(size) if scale == "full" else int(scale)
        self.label = f"{self.width}x{self.height}, working scale {self.scale} px" + (" (full)" if scale == "full" else "")
        self.clip = write_test_clip(
            folder / f"clip_{self.width}x{self.height}.mp4", width=self.width, height=self.height, fps=Fraction(25), n_frames=args.frames
        )

    def options(self, runtime: str, half: bool, out: str = "out.mp4") -> RenderOptions:
        return RenderOptions(
            out=self.folder / out, batch_size=self.args.batch, overwrite=True, device=str(self.device), quiet=True,
            runtime=runtime, half=half, scale=self.scale,
        )  # fmt: skip

    def model_only(self, runtime: str, half: bool):
        """A function translating `--frames` working-size frames in batches, as the render's translation step does."""
        options = self.options(runtime, half)
        translator = load_translators(self.checkpoint, options, self.device, inference_dtype(self.device, half))[A2B]
        frame = next(iter_frames(self.clip))
        image = translator.framing.shrink(frame)
        batch = [image] * self.args.batch
        rounds = max(1, self.args.frames // self.args.batch)
        translator.generate(batch)  # warm-up: allocation, kernel selection, the runtime's compilation

        def run() -> int:
            for _ in range(rounds):
                translator.generate(batch)
            return rounds * len(batch)

        return run, image.shape

    def render(self, runtime: str, half: bool):
        options = self.options(runtime, half, f"render_{runtime}_{half}.mp4")
        return lambda: render_video([self.clip], self.checkpoint, options).frames

    def rows(self) -> dict[str, float]:
        runs = {"decode → encode only (no model)": lambda: transcode(self.clip, self.folder / "transcode.mp4", self.width, self.height)}
        if self.device.type == "cuda" and "h264_nvenc" in av.codecs_available:
            runs["decode → encode only, h264_nvenc (no model)"] = lambda: nvenc_transcode(
                self.clip, self.folder / "nvenc.mp4", self.width, self.height
            )
        shape = None
        variants = [(runtime, False) for runtime in self.args.runtimes]
        if self.args.half:
            variants.append(("torch", True))
        for runtime, half in variants:
            name = resolve_runtime(runtime, self.device) + (" --half" if half else "")
            runs[f"model only, {name}, batch {self.args.batch}"], shape = self.model_only(runtime, half)
            runs[f"vidgan render, {name}"] = self.render(runtime, half)
        generator = load_generator(self.checkpoint, A2B, self.device)
        working = (shape[1], shape[0])
        runs["naive cv2 loop, torch, batch 1"] = lambda: naive_loop(self.clip, self.folder / "naive.mp4", generator, working, self.device)
        rates = best_rate(runs, self.args.rounds)
        print_table(f"render: {self.label} (generator input {working[0]}x{working[1]}), {self.args.frames} frames, {self.device}",
                    "frames/s", rates, "naive cv2 loop, torch, batch 1")  # fmt: skip
        print()
        return rates


def main() -> None:
    if segments.asked():  # --segments: one clip split over 2 torchrun processes, beside 1 (bench/segments.py)
        return segments.main()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(1280, 720)])
    parser.add_argument("--scales", nargs="+", default=["128"], help="working scales in px, or `full`")
    parser.add_argument("--runtimes", nargs="+", default=None, help="default: torch (and on the CPU onnxruntime, openvino)")
    parser.add_argument("--half", action="store_true", help="also the torch runtime in half precision (CUDA)")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=None, help="default: render's default for the device")
    args = parser.parse_args()
    device = resolve_device(args.device)
    args.batch = args.batch or default_batch_size(device)
    args.runtimes = args.runtimes or (["torch"] if device.type == "cuda" else ["torch", "onnxruntime", "openvino"])
    folder = Path(tempfile.mkdtemp(prefix="vidgan-bench-render-"))
    checkpoint = random_generator_checkpoint(folder / "model.pt", default_generator(128))
    headline = None
    for size in args.sizes:
        for scale in args.scales:
            rates = ClipBench(args, folder, checkpoint, size, scale).rows()
            if headline is None:
                chosen = resolve_runtime("auto", device)  # what --runtime auto takes here
                model = f"model only, {chosen}, batch {args.batch}"
                render = f"vidgan render, {chosen}"
                if render in rates:
                    headline = (rates[render] / rates[model], rates[render] / rates["naive cv2 loop, torch, batch 1"], render)
    if headline is None:
        raise SystemExit("no headline: --runtimes leaves out the runtime --runtime auto takes here")
    print(f"{headline[2]} / model only: {headline[0]:.2f}x (target 0.85 on the CPU, 0.9 on CUDA); "
          f"render / naive loop: {headline[1]:.2f}x (target 1.5)")  # fmt: skip


if __name__ == "__main__":
    main()
