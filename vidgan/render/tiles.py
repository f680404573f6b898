"""Tiled inference for `render --tile N`: the generator runs layer by layer over tiles of the working-scale frame,
so a large frame renders in the memory of one tile's activations, and the output is the untiled one (equal to
float rounding) for any generator built from the layers in LAYER_RULES.

How. The generator's forward pass is traced into its graph of layers (torch.fx). The layers that need the whole
frame cut the graph into stages: an instance norm normalises with its input's per-frame, per-channel statistics,
self-attention attends over every position's keys and values. Stage k runs tile by tile: each tile computes the
stage's layers on its share of the frame widened by the stage's own reach (each layer's kernel, stride, padding and
upsampling, composed backwards through the stage's skips and concatenations), reads what earlier stages left in
whole-frame buffers and writes there what later stages need. Then the statistics of the norms that open stage
k + 1 (and the keys and values of its attention) are measured on those buffers, and stage k + 1 runs. Where the
frame's edge falls inside a layer's window, the tile pads as the layer pads (zeros, reflection, replication), so
edges come out as untiled whatever the frame's size; tiles' shares partition every buffer, so each value is
written once. Every layer runs once on every pixel, plus each tile's margin of its stage's reach (a few px at that
stage's resolution), and the statistics cost one more read of each norm's input: the cost is linear in the layers,
and the margins are per stage, never the whole generator's receptive field (`receptive_field`, which they would
otherwise have to be, longer than a small tile: 18 px each side for a 64-px U-Net, 70 for vidgan's default
128-px one, 381 for the reference unet_128).

Memory. On the device: one tile's activations in one stage (deeper stages, with fewer pixels per input pixel, use
larger tiles in the same memory), the norms' statistics (2 numbers per frame and channel), and with self-attention
the keys and values of the bottleneck over the whole frame (C + C/8 channels at the bottleneck's resolution). In
host memory (the device's own where it is the CPU): the whole-frame buffers alive between stages, at most the
values an untiled pass holds at one point (a U-Net's skips, a residual block's input).
"""

from __future__ import annotations

import copy
import math
import operator
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import fx, nn

from vidgan.core.errors import UsageError, VidganError
from vidgan.models.cyclegan import SelfAttention

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


def auto_tile(generator: nn.Module, height: int, width: int, frames: int, device: torch.device) -> int:
    """0 when `frames` untiled height×width frames fit in MEMORY_SHARE of the device's free memory; else the largest
    tile side (a multiple of the stride, at most the frame's long side) of which `frames` tiles fit (the frames of
    a batch go through each tile together).

    Raises VidganError when not even tiles of 4 strides fit."""
    per_pixel = activation_bytes_per_pixel(generator)
    budget = MEMORY_SHARE * free_memory(device)
    if frames * height * width * per_pixel <= budget:
        return 0
    stride = generator.stride
    tile = min(int(math.sqrt(budget / (frames * per_pixel))), max(height, width)) // stride * stride
    if tile < 4 * stride:
        raise VidganError(
            f"not enough free memory on {device} for tiles of {4 * stride} px "
            f"({budget / 2**20:.0f} MiB usable, {frames * (4 * stride) ** 2 * per_pixel / 2**20:.0f} MiB needed)"
        )
    return tile


# ---- one layer's geometry: which part of its input a part of its output needs, and how to compute that part ----

Range = tuple[int, int]  # [start, stop) in one axis of a value's own pixels
Box = tuple[Range, Range]  # rows, columns


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


class Rule:
    """A pointwise layer (activations, norms with fixed statistics, additions, channel concatenation): each output
    pixel needs the same pixel of every input. Subclasses change the geometry or need the whole input first."""

    scale = (Fraction(1), Fraction(1))  # output px per input px, rows and columns
    whole = False  # needs its input over the whole frame first (a stage boundary)
    reaches_everywhere = False  # each output pixel depends on every input pixel, statistics aside

    def __init__(self, call: Callable) -> None:
        self.call = call  # evaluates the node on its inputs: its module (never in place) or function

    def size(self, sizes: list[tuple[int, int]]) -> tuple[int, int]:
        return sizes[0]

    def needs(self, axis: int, start: int, stop: int) -> Range:
        return start, stop

    def channels(self, target: object, inputs: list[int]) -> int:
        return sum(inputs) if target is torch.cat else inputs[0]

    def run(self, args: tuple, kwargs: dict, have: list[Box], need: Box, want: Box) -> torch.Tensor:
        return self.call(*args, **kwargs)


def _padded(x: torch.Tensor, have: Box, need: Box, mode: str) -> torch.Tensor:
    """x (the part `have` of a value) widened to `need` by the layer's padding, where `need` passes the frame's edge."""
    (top, bottom), (left, right) = ((h[0] - n[0], n[1] - h[1]) for h, n in zip(have, need))
    if not (top or bottom or left or right):
        return x
    if mode == "zeros":
        return F.pad(x, (left, right, top, bottom))
    return F.pad(x, (left, right, top, bottom), mode=mode)


class Window(Rule):
    """A convolution (or a padding layer, a 1×1 window): output pixel o needs the input's window
    [o·stride − pad_before, o·stride − pad_before + dilation·(kernel − 1) + 1), padding beyond the frame's edge."""

    def __init__(self, module: nn.Module, kernel, stride, padding: tuple[tuple[int, int], tuple[int, int]], dilation, mode: str) -> None:
        super().__init__(module)
        if mode not in ("zeros", "reflect", "replicate"):
            raise ValueError(f"{type(module).__name__} pads with {mode!r}, which needs the frame's opposite edge")
        self.kernel, self.stride, self.dilation = _pair(kernel), _pair(stride), _pair(dilation)
        self.padding, self.mode = padding, mode
        self.scale = tuple(Fraction(1, s) for s in self.stride)

    def size(self, sizes: list[tuple[int, int]]) -> tuple[int, int]:
        return tuple(
            (n + before + after - d * (k - 1) - 1) // s + 1
            for n, (before, after), k, s, d in zip(sizes[0], self.padding, self.kernel, self.stride, self.dilation)
        )

    def needs(self, axis: int, start: int, stop: int) -> Range:
        s, before = self.stride[axis], self.padding[axis][0]
        return start * s - before, (stop - 1) * s - before + self.dilation[axis] * (self.kernel[axis] - 1) + 1

    def channels(self, target: object, inputs: list[int]) -> int:
        return getattr(self.call, "out_channels", inputs[0])

    def run(self, args: tuple, kwargs: dict, have: list[Box], need: Box, want: Box) -> torch.Tensor:
        x = _padded(args[0], have[0], need, self.mode)
        conv = self.call
        if not isinstance(conv, nn.Conv2d):
            return x
        return F.conv2d(x, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)

    @classmethod
    def conv(cls, conv: nn.Conv2d) -> Window:
        if isinstance(conv.padding, str):
            raise ValueError(f"Conv2d pads {conv.padding!r}")
        padding = tuple((p, p) for p in _pair(conv.padding))
        return cls(conv, conv.kernel_size, conv.stride, padding, conv.dilation, conv.padding_mode)

    @classmethod
    def pad(cls, pad: nn.Module) -> Window:
        left, right, top, bottom = pad.padding
        mode = {nn.ReflectionPad2d: "reflect", nn.ReplicationPad2d: "replicate", nn.ZeroPad2d: "zeros"}[type(pad)]
        if mode == "zeros" and pad.value != 0:
            raise ValueError(f"ZeroPad2d pads with {pad.value}")
        return cls(pad, 1, 1, ((top, bottom), (left, right)), 1, mode)


class Transposed(Rule):
    """A transposed convolution: input pixel i adds into outputs i·stride − padding + [0, dilation·(kernel − 1)]."""

    def __init__(self, conv: nn.ConvTranspose2d) -> None:
        super().__init__(conv)
        if isinstance(conv.padding, str) or conv.padding_mode != "zeros":
            raise ValueError("ConvTranspose2d pads other than with zeros")
        self.conv = conv
        self.scale = tuple(Fraction(s) for s in conv.stride)

    def size(self, sizes: list[tuple[int, int]]) -> tuple[int, int]:
        c = self.conv
        return tuple(
            (n - 1) * s - 2 * p + d * (k - 1) + extra + 1
            for n, s, p, d, k, extra in zip(sizes[0], c.stride, c.padding, c.dilation, c.kernel_size, c.output_padding)
        )

    def needs(self, axis: int, start: int, stop: int) -> Range:
        c = self.conv
        s, p, reach = c.stride[axis], c.padding[axis], c.dilation[axis] * (c.kernel_size[axis] - 1)
        return -((reach - start - p) // s), (stop - 1 + p) // s + 1

    def channels(self, target: object, inputs: list[int]) -> int:
        return self.conv.out_channels

    def run(self, args: tuple, kwargs: dict, have: list[Box], need: Box, want: Box) -> torch.Tensor:
        c, x = self.conv, args[0]
        if x.shape[2] and x.shape[3]:
            y = F.conv_transpose2d(x, c.weight, None, c.stride, 0, 0, c.groups, c.dilation)
        else:  # the wanted outputs lie in the output padding, past every input's reach
            y = x.new_zeros((x.shape[0], c.out_channels, 0, 0))
        # Output o of the whole frame is y's o − (have_start·stride − padding); where no input reaches, the bias alone.
        starts = [w[0] - (h[0] * s - p) for w, h, s, p in zip(want, have[0], c.stride, c.padding)]
        stops = [start + w[1] - w[0] for start, w in zip(starts, want)]
        y = F.pad(y, (max(0, -starts[1]), max(0, stops[1] - y.shape[3]), max(0, -starts[0]), max(0, stops[0] - y.shape[2])))
        top, left = max(0, starts[0]), max(0, starts[1])
        y = y[:, :, top : top + stops[0] - starts[0], left : left + stops[1] - starts[1]]
        return y if c.bias is None else y + c.bias[:, None, None]


class Nearest(Rule):
    """Nearest-neighbour upsampling by whole factors: output pixel o copies input pixel o // factor."""

    def __init__(self, upsample: nn.Upsample) -> None:
        super().__init__(upsample)
        factors = upsample.scale_factor
        factors = factors if isinstance(factors, tuple) else (factors, factors)
        if upsample.mode != "nearest" or None in factors or any(f != int(f) for f in factors):
            raise ValueError(f"Upsample {upsample.mode} to size {upsample.size} or by {factors} (tiles take nearest by whole factors)")
        self.factors = tuple(int(f) for f in factors)
        self.scale = tuple(Fraction(f) for f in self.factors)

    def size(self, sizes: list[tuple[int, int]]) -> tuple[int, int]:
        return tuple(n * f for n, f in zip(sizes[0], self.factors))

    def needs(self, axis: int, start: int, stop: int) -> Range:
        f = self.factors[axis]
        return start // f, (stop - 1) // f + 1

    def run(self, args: tuple, kwargs: dict, have: list[Box], need: Box, want: Box) -> torch.Tensor:
        y = self.call(args[0])
        (top, bottom), (left, right) = ((w[0] - h[0] * f, w[1] - h[0] * f) for w, h, f in zip(want, have[0], self.factors))
        return y[:, :, top:bottom, left:right]


class FrameStatistics(Rule):
    """Instance norm with its input's statistics: per frame and channel over the whole frame (measured by `prepare`
    on the stage's buffer of its input), then pointwise."""

    whole = True

    def __init__(self, norm: nn.InstanceNorm2d) -> None:
        super().__init__(norm)
        self.norm = norm
        self.mean = self.variance = torch.empty(0)
        self.affine: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None)

    def prepare(self, chunks: Iterator[torch.Tensor]) -> None:
        """Mean and variance (biased, as instance norm's) from chunks of the input: each chunk's in two passes
        (torch.var_mean's Welford took 7× as long on the CPU), combined as in Chan et al. 1979."""
        count, mean, squares = 0, 0.0, 0.0
        for chunk in chunks:
            chunk = chunk.float()
            n = chunk.shape[2] * chunk.shape[3]
            chunk_mean = chunk.mean(dim=(2, 3), keepdim=True)
            chunk_squares = torch.linalg.vector_norm(chunk - chunk_mean, dim=(2, 3)).double().square()
            chunk_mean = chunk_mean.flatten(1).double()
            total = count + n
            delta = chunk_mean - mean
            squares = squares + chunk_squares + delta.square() * count * n / total
            mean = mean + delta * n / total
            count = total
        frames = mean.shape[0]
        self.mean, self.variance = mean.flatten().float(), (squares / count).flatten().float()
        norm = self.norm
        self.affine = (norm.weight.repeat(frames), norm.bias.repeat(frames)) if norm.affine else (None, None)

    def run(self, args: tuple, kwargs: dict, have: list[Box], need: Box, want: Box) -> torch.Tensor:
        # As F.instance_norm does it: the N frames' C channels as N·C channels of one batch norm, here with the
        # frame's statistics as the running ones.
        x = args[0]
        n, c, h, w = x.shape
        mean, variance = self.mean.to(x.dtype), self.variance.to(x.dtype)
        y = F.batch_norm(x.reshape(1, n * c, h, w), mean, variance, *self.affine, False, 0.0, self.norm.eps)
        return y.view(n, c, h, w)


class Attention(Rule):
    """Self-attention: each position's query attends over the whole frame's keys and values (gathered by `prepare`
    from chunks of its input, in any order: attention does not depend on the keys' order)."""

    whole = True
    reaches_everywhere = True

    def __init__(self, attention: SelfAttention) -> None:
        super().__init__(attention)
        self.attention = attention
        self.keys = self.values = torch.empty(0)

    def prepare(self, chunks: Iterator[torch.Tensor]) -> None:
        keys, values = zip(*(self.attention.project(chunk)[1:] for chunk in chunks))
        self.keys, self.values = torch.cat(keys, dim=1), torch.cat(values, dim=1)

    def run(self, args: tuple, kwargs: dict, have: list[Box], need: Box, want: Box) -> torch.Tensor:
        query = self.attention.project(args[0])[0]
        return self.attention.mix(args[0], query, self.keys, self.values)


def _norm_rule(norm: nn.Module) -> Rule:
    if isinstance(norm, nn.InstanceNorm2d) and (norm.training or not norm.track_running_stats):
        return FrameStatistics(norm)
    if norm.training:
        raise ValueError(f"{type(norm).__name__} in training mode normalises over the batch")
    return Rule(norm)


def _pointwise(module: nn.Module) -> Rule:
    if getattr(module, "inplace", False):  # the tiles' values are views of each other: never write in place
        module = copy.copy(module)
        module.inplace = False
    return Rule(module)


# The layers tiles know, by module type; a generator made of others cannot be tiled (VidganError naming the layer).
LAYER_RULES: dict[type, Callable[[nn.Module], Rule]] = {
    nn.Conv2d: Window.conv,
    nn.ReflectionPad2d: Window.pad,
    nn.ReplicationPad2d: Window.pad,
    nn.ZeroPad2d: Window.pad,
    nn.ConvTranspose2d: Transposed,
    nn.Upsample: Nearest,
    nn.InstanceNorm2d: _norm_rule,
    nn.BatchNorm2d: _norm_rule,
    SelfAttention: Attention,
    **dict.fromkeys((nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Dropout, nn.Identity), _pointwise),
}
# Functions the traced graph may call, all pointwise (torch.cat along channels only).
POINTWISE_FUNCTIONS = (operator.add, operator.mul, torch.add, torch.mul, torch.cat, torch.tanh, torch.sigmoid, torch.relu)


# ---- the traced generator ----


class _Tracer(fx.Tracer):
    def is_leaf_module(self, module: nn.Module, name: str) -> bool:
        return type(module) in LAYER_RULES or super().is_leaf_module(module, name)


@dataclass
class Layer:
    """One node of the traced graph: its rule, its tensor inputs, and the stage it runs in."""

    node: fx.Node
    rule: Rule
    inputs: list[fx.Node]
    stage: int = 0


def _trace(generator: nn.Module) -> tuple[fx.Node, list[Layer], fx.Node]:
    """The graph's input node, its layers in running order and its output node; VidganError where it holds a
    layer tiles do not know."""
    name = type(generator).__name__
    try:
        graph = _Tracer().trace(generator)
    except Exception as error:  # fx raises several kinds for code it cannot follow
        raise VidganError(f"--tile cannot follow {name}'s forward pass: {error}") from None
    modules = dict(generator.named_modules())
    nodes = list(graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise VidganError(f"--tile needs a generator of one input, {name} takes {len(inputs)}")
    _no_aliasing(nodes, modules)
    layers: list[Layer] = []
    for node in nodes:
        if node.op in ("placeholder", "output"):
            continue
        try:
            rule = _rule(node, modules)
        except ValueError as why:
            raise VidganError(f"--tile cannot tile {name}: {node.target}: {why}") from None
        layers.append(Layer(node, rule, list(node.all_input_nodes)))
    return inputs[0], layers, next(n for n in nodes if n.op == "output")


def _rule(node: fx.Node, modules: dict[str, nn.Module]) -> Rule:
    if node.op == "call_module":
        module = modules[node.target]
        make = LAYER_RULES.get(type(module))
        if make is None:
            raise ValueError(f"a {type(module).__name__} layer, which tiles do not know")
        return make(module)
    if node.op == "call_function" and node.target in POINTWISE_FUNCTIONS:
        if node.target is torch.cat and node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0) not in (1, -3):
            raise ValueError("concatenation along another axis than the channels")
        return Rule(node.target)
    raise ValueError(f"a {node.op} the tiles do not know")


def _no_aliasing(nodes: list[fx.Node], modules: dict[str, nn.Module]) -> None:
    """Rewrite an in-place layer's later readers of its input to read its output instead: what the untiled pass
    sees (the reference U-Net's skips are its in-place LeakyReLU's output), with every layer then run out of place."""
    order = {node: i for i, node in enumerate(nodes)}
    for node in nodes:
        if node.op == "call_module" and getattr(modules[node.target], "inplace", False) and node.args:
            source = node.args[0]
            for user in list(source.users):
                if order[user] > order[node]:
                    user.replace_input_with(source, node)


# ---- the plan of one frame size: stages, buffers, tiles ----


@dataclass
class Step:
    """One layer's work in one tile: the part of its output wanted, the part of its window that needs (across the
    frame's edges) and the parts of its inputs there are, the share of it to keep (None: none)."""

    layer: Layer
    want: Box
    need: Box
    have: list[Box]
    keep: Box | None


@dataclass
class Plan:
    sizes: dict[fx.Node, tuple[int, int]]
    scales: dict[fx.Node, tuple[Fraction, Fraction]]
    stages: list[list[Layer]]
    kept: set[fx.Node]  # values later stages read (or the output): written to whole-frame buffers
    result: fx.Node  # the output
    tiles: list[int]  # each stage's tile side in input px
    steps: list[list[list[Step]]] = field(default_factory=list)  # per stage, per tile, the layers' work
    last_read: dict[fx.Node, int] = field(default_factory=dict)  # the last stage that reads each value


def _plan(input_node: fx.Node, layers: list[Layer], output: fx.Node, size: tuple[int, int], channels: int, tile: int, stride: int) -> Plan:
    sizes = {input_node: size}
    scales = {input_node: (Fraction(1), Fraction(1))}
    depth = {input_node: channels}
    stage = {input_node: 0}
    for layer in layers:
        node, rule = layer.node, layer.rule
        sizes[node] = rule.size([sizes[n] for n in layer.inputs])
        scales[node] = tuple(a * b for a, b in zip(scales[layer.inputs[0]], rule.scale))
        depth[node] = rule.channels(node.target, [depth[n] for n in layer.inputs])
        layer.stage = stage[node] = max(stage[n] for n in layer.inputs) + rule.whole
    result = output.args[0]
    kept = {result}
    for layer in layers:
        for n in layer.inputs:
            if stage[n] < layer.stage or n is input_node:
                kept.add(n)
    stages: list[list[Layer]] = [[] for _ in range(max(stage.values()) + 1)]
    for layer in layers:
        stages[layer.stage].append(layer)
    # Elements per input px each stage holds; the densest gets `tile`, the others tiles of the same memory.
    density = []
    for group in stages:
        held = {layer.node for layer in group} | {n for layer in group for n in layer.inputs}
        density.append(sum(depth[n] * float(scales[n][0] * scales[n][1]) for n in held) or 1.0)
    sides = [max(tile, int(tile * math.sqrt(max(density) / d)) // stride * stride) for d in density]
    plan = Plan(sizes, scales, stages, kept, result, sides)
    plan.steps = [_schedule(group, plan, side, size) for group, side in zip(stages, sides)]
    for layer in layers:
        for n in layer.inputs:
            plan.last_read[n] = max(plan.last_read.get(n, 0), layer.stage)
    return plan


def _schedule(stage: list[Layer], plan: Plan, tile: int, size: tuple[int, int]) -> list[list[Step]]:
    """Each tile's steps in one stage: its share of the stage's kept values, and backwards from those, the part of
    each value they need."""
    (height, width), nodes = size, {layer.node for layer in stage}
    kept = [layer.node for layer in stage if layer.node in plan.kept]
    schedule = []
    for top, bottom in zip(_cuts(height, tile), _cuts(height, tile)[1:]):
        for left, right in zip(_cuts(width, tile), _cuts(width, tile)[1:]):
            shares = {}
            for node in kept:
                (h, w), (sh, sw) = plan.sizes[node], plan.scales[node]
                box = ((_share(top, height, h, sh), _share(bottom, height, h, sh)),
                       (_share(left, width, w, sw), _share(right, width, w, sw)))
                if not _empty(box):
                    shares[node] = box
            wanted: dict[fx.Node, Box] = dict(shares)
            steps = []
            for layer in reversed(stage):
                want = wanted.get(layer.node)
                if want is None:
                    continue
                need = _needs(layer.rule, want)
                have = [_clip(need, plan.sizes[n]) for n in layer.inputs]
                for n, part in zip(layer.inputs, have):
                    if n in nodes:
                        wanted[n] = _hull(wanted.get(n), part)
                steps.append(Step(layer, want, need, have, shares.get(layer.node)))
            schedule.append(steps[::-1])
    return schedule


def _cuts(length: int, tile: int) -> list[int]:
    return [*range(0, length, tile), length]


def _share(cut: int, length_in: int, length: int, scale: Fraction) -> int:
    """Where a tile edge at input px `cut` falls in a value `length` px long at `scale` (the frame's end at its end)."""
    return length if cut >= length_in else min(length, math.floor(cut * scale))


def _clip(box: Box, size: tuple[int, int]) -> Box:
    return tuple((max(0, a), min(n, b)) for (a, b), n in zip(box, size))


def _hull(a: Box | None, b: Box) -> Box:
    return b if a is None else tuple((min(x[0], y[0]), max(x[1], y[1])) for x, y in zip(a, b))


def _empty(box: Box) -> bool:
    return any(a >= b for a, b in box)


def _needs(rule: Rule, want: Box) -> Box:
    return tuple(rule.needs(axis, *want[axis]) for axis in range(2))


def _crop(x: torch.Tensor, at: Box, box: Box) -> torch.Tensor:
    """The part `box` of a value of which x holds the part `at`."""
    (top, bottom), (left, right) = box
    return x[:, :, top - at[0][0] : bottom - at[0][0], left - at[1][0] : right - at[1][0]]


class TiledGenerator(nn.Module):
    """Wraps a fully convolutional generator: forward(x) runs x (N×C×h×w, sides as the generator takes them) stage
    by stage on tiles (see the module doc) and returns generator(x), equal to float rounding, in bounded memory.

    tile: tile side in px (a multiple of generator.stride) of the stages that hold the most per input pixel; stages
    that hold less (deeper, at lower resolution) use larger tiles in the same memory. VidganError where the
    generator holds a layer tiles do not know (LAYER_RULES).
    """

    def __init__(self, generator: nn.Module, tile: int) -> None:
        super().__init__()
        self.generator = generator
        self.tile = check_tile(tile, generator.stride)
        if tile == 0:
            raise UsageError("--tile 0 means no tiles: run the generator itself")
        self._graph = _trace(generator)
        self._plans: dict[tuple[int, ...], Plan] = {}

    @property
    def stride(self) -> int:
        return self.generator.stride

    @property
    def config(self) -> object:
        """The wrapped generator's config (GeneratorConfig, or ReferenceConfig for reference architectures)."""
        return self.generator.config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if max(x.shape[2:]) <= self.tile:  # one tile holds the frame: the generator itself, in the same memory
            return self.generator(x)
        input_node, layers, output = self._graph
        key = tuple(x.shape[1:])
        if key not in self._plans:
            self._plans[key] = _plan(input_node, layers, output, tuple(x.shape[2:]), x.shape[1], self.tile, self.stride)
        plan = self._plans[key]
        buffers: dict[fx.Node, torch.Tensor] = {input_node: x}
        for number, stage in enumerate(plan.stages):
            for layer in stage:
                if layer.rule.whole:
                    layer.rule.prepare(self._chunks(buffers[layer.inputs[0]], x.device, plan.tiles[number]))
            for steps in plan.steps[number]:
                self._run_tile(steps, plan, buffers, x.device)
            for n in [n for n in buffers if n not in (plan.result, input_node) and plan.last_read.get(n, 0) <= number]:
                del buffers[n]
        return buffers[plan.result]

    @staticmethod
    def _chunks(buffer: torch.Tensor, device: torch.device, tile: int) -> Iterator[torch.Tensor]:
        """The buffer in bands of rows of about tile² px each, on the device."""
        rows = max(1, tile * tile // max(1, buffer.shape[3]))
        for top in range(0, buffer.shape[2], rows):
            yield buffer[:, :, top : top + rows].to(device)

    @staticmethod
    def _run_tile(steps: list[Step], plan: Plan, buffers: dict[fx.Node, torch.Tensor], device: torch.device) -> None:
        """One tile of one stage: its layers' wanted parts, from the tile's own values and the buffers of earlier
        stages; the kept shares written to their buffers."""
        values: dict[fx.Node, tuple[torch.Tensor, Box]] = {}
        for step in steps:
            node = step.layer.node
            parts = {
                n: _crop(*values[n], part) if n in values else _crop(buffers[n], ((0, 0), (0, 0)), part).to(device)
                for n, part in zip(step.layer.inputs, step.have)
            }
            args, kwargs = fx.node.map_arg(node.args, parts.get), fx.node.map_arg(node.kwargs, parts.get)
            out = step.layer.rule.run(args, kwargs, step.have, step.need, step.want)
            values[node] = (out, step.want)
            if step.keep is not None:
                if node not in buffers:
                    h, w = plan.sizes[node]
                    # Whole-frame values wait in host memory; the output (3 channels) goes where the input is.
                    where = device if node is plan.result else torch.device("cpu")
                    buffers[node] = torch.empty((out.shape[0], out.shape[1], h, w), dtype=out.dtype, device=where)
                (a, b), (c, d) = step.keep
                buffers[node][:, :, a:b, c:d] = _crop(out, step.want, step.keep)


def receptive_field(generator: nn.Module) -> tuple[int, int] | None:
    """How far an output pixel sees into the input, (before, after) it in px along either axis, from the layers'
    kernels, strides, padding and upsampling through every skip; the most over output pixels of every phase of the
    stride. Instance norms' frame statistics aside (tiles measure those on the whole frame); None where a layer
    (self-attention) makes every output pixel depend on every input pixel. VidganError as for TiledGenerator."""
    input_node, layers, output = _trace(generator)
    if any(layer.rule.reaches_everywhere for layer in layers):
        return None
    result = output.args[0]
    before = after = 0
    centre = 1 << 20  # far from any edge: the reach does not depend on where the frame ends
    for o in range(centre, centre + generator.stride):
        wanted: dict[fx.Node, Range] = {result: (o, o + 1)}
        for layer in reversed(layers):
            want = wanted.get(layer.node)
            if want is None:
                continue
            need = layer.rule.needs(0, *want)
            for n in layer.inputs:
                seen = wanted.get(n)
                wanted[n] = need if seen is None else (min(seen[0], need[0]), max(seen[1], need[1]))
        start, stop = wanted[input_node]
        before, after = max(before, o - start), max(after, stop - 1 - o)
    return before, after
