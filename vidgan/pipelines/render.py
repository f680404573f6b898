"""Render: run a trained generator over a whole video, frame by frame, and write a video a VFX artist can use.

Decoding, translation and encoding overlap: frames are decoded on one thread, translated in batches on the
calling thread, and encoded on another, with bounded queues between them so memory stays flat however long
the clip is.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import torch
from torch import nn

from vidgan.data import to_float, to_uint8
from vidgan.devices import resolve_device
from vidgan.errors import UsageError
from vidgan.pipelines.cyclegan import load_generator
from vidgan.progress import make_progress
from vidgan.video import Frame, VideoWriter, iter_frames, probe_video

T = TypeVar("T")
_DONE = object()


@dataclass
class RenderResult:
    out: Path
    compare: Path | None
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def default_output(input_path: Path, direction: str) -> Path:
    """shot.mp4 → shot_a2b.mp4 beside the input."""
    return input_path.with_name(f"{input_path.stem}_{direction}.mp4")


def working_size(width: int, height: int, short_side: int, stride: int) -> tuple[int, int]:
    """Scale so the short side is the training size, keeping the aspect ratio; round to the generator's stride."""
    scale = short_side / min(width, height)
    return (
        max(stride, round(width * scale / stride) * stride),
        max(stride, round(height * scale / stride) * stride),
    )


class FrameTranslator:
    """Translates batches of full-resolution RGB frames: scale to the working size, run the generator, scale back."""

    def __init__(self, generator: nn.Module, frame_size: tuple[int, int], device: torch.device) -> None:
        self.generator = generator
        self.device = device
        self.frame_size = frame_size  # (width, height) of the source frames
        self.work_size = working_size(*frame_size, generator.config.size, generator.stride)

    @torch.inference_mode()
    def __call__(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        small = np.stack([cv2.resize(f, self.work_size, interpolation=cv2.INTER_AREA) for f in frames])
        batch = to_float(torch.from_numpy(small).to(self.device).permute(0, 3, 1, 2))
        translated = to_uint8(self.generator(batch)).permute(0, 2, 3, 1).cpu().numpy()
        return [cv2.resize(f, self.frame_size, interpolation=cv2.INTER_CUBIC) for f in translated]


def _in_background(items: Iterable[T], maxsize: int) -> Iterator[T]:
    """Iterate `items` on a worker thread, a bounded number ahead; its exceptions re-raise here."""
    buffer: queue.Queue = queue.Queue(maxsize)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put(item)
        except BaseException as error:  # handed to the consumer
            buffer.put(error)
        buffer.put(_DONE)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while (item := buffer.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                worker.join(0.05)


class _BackgroundWriter:
    """Runs `write(item)` for each submitted item on a worker thread, a bounded number behind."""

    def __init__(self, write: Callable[[T], None], maxsize: int) -> None:
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _DONE:
            if self._error is None:
                try:
                    self._write(item)
                except BaseException as error:
                    self._error = error

    def submit(self, item: T) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def finish(self, *, check: bool = True) -> None:
        """Wait until everything submitted is written; re-raise the first write error unless check is False."""
        self._queue.put(_DONE)
        self._thread.join()
        if check and self._error is not None:
            raise self._error


def _batches(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def default_batch_size(device: torch.device) -> int:
    """Larger batches pay off on a GPU; on the CPU a few frames already use the cores fully."""
    return 16 if device.type == "cuda" else 4


def render_video(
    input_path: Path,
    source: Path,
    out: Path | None = None,
    *,
    direction: str = "a2b",
    compare: Path | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    overwrite: bool = False,
    quiet: bool = False,
) -> RenderResult:
    """Translate every frame of `input_path` with the generator in `source` (run folder or checkpoint file)."""
    input_path = Path(input_path)
    out = Path(out) if out is not None else default_output(input_path, direction)
    # 1. Check everything before any work: the input, the outputs, the model.
    info = probe_video(input_path)
    for target in (out, compare):
        if target is None:
            continue
        if target.resolve() == input_path.resolve():
            raise UsageError(f"{target}: the output would overwrite the input video")
        if target.exists() and not overwrite:
            raise UsageError(f"{target}: already exists (pass --overwrite to replace it)")
        if target.suffix.lower() not in (".mp4", ".mov", ".mkv"):
            raise UsageError(f"{target}: output must be a .mp4, .mov or .mkv file")
        target.parent.mkdir(parents=True, exist_ok=True)
    torch_device = resolve_device(device)
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    batch_size = batch_size or default_batch_size(torch_device)
    translate = FrameTranslator(load_generator(source, direction, torch_device), (info.width, info.height), torch_device)

    # 2. Stream: decode (thread) → translate in batches → encode (thread), keeping each frame's timestamp.
    writer_args = dict(fps=info.fps, time_base=info.time_base, audio_from=input_path if info.has_audio else None)
    writers = [VideoWriter(out, width=info.width, height=info.height, **writer_args)]
    if compare is not None:
        writers.append(VideoWriter(compare, width=2 * info.width, height=info.height, **writer_args))

    def write(item: tuple[Frame, np.ndarray]) -> None:
        frame, result = item
        writers[0].write(result, frame.pts)
        if compare is not None:
            writers[1].write(np.concatenate([frame.rgb, result], axis=1), frame.pts)

    started = time.perf_counter()
    count = 0
    encoder = _BackgroundWriter(write, maxsize=2 * batch_size)
    try:
        with make_progress(quiet=quiet) as progress:
            bar = progress.add_task(f"render {direction}", total=info.frame_count, info="")
            for batch in _batches(_in_background(iter_frames(input_path), 2 * batch_size), batch_size):
                for frame, result in zip(batch, translate([f.rgb for f in batch])):
                    encoder.submit((frame, result))
                count += len(batch)
                fps = count / (time.perf_counter() - started)
                progress.update(bar, advance=len(batch), info=f"{fps:.1f} fps")
        encoder.finish()
        # 3. Only complete files are moved to their final names.
        for writer in writers:
            writer.close()
    except BaseException:
        encoder.finish(check=False)
        for writer in writers:
            writer.abort()
        raise
    return RenderResult(out, compare, count, time.perf_counter() - started)
