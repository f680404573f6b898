"""The translation step of `vidgan render` and `vidgan translate`: full-resolution frames in, translated frames out.

A FrameTranslator frames each frame for the generator (vidgan.render.framing), runs the generator on the framed
images in batches (on tiles where a frame is too big: vidgan.render.tiles), and puts the results back into the
frames: composited into the source through the change matte (`--detail source`, vidgan.render.detail) or scaled
back up (`--detail model`). `load_translators` builds one per direction from a vidgan run or checkpoint, or a
reference CycleGAN state dict, at the working scale: --scale, else the run's recorded one, else its training size.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidgan.core.devices import fast_layout
from vidgan.core.directions import Direction
from vidgan.core.errors import UsageError
from vidgan.core.progress import console
from vidgan.io.batches import to_float, to_uint8
from vidgan.io.video import Frame
from vidgan.render.boxes import read_box_track
from vidgan.render.detail import SourceDetail
from vidgan.render.framing import Fit, Region, WholeFrame
from vidgan.render.options import RenderOptions
from vidgan.render.quantise import Calibration
from vidgan.render.runtimes import resolve_runtime, runtime_generator
from vidgan.render.tiles import TiledGenerator, auto_tile, check_tile
from vidgan.runs.checkpoints import weights_digest
from vidgan.runs.folder import working_scale
from vidgan.runs.generators import load_generator

# One translated frame: H×W×3 uint8 RGB, and its H×W float32 change matte in [0, 1] (None when not asked for).
Translation = tuple[np.ndarray, np.ndarray | None]


class FrameTranslator:
    """Translates batches of full-resolution frames: framing → generator → framing back.

    Each step is a method of its own: `framing.shrink` makes the images the generator sees, `generate` runs it
    (tiled where asked, or where an untiled frame would not fit in memory), and `framing.restore_detail` (detail
    "source") or `framing.restore` (detail "model") puts its output back at the frame's resolution.
    tile: the tile side in px, 0 never tiles, None picks tiles only where needed (vidgan.render.tiles.auto_tile).
    mattes: also return each frame's change matte with detail "model" (detail "source" always returns it).
    weights: a digest of the generator's weights (vidgan.runs.checkpoints.weights_digest), recorded with outputs.
    """

    def __init__(
        self,
        generator: nn.Module,
        framing: WholeFrame | Region,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
        *,
        detail: str = "model",
        tile: int | None = 0,
        mattes: bool = False,
        weights: str = "",
    ) -> None:
        self.generator = generator
        self.weights = weights
        self.framing = framing
        self.device = device
        self.dtype = dtype  # the generator's weights are in this dtype (float32, or half precision with --half)
        self.detail = detail
        self.tile = tile
        self.mattes = mattes
        self._source_detail = SourceDetail()
        self._by_size: dict[tuple[int, int], nn.Module] = {}  # the generator to run per working-frame size

    def __call__(self, frames: list[Frame]) -> list[Translation]:
        """Each frame's translation at its frame's size, with its change matte."""
        images = [self.framing.shrink(frame) for frame in frames]
        outputs = self.generate(images)
        return [self._restore(frame, x, gx) for frame, x, gx in zip(frames, images, outputs)]

    def _restore(self, frame: Frame, x: np.ndarray, gx: np.ndarray) -> Translation:
        if self.detail == "source":
            return self.framing.restore_detail(frame, x, gx, self._source_detail)
        matte = self.framing.matte(frame, x, gx, self._source_detail) if self.mattes else None
        return self.framing.restore(frame, gx), matte

    def _generator_for(self, height: int, width: int, frames: int) -> nn.Module:
        """The generator itself, or tiles of it: --tile N, or with no --tile where `frames` untiled height×width
        images would not fit in the device's memory (said in the progress output)."""
        if (height, width) not in self._by_size:
            tile = self.tile
            if tile is None:
                tile = auto_tile(self.generator, height, width, frames, self.device)
                if tile:
                    console.print(f"{width}x{height} working frames do not fit in {self.device}'s free memory: tiles of {tile} px")
            self._by_size[height, width] = TiledGenerator(self.generator, tile) if tile else self.generator
        return self._by_size[height, width]

    @torch.inference_mode()
    def generate(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """The generator's output for each h×w×3 uint8 image, same size; images of one size run as one batch
        (a tracked region that changes size gives several)."""
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, image in enumerate(images):
            by_shape[image.shape].append(i)
        outputs: list[np.ndarray | None] = [None] * len(images)
        for (height, width, _), indices in by_shape.items():
            batch = torch.from_numpy(np.stack([images[i] for i in indices])).to(self.device).permute(0, 3, 1, 2)
            generator = self._generator_for(height, width, len(indices))
            translated = generator(to_float(batch).to(self.dtype)).float()
            translated = to_uint8(translated).permute(0, 2, 3, 1).cpu().numpy()
            for i, image in zip(indices, translated):
                outputs[i] = image
        return outputs


def default_batch_size(device: torch.device) -> int:
    """Larger batches pay off on a GPU; on the CPU a few frames already use the cores fully."""
    return 16 if device.type == "cuda" else 4


def _framing(fit: Fit, options: RenderOptions) -> WholeFrame | Region:
    if options.roi_track is not None:
        return Region(fit, read_box_track(options.roi_track), options.feather)
    if options.roi is not None:
        roi = options.roi
        return Region(fit, lambda _frame: roi, options.feather)
    return WholeFrame(fit)


def render_scale(source: Path, options: RenderOptions, generator: nn.Module) -> int:
    """The working scale in px: --scale, else the run's recorded working scale, else the generator's training size
    (a reference state dict records none)."""
    if options.scale is not None:
        return options.scale
    if options.arch is not None:
        return generator.config.size
    return working_scale(source, generator.config.size)


def _runtime(options: RenderOptions, device: torch.device, note: bool = True) -> str:
    """The runtime that runs the generators: resolve_runtime's choice, except that tiles and --half need torch (the
    exported graph cannot be tiled, as tiles reach into its instance norms, nor run in half precision): `auto` then
    takes torch and says so, a named ONNX runtime is a UsageError. --precision int8 takes an ONNX runtime that can run
    it (RenderOptions.validate refuses it with tiles or --half). `note`: say so where auto takes torch."""
    runtime = resolve_runtime(options.runtime, device, options.precision == "int8")
    if runtime == "torch" or not (options.half or (options.tile or 0) > 0):
        return runtime
    if options.runtime != "auto":
        raise UsageError(f"--runtime {options.runtime} runs the whole frame in float32: leave out --half and --tile")
    if note and not options.quiet:
        console.print(f"--runtime auto: torch runs the generator, as {'--half' if options.half else '--tile'} needs it")
    return "torch"


@contextlib.contextmanager
def render_threads(options: RenderOptions, device: torch.device) -> Iterator[int]:
    """Yields the CPU threads the render's generators may use (torch's intra-op count as found). Where an ONNX runtime
    runs them, torch, which then only loads their weights and converts batches, runs on one thread inside (restored
    on leaving): on more, its workers wait for each other on the cores that the runtime and the render's decode,
    composite and encode threads share (bench/distill.py measures the difference)."""
    cores = torch.get_num_threads()
    if cores == 1 or _runtime(options, device, note=False) == "torch":
        yield cores
        return
    torch.set_num_threads(1)
    try:
        yield cores
    finally:
        torch.set_num_threads(cores)


def load_translators(
    source: Path, options: RenderOptions, device: torch.device, dtype: torch.dtype, cores: int | None = None
) -> dict[Direction, FrameTranslator]:
    """A translator per direction of `options`, with the generators of `source` in `dtype` on `device`, an ONNX
    runtime's on at most `cores` threads (default: torch's count); the framing (fit, working scale, region) and the
    tile size are checked against the first direction's generator (both of a run share one architecture).
    UsageError for a --tile that is no multiple of its stride."""
    loaded = {d: load_generator(source, d, device, arch=options.arch) for d in options.directions}
    digests = {d: weights_digest(g) for d, g in loaded.items()}
    generators = {d: fast_layout(g, device).to(dtype) for d, g in loaded.items()}
    first = generators[options.directions[0]]
    if options.tile is not None:
        check_tile(options.tile, first.stride)
    tile = options.tile
    runtime = _runtime(options, device)
    if runtime != "torch":
        tile = 0
        int8 = Calibration.asked(options)
        generators = {d: runtime_generator(g, source, d, device, runtime, int8, cores) for d, g in generators.items()}
    scale = render_scale(source, options, first)
    if options.fit != "native" and scale < first.stride:
        raise UsageError(f"--scale {scale} is below the generator's stride ({first.stride} px)")
    framing = _framing(Fit(options.fit, scale, first.stride), options)
    settings = dict(detail=options.detail, tile=tile, mattes=options.matte or options.alpha == "matte")
    return {d: FrameTranslator(g, framing, device, dtype, **settings, weights=digests[d]) for d, g in generators.items()}
