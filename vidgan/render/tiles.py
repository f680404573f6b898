"""Tiled inference for `render --tile N`: a fully convolutional generator run on overlapping N-px tiles of a
working-scale frame, blended with raised-cosine weights, so a large frame renders in bounded memory.

Two things would make tiles show. Border effects: a tile's outermost pixels see padding instead of the frame,
so neighbouring tiles overlap and each tile's weight is 0 next to its inner edges, then rises along a raised
cosine (the two tiles' weights sum to 1 across their overlap). Instance normalisation: every InstanceNorm layer
normalises with its input's per-image mean and variance, which differ per tile, so each tile would come out in
its own tone. Here every tile is normalised with the whole frame's statistics instead, measured exactly: the
statistics of layer k depend on the normalised outputs of layers 1..k-1, so there is one pass over the tiles per
layer, in the order the layers run, each stopped at the layer it measures (so it costs only the layers up to
it), with the layers before it normalised by what the earlier passes measured; sums run over the tiles' cores,
a partition of the frame, so each pixel counts once. The output pass then normalises with those.

Why exact: on a working-scale frame of 456×256 (tiles of 128 px, overlap 32), a U-Net fitted for 40 steps came
out at 70.9 dB PSNR against the untiled output with exact statistics, 40.1 dB with statistics from one pass of
tiles each normalised with its own (exact for the first layer only; refining with more such passes made one more
layer exact per pass and the deeper ones worse), and 32–50 dB with statistics from the whole frame at half size;
a ResNet's residual stack amplifies such errors further. The cost: tiling took 4.5–6× the untiled time there, and
12–17× for vidgan's 128-px default U-Net, whose 11 norm layers mean 11 partial passes; tiles are for frames that
do not fit in memory at all. With random weights the border effects reach further than the overlap (31.8 dB for
that default U-Net, 39.2 dB with 64 px of overlap); trained generators' do not.
Tile starts are multiples of the generator's stride, so strided layers sample the same grid as on the whole frame.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from vidgan.core.errors import UsageError, VidganError

# Activation memory is estimated as this many times the largest input + output of any one layer: U-Nets also hold
# their skip features, and convolutions their workspaces. On the CPU, peak resident memory of 128-px ResNet and
# U-Net generators on a 512² input measured 2.8× and 3.3× that largest layer.
ACTIVATION_HEADROOM = 4.0
# Auto tiling plans to use at most this share of the free memory, leaving the rest to the frames in flight.
MEMORY_SHARE = 0.5


def check_tile(tile: int, stride: int) -> int:
    """The --tile value: 0 (never tile) or a positive multiple of the generator's stride; else a UsageError."""
    if tile < 0 or tile % stride:
        raise UsageError(f"--tile must be 0 (no tiles) or a positive multiple of the generator's stride {stride}, got {tile}")
    return tile


def default_overlap(tile: int, stride: int) -> int:
    """A quarter of the tile, rounded down to the stride (at least one stride)."""
    return max(stride, tile // 4 // stride * stride)


def activation_bytes_per_pixel(generator: nn.Module) -> float:
    """Estimated activation memory of one inference per input pixel, in bytes: ACTIVATION_HEADROOM × the largest
    input + output of any one layer, measured with forward hooks on a small probe (so any generator class works)."""
    side = max(32, 4 * generator.stride)
    parameter = next(generator.parameters(), None)
    dtype, device = (torch.float32, torch.device("cpu")) if parameter is None else (parameter.dtype, parameter.device)
    largest = 0

    def measure(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal largest
        tensors = [t for t in (*inputs, output) if isinstance(t, torch.Tensor)]
        largest = max(largest, sum(t.numel() * t.element_size() for t in tensors))

    leaves = [m for m in generator.modules() if not list(m.children())]
    handles = [m.register_forward_hook(measure) for m in leaves]
    try:
        with torch.inference_mode():
            generator(torch.zeros(1, 3, side, side, dtype=dtype, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return ACTIVATION_HEADROOM * largest / side**2


def free_memory(device: torch.device) -> int:
    """Bytes free for new tensors: the GPU's free memory, or on the CPU the memory the kernel calls available."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as meminfo:
            return next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def auto_tile(generator: nn.Module, height: int, width: int, frames: int, device: torch.device, *, tiles: int = 4) -> int:
    """0 when `frames` untiled height×width frames fit in MEMORY_SHARE of the device's free memory; else the largest
    tile side (a multiple of the stride, at most the frame's long side) of which a batch of `tiles` fits.

    Raises VidganError when not even tiles of 4 strides fit."""
    per_pixel = activation_bytes_per_pixel(generator)
    budget = MEMORY_SHARE * free_memory(device)
    if frames * height * width * per_pixel <= budget:
        return 0
    stride = generator.stride
    tile = min(int(math.sqrt(budget / (tiles * per_pixel))), max(height, width)) // stride * stride
    if tile < 4 * stride:
        raise VidganError(
            f"not enough free memory on {device} for tiles of {4 * stride} px "
            f"({budget / 2**20:.0f} MiB usable, {tiles * (4 * stride) ** 2 * per_pixel / 2**20:.0f} MiB needed)"
        )
    return tile


@dataclass(frozen=True)
class Span:
    """One tile's extent along one side of the frame: pixels [start, stop), its core [core_start, core_stop)
    (the tiles' cores partition the side), and its blending weights (1-D, stop − start long)."""

    start: int
    stop: int
    core_start: int
    core_stop: int
    weights: torch.Tensor


def _fade_in(length: int) -> torch.Tensor:
    """Weights for the start of a tile's overlap of `length` px with the previous tile: 0 over the first quarter
    (the pixels nearest the tile's edge, which see padding instead of the frame), then a raised cosine to 1 over
    the middle half, 1 over the last quarter. _fade_in(n) + _fade_in(n).flip(0) = 1."""
    margin = length // 4
    ramp = length - 2 * margin
    t = (torch.arange(ramp, dtype=torch.float32) + 0.5) / ramp
    return torch.cat([torch.zeros(margin), 0.5 - 0.5 * torch.cos(math.pi * t), torch.ones(margin)])


def spans(length: int, tile: int, overlap: int, stride: int) -> list[Span]:
    """The tiles along a side of `length` px: steps of tile − overlap, the last tile flush with the end, starts on
    multiples of `stride` (length and tile are multiples of it). One span covers a side no longer than the tile."""
    if tile >= length:
        return [Span(0, length, 0, length, torch.ones(length))]
    step = tile - overlap
    starts = list(range(0, length - tile, step)) + [length - tile]
    cores = [0] + [(a + tile + b) // 2 // stride * stride for a, b in zip(starts, starts[1:])] + [length]
    result = []
    for i, start in enumerate(starts):
        weights = torch.ones(tile)
        if i > 0:
            shared = starts[i - 1] + tile - start
            weights[:shared] = _fade_in(shared)
        if i < len(starts) - 1:
            shared = start + tile - starts[i + 1]
            weights[tile - shared :] *= _fade_in(shared).flip(0)
        result.append(Span(start, start + tile, cores[i], cores[i + 1], weights))
    return result


def instance_norms(generator: nn.Module) -> list[nn.InstanceNorm2d]:
    return [m for m in generator.modules() if isinstance(m, nn.InstanceNorm2d)]


class _Measured(Exception):
    """Stops a forward pass once the layer being measured has seen its input."""


class _LayerStatistics:
    """Accumulates one InstanceNorm layer's per-channel sum and sum of squares of its input over the tiles' cores,
    then stops the forward pass (the layers after it are not needed yet).

    Set `cores` to the batch's core boxes (top, bottom, left, right in tile pixels) before each batch; an input h px
    high sees the boxes scaled by h / tile_height.
    """

    def __init__(self, norm: nn.InstanceNorm2d, tile_height: int) -> None:
        self.norm = norm
        self.tile_height = tile_height
        self.cores: list[tuple[int, int, int, int]] = []
        self.sums: torch.Tensor | float = 0.0
        self.squares: torch.Tensor | float = 0.0
        self.count = 0

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        handle = self.norm.register_forward_pre_hook(self._record)
        try:
            yield
        finally:
            handle.remove()

    def _record(self, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        features = inputs[0]
        scale = self.tile_height // features.shape[2]
        for sample, (top, bottom, left, right) in zip(features, self.cores):
            core = sample[:, top // scale : bottom // scale, left // scale : right // scale].double()
            self.sums = self.sums + core.sum(dim=(1, 2))
            self.squares = self.squares + core.square().sum(dim=(1, 2))
            self.count += core.shape[1] * core.shape[2]
        raise _Measured

    def statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, biased variance) per channel, float32."""
        mean = self.sums / self.count
        return mean.float(), (self.squares / self.count - mean.square()).clamp_min(0).float()


def norms_in_running_order(generator: nn.Module, probe: torch.Tensor) -> list[nn.InstanceNorm2d]:
    """The generator's InstanceNorm layers in the order a forward pass of `probe` runs them."""
    order: list[nn.InstanceNorm2d] = []
    handles = [norm.register_forward_pre_hook(lambda m, i: order.append(m)) for norm in instance_norms(generator)]
    try:
        generator(probe)
    finally:
        for handle in handles:
            handle.remove()
    return order


@contextlib.contextmanager
def fixed_statistics(norms: list[nn.InstanceNorm2d], statistics: list[tuple[torch.Tensor, torch.Tensor]]) -> Iterator[None]:
    """Make each InstanceNorm layer normalise with the given per-channel (mean, variance) instead of its input's own:
    as running statistics in eval mode, which F.instance_norm applies to every sample. Restored afterwards."""
    saved = [(n.training, n.track_running_stats, n.running_mean, n.running_var) for n in norms]
    try:
        for norm, (mean, variance) in zip(norms, statistics):
            norm.eval()
            norm.track_running_stats = True
            norm.running_mean, norm.running_var = mean, variance
        yield
    finally:
        for norm, (training, track, mean, variance) in zip(norms, saved):
            norm.train(training)
            norm.track_running_stats = track
            norm.running_mean, norm.running_var = mean, variance


Tile = tuple[Span, Span]  # rows, columns


def _groups(tiles: list[Tile], batch: int) -> Iterator[list[Tile]]:
    for first in range(0, len(tiles), batch):
        yield tiles[first : first + batch]


def _crops(image: torch.Tensor, group: list[Tile]) -> torch.Tensor:
    return torch.cat([image[:, :, r.start : r.stop, c.start : c.stop] for r, c in group])


def whole_frame_statistics(
    generator: nn.Module, image: torch.Tensor, tiles: list[Tile], batch: int
) -> tuple[list[nn.InstanceNorm2d], list[tuple[torch.Tensor, torch.Tensor]]]:
    """The generator's InstanceNorm layers in running order, and each one's (mean, variance) per channel over the
    whole 1×C×h×w `image` as the untiled forward pass would see them, computed on `tiles` of it, `batch` at a time:
    one pass per layer, stopped at that layer, with the layers before it normalised by what was measured."""
    norms = norms_in_running_order(generator, _crops(image, tiles[:1]))
    statistics: list[tuple[torch.Tensor, torch.Tensor]] = []
    for norm in norms:
        layer = _LayerStatistics(norm, tiles[0][0].stop - tiles[0][0].start)
        with fixed_statistics(norms[: len(statistics)], statistics), layer.recording():
            for group in _groups(tiles, batch):
                layer.cores = [
                    (r.core_start - r.start, r.core_stop - r.start, c.core_start - c.start, c.core_stop - c.start)
                    for r, c in group
                ]
                with contextlib.suppress(_Measured):
                    generator(_crops(image, group))
        statistics.append(layer.statistics())
    return norms, statistics


class TiledGenerator(nn.Module):
    """Wraps a fully convolutional generator: forward(x) runs each frame of x (N×C×h×w, sides multiples of the
    stride) on overlapping tiles and returns the blended N×C×h×w output: generator(x) but for border effects
    (45 dB PSNR or more for the trained generators measured, see the module doc).

    tile: tile side in px (a multiple of generator.stride); overlap: px shared by neighbouring tiles (default a
    quarter tile); batch: tiles run together.
    """

    def __init__(self, generator: nn.Module, tile: int, *, overlap: int | None = None, batch: int = 4) -> None:
        super().__init__()
        self.generator = generator
        self.tile = check_tile(tile, generator.stride)
        if tile == 0:
            raise UsageError("--tile 0 means no tiles: run the generator itself")
        self.overlap = default_overlap(tile, self.stride) if overlap is None else overlap
        if self.overlap % self.stride or not 0 < self.overlap < tile:
            raise UsageError(f"the tiles' overlap must be a multiple of {self.stride} between 0 and {tile}, got {self.overlap}")
        self.batch = batch

    @property
    def stride(self) -> int:
        return self.generator.stride

    @property
    def config(self) -> object:
        """The wrapped generator's config (GeneratorConfig, or ReferenceConfig for reference architectures)."""
        return self.generator.config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._frame(frame[None]) for frame in x])

    def _frame(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[2:]
        rows = spans(height, self.tile, self.overlap, self.stride)
        columns = spans(width, self.tile, self.overlap, self.stride)
        if len(rows) == len(columns) == 1:
            return self.generator(image)
        tiles = [(r, c) for r in rows for c in columns]
        output = torch.zeros_like(image, dtype=torch.float32)
        total = torch.zeros((1, 1, height, width), dtype=torch.float32, device=image.device)
        with fixed_statistics(*whole_frame_statistics(self.generator, image, tiles, self.batch)):
            for group in _groups(tiles, self.batch):
                for (r, c), result in zip(group, self.generator(_crops(image, group))):
                    weights = (r.weights[:, None] * c.weights[None, :]).to(image.device)
                    output[:, :, r.start : r.stop, c.start : c.stop] += result.float() * weights
                    total[:, :, r.start : r.stop, c.start : c.stop] += weights
        return (output / total).to(image.dtype)

