"""Inference runtimes for trained generators (--runtime auto|torch|onnxruntime|openvino), and the ONNX graphs they run.

torch runs the generator module itself. onnxruntime and openvino run it exported to ONNX, on the CPU: both run
vidgan's default 128-px U-Net about twice as fast as torch eager there (bench/runtimes.py), with the same 8-bit
pixels to within 1.
The export is made once per checkpoint and cached in the run folder (`cached_onnx`); with `--precision int8`,
quantised by the runtime's quantiser (vidgan.render.quantise) and cached beside it.

The ONNX graphs come from torch.onnx.export's dynamo exporter (torch.export, then onnxscript's translations):
the TorchScript-based exporter is deprecated since torch 2.9, warns on every use, and will go.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidgan.core.directions import Direction
from vidgan.core.errors import UsageError, VidganError
from vidgan.core.fsutil import atomic_path
from vidgan.core.progress import warn
from vidgan.render.options import INT8_RUNTIMES, RUNTIMES, check_precision
from vidgan.render.quantise import QUANTISERS, Calibration, as_inputs, calibration_frames, calibration_record, quantise, with_metadata
from vidgan.runs.checkpoints import weights_digest
from vidgan.runs.folder import onnx_cache_dir, working_scale

# What `auto` takes on the CPU: the first of these installed, fastest first as bench/runtimes.py measures them
# (OpenVINO 2.15x torch eager, ONNX Runtime 1.94x on the default 128-px generator, on 2 shared Zen 3 cores).
# The default install brings ONNX Runtime only (pyproject.toml), so OpenVINO is taken where a user added it.
CPU_PREFERENCE = ("openvino", "onnxruntime")
# The package that brings each runtime (its import name and its distribution's are the same).
_PACKAGES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}
EXPORTER = "onnxscript"  # what torch.onnx.export(dynamo=True) translates with
# ONNX Runtime 1.14+, OpenVINO 2023+ and the compositing applications' bundled runtimes read opset 18; the dynamo
# exporter writes it natively (lower opsets go through a version converter that has no adapter for Pad).
OPSET = 18
# How the cached exports take shapes; part of their cache key, so a change here rebuilds them.
SHAPE_POLICY = "batch, height and width dynamic; height and width multiples of the generator's stride"
_KEY_PROP = "vidgan.cache_key"
# Below this many GFLOP per image at its training size a generator runs on one thread (model_threads): vidgan's
# default 128-px generator costs 6.8 and its default student 0.38.
SMALL_MODEL_GFLOP = 2.0


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def package_version(package: str) -> str:
    return importlib.metadata.version(package)


def installed_runtimes() -> list[str]:
    """The runtimes that can run here: torch, and each ONNX runtime whose package and the exporter are installed."""
    onnx_ready = installed(EXPORTER)
    return ["torch", *(name for name, package in _PACKAGES.items() if onnx_ready and installed(package))]


def resolve_runtime(name: str, device: torch.device, int8: bool = False) -> str:
    """The runtime to use: `name` checked, or for auto torch on CUDA and on the CPU the first of CPU_PREFERENCE
    installed (torch where none is); with `int8`, the first whose quantiser is installed too. Raises UsageError (one
    line) for an unknown name, a runtime that is not installed, an ONNX runtime with a CUDA device (they run on the
    CPU here), and for int8 with torch, with a CUDA device, or without the runtime's quantiser package."""
    if name not in RUNTIMES:
        raise UsageError(f"--runtime must be one of {', '.join(RUNTIMES)}, got {name!r}")
    if int8:
        check_precision("int8", name)
        if device.type != "cpu":
            raise UsageError(f"--precision int8 runs on the CPU; with --device {device.type} use --precision fp32 (and --half)")
    if name == "auto":
        if device.type != "cpu" or not installed(EXPORTER):
            return "torch"
        ready = [runtime for runtime in CPU_PREFERENCE if installed(_PACKAGES[runtime])]
        if int8:
            ready = [runtime for runtime in ready if installed(QUANTISERS[runtime].package)]
            if not ready:
                raise UsageError(f"--precision int8 needs {' or '.join(INT8_RUNTIMES)} installed, with the onnxscript exporter")
        return next(iter(ready), "torch")
    if name == "torch":
        return name
    if device.type != "cpu":
        raise UsageError(f"--runtime {name} runs on the CPU; with --device {device.type} use --runtime torch or auto")
    needed = (_PACKAGES[name], EXPORTER, *([QUANTISERS[name].package] if int8 else []))
    for package in needed:
        if not installed(package):
            what = f"--runtime {name}{' --precision int8' if int8 else ''}"
            raise UsageError(f"{what} needs the {package} package, which is not installed (pip install {package})")
    return name


def runtime_generator(
    generator: nn.Module,
    source: Path,
    direction: Direction | str,
    device: torch.device,
    runtime: str = "auto",
    int8: Calibration | None = None,
    cores: int | None = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """`generator` (from vidgan.runs.generators.load_generator(source, direction)) run by `runtime` on `device`, in
    float32, or with `int8` quantised to int8 calibrated on the run's training frames (vidgan.render.quantise); an
    ONNX runtime on model_threads(generator, cores) threads (`cores` default: torch's intra-op count).

    The result has the module's contract, N×3×h×w float32 in [-1, 1] → the same shape and range (h and w multiples
    of its `stride`), and its `config` and `stride`: torch returns the module itself, the others an
    `ExportedGenerator` over the cached ONNX export. Raises UsageError as resolve_runtime does.
    """
    chosen = resolve_runtime(runtime, device, int8 is not None)
    if chosen == "torch":
        return generator
    model = cached_onnx(generator, source, Direction.parse(direction), chosen, int8)
    return ExportedGenerator(open_onnx(model, chosen, model_threads(generator, cores or torch.get_num_threads())), chosen, generator)


def model_threads(generator: nn.Module, cores: int) -> int:
    """Threads for one call of `generator` exported: `cores` (torch's intra-op count: the machine's physical cores
    unless the user set it), or 1 for a generator of under SMALL_MODEL_GFLOP per image at its training size.

    A runtime shares each layer out over its threads and waits for the slowest; a small generator's layers are too
    short to pay for that, and in a render the other cores decode, composite and encode, so a thread held up there
    holds up the whole call (bench/distill.py measures both)."""
    if cores == 1:
        return 1
    return 1 if layer_gflop(generator, generator.config.size) < SMALL_MODEL_GFLOP else cores


def layer_gflop(generator: nn.Module, size: int) -> float:
    """GFLOP (2 per multiply-add) of the generator's convolutions and linear layers on one 3×size×size image: what
    sets its cost. Counted by hooks on one call at a small probe size (a multiple of its stride, at least 16 px) and
    scaled by the pixels, as each layer costs the same per position. That takes milliseconds, where torch's
    FlopCounterMode, or any call on the meta device, takes a second to set itself up in a fresh process."""
    macs = 0

    def count(layer: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(layer, nn.Linear):
            macs += output.numel() * layer.in_features
        elif isinstance(layer, nn.ConvTranspose2d):  # each input value is spread over a kernel of every output group
            macs += inputs[0].numel() * layer.out_channels // layer.groups * math.prod(layer.kernel_size)
        else:
            macs += output.numel() * layer.in_channels // layer.groups * math.prod(layer.kernel_size)

    layers = [m for m in generator.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    hooks = [layer.register_forward_hook(count) for layer in layers]
    probe = generator.stride * max(2, -(-16 // generator.stride))  # ≥ 16 px, for the first layers' reflect padding
    parameter = next(generator.parameters())
    try:
        with torch.no_grad():
            generator(torch.zeros(1, 3, probe, probe, dtype=parameter.dtype, device=parameter.device))
    finally:
        for hook in hooks:
            hook.remove()
    return 2 * macs * (size / probe) ** 2 / 1e9


class ExportedGenerator:
    """A generator exported to ONNX and run by an inference runtime on the CPU, called like the module:
    N×3×h×w float in [-1, 1] → the same, on the input's device."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], runtime: str, generator: nn.Module) -> None:
        self.run = run
        self.runtime = runtime
        self.config = generator.config
        self.stride = generator.stride

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(images.detach().to("cpu", torch.float32).numpy())
        return torch.from_numpy(self.run(array)).to(images.device)


def open_onnx(model: bytes, runtime: str, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """A function running the serialised ONNX `model` with `runtime` on `threads` CPU threads: one float32 array in,
    one out. OpenVINO gets float32 arithmetic, which it otherwise lowers to bfloat16 on CPUs with bfloat16 units."""
    if runtime == "onnxruntime":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda images: session.run(None, {name: images})[0]
    import openvino

    # Unpinned: pinned to a core of its own, its threads wait there while the render's decode, composite and encode
    # threads hold that core (the student's 720p render took about 2% less time unpinned: docs/distill.md).
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
              "ENABLE_CPU_PINNING": False}  # fmt: skip
    core = openvino.Core()
    compiled = core.compile_model(core.read_model(model), "CPU", config)
    return lambda images: compiled(images)[0]


def onnx_cache_path(source: Path, direction: Direction, runtime: str, precision: str = "fp32") -> Path:
    """Where the export of `source`'s `direction` generator for `runtime` is cached: beside the checkpoints,
    RUN/checkpoints/onnx/a2b.onnxruntime.onnx for a run folder (a2b.onnxruntime.int8.onnx quantised), FOLDER/onnx/…
    for a checkpoint file in FOLDER."""
    return onnx_cache_dir(source) / f"{direction.name}.{runtime}{'' if precision == 'fp32' else '.' + precision}.onnx"


def cache_key(generator: nn.Module, runtime: str) -> dict[str, str]:
    """What a cached export depends on: the generator's weights and architecture, the shape policy, and the versions
    of the exporter and of the runtime reading it. The weights are hashed, not the file they came from, so a run's
    latest.pt and the step file it links to (or a copy) share one export."""
    return {
        "weights": weights_digest(generator),
        "arch": json.dumps(generator.config.to_dict(), sort_keys=True),
        "shape_policy": SHAPE_POLICY,
        "opset": str(OPSET),
        "torch": torch.__version__,
        EXPORTER: package_version(EXPORTER),
        runtime: package_version(_PACKAGES[runtime]),
    }


def cached_onnx(generator: nn.Module, source: Path, direction: Direction, runtime: str, int8: Calibration | None = None) -> bytes:
    """`generator`'s ONNX export for `runtime`, serialised: the float32 export, or with `int8` that export quantised by
    the runtime's quantiser on `int8.frames` of the run's training frames at its working scale. Each is cached at
    onnx_cache_path under its key (cache_key; for int8 also the precision and the calibration: the frames' count,
    scale and pixel digest, the method and the quantiser's version), so a change of any of them rebuilds it."""
    frames = None
    if int8 is not None:  # first, so that a source without training frames is refused before any export
        scale = working_scale(Path(source), generator.config.size)
        frames = calibration_frames(Path(source), direction, scale, generator.stride, int8.frames)
    fp32 = _cached(
        onnx_cache_path(source, direction, runtime),
        cache_key(generator, runtime),
        lambda metadata: serialise(export_program(generator, _example(generator), stride_dims(generator.stride)), metadata),
    )
    if int8 is None or frames is None:
        return fp32
    key = {**cache_key(generator, runtime), "precision": "int8", "calibration": calibration_record(frames, runtime)}
    inputs = as_inputs(frames, -1.0)
    return _cached(
        onnx_cache_path(source, direction, runtime, "int8"),
        key,
        lambda metadata: with_metadata(quantise(fp32, runtime, inputs, int8.quiet), metadata),
    )


def _example(generator: nn.Module) -> torch.Tensor:
    return torch.zeros(2, 3, 4 * generator.stride, 4 * generator.stride)


def _cached(path: Path, key: dict[str, str], build: Callable[[dict[str, str]], bytes]) -> bytes:
    """The serialised ONNX model at `path` where it was cached under `key`, else build(metadata recording it), cached.

    The key is checked in the record beside the file (key_record_path), which also holds the SHA-256 of the bytes it
    was written for: a render reads the model once and checks that digest on what it read, so it never runs a model
    another process replaced in between, and it need not parse the model (importing onnx costs most of a second)."""
    text = json.dumps(key, sort_keys=True)
    with contextlib.suppress(OSError):
        model = path.read_bytes()
        if key_record_path(path).read_text() == _key_record(text, model):
            return model
    model = build({_KEY_PROP: text})
    write_cached(path, model, key)
    return model


def key_record_path(path: Path) -> Path:
    """The cache-key record of the export cached at `path`: a2b.openvino.onnx.key beside a2b.openvino.onnx."""
    return path.with_name(path.name + ".key")


def _key_record(text: str, model: bytes) -> str:
    return json.dumps({"key": text, "sha256": hashlib.sha256(model).hexdigest()}, sort_keys=True)


def write_cached(path: Path, model: bytes, key: dict[str, str]) -> None:
    """Cache the serialised `model` at `path` under `key`: the model first, then its key record, each atomically.
    Where the folder cannot be written (a read-only share), a warning: the model is then used uncached."""
    try:
        with atomic_path(path) as temp:
            temp.write_bytes(model)
        with atomic_path(key_record_path(path)) as temp:
            temp.write_text(_key_record(json.dumps(key, sort_keys=True), model))
    except VidganError as error:
        warn(f"{error}; the ONNX export is not cached")


def stored_metadata(model: bytes) -> dict[str, str]:
    """A serialised ONNX model's metadata_props ({} for bytes that are cut short or foreign)."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load_from_string(model)
    except DecodeError:
        return {}
    return {entry.key: entry.value for entry in proto.metadata_props}


def stride_dims(stride: int) -> dict[int, Any]:
    """torch.export dynamic dimensions for N×3×H×W inputs whose H and W are multiples of `stride`."""
    Dim = torch.export.Dim
    return {0: Dim("batch"), 2: stride * Dim("rows"), 3: stride * Dim("columns")}


def export_program(module: nn.Module, example: torch.Tensor, dims: dict[int, Any]) -> Any:
    """`module` (N×3×H×W float → same) as a torch.onnx.ONNXProgram of opset OPSET, traced on `example` with the dynamic
    dimensions `dims`; its input is named "image" and its output "translated". The exporter's progress notes and
    warnings are kept quiet; a failure is a VidganError that names --runtime torch as the way round it."""
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return torch.onnx.export(
                module.eval(),
                (example,),
                dynamo=True,
                verbose=False,
                opset_version=OPSET,
                input_names=["image"],
                output_names=["translated"],
                dynamic_shapes=(dims,),
                custom_translation_table={torch.ops.aten.scaled_dot_product_attention.default: _attention},
            )
    except Exception as error:  # torch.onnx's ConversionError and torch.export's errors share no base class
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise VidganError(f"cannot export the generator to ONNX ({first}); use --runtime torch") from None


def _attention(query: Any, key: Any, value: Any, attn_mask: Any = None, dropout_p: float = 0.0, is_causal: bool = False,
               scale: Any = None, enable_gqa: bool = False) -> Any:
    """softmax(Q Kᵀ / √d) V for the 3-D (N × positions × channels) tensors of models.cyclegan.SelfAttention, which the
    exporter's own translation of scaled_dot_product_attention refuses (it takes 4-D ones only). Masks, dropout and
    scale are not used there."""
    from onnxscript import opset18 as op

    scores = op.MatMul(query, op.Transpose(key, perm=[0, 2, 1]))
    scores = op.Div(scores, op.Sqrt(op.CastLike(op.Shape(query, start=-1), query)))
    return op.MatMul(op.Softmax(scores, axis=-1), value)


def serialise(program: Any, metadata: dict[str, str]) -> bytes:
    """An ONNXProgram as one self-contained ONNX file's bytes (weights inside), with `metadata` in its metadata_props."""
    program.model.metadata_props.update(metadata)
    return program.model_proto.SerializeToString()


class FloatRGBGenerator(nn.Module):
    """A generator as compositing applications' inference nodes call one: N×3×H×W float RGB in [0, 1], any H and W,
    → the same, in the input's dtype and on its device (it creates no tensor of its own). Inside: clamped to [0, 1]
    (the range it was trained on), mapped to [-1, 1], padded to the next multiples of the stride, translated, cropped
    back and mapped to [0, 1]. `padding` is F.pad's mode: "replicate" repeats the edge pixels (any H and W);
    "reflect" mirrors them as `render --fit native` does (cv2's BORDER_REFLECT_101), for H and W of at least the
    stride."""

    def __init__(self, generator: nn.Module, stride: int, padding: str = "replicate") -> None:
        super().__init__()
        self.generator = generator
        self.stride = stride
        self.padding = padding

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[2], image.shape[3]
        pad_rows = (self.stride - height % self.stride) % self.stride
        pad_columns = (self.stride - width % self.stride) % self.stride
        padded = F.pad(image.clamp(0, 1) * 2 - 1, (0, pad_columns, 0, pad_rows), mode=self.padding)
        translated = self.generator(padded)[:, :, :height, :width]
        return (translated + 1) / 2
