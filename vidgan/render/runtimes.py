"""Inference runtimes for trained generators (--runtime auto|torch|onnxruntime|openvino), and the ONNX graphs they run.

torch runs the generator module itself. onnxruntime and openvino run it exported to ONNX, on the CPU: both run
vidgan's default 128-px U-Net about twice as fast as torch eager there (bench/runtimes.py), with the same 8-bit
pixels to within 1.
The export is made once per checkpoint and cached in the run folder (`cached_onnx`).

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
from vidgan.render.options import RUNTIMES
from vidgan.runs.folder import onnx_cache_dir

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


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def package_version(package: str) -> str:
    return importlib.metadata.version(package)


def installed_runtimes() -> list[str]:
    """The runtimes that can run here: torch, and each ONNX runtime whose package and the exporter are installed."""
    onnx_ready = installed(EXPORTER)
    return ["torch", *(name for name, package in _PACKAGES.items() if onnx_ready and installed(package))]


def resolve_runtime(name: str, device: torch.device) -> str:
    """The runtime to use: `name` checked, or for auto torch on CUDA and on the CPU the first of CPU_PREFERENCE
    installed (torch where none is). Raises UsageError (one line) for an unknown name, a runtime that is not
    installed, or an ONNX runtime with a CUDA device (they run on the CPU here)."""
    if name not in RUNTIMES:
        raise UsageError(f"--runtime must be one of {', '.join(RUNTIMES)}, got {name!r}")
    if name == "auto":
        if device.type != "cpu" or not installed(EXPORTER):
            return "torch"
        return next((runtime for runtime in CPU_PREFERENCE if installed(_PACKAGES[runtime])), "torch")
    if name == "torch":
        return name
    if device.type != "cpu":
        raise UsageError(f"--runtime {name} runs on the CPU; with --device {device.type} use --runtime torch or auto")
    for package in (_PACKAGES[name], EXPORTER):
        if not installed(package):
            raise UsageError(f"--runtime {name} needs the {package} package, which is not installed (pip install {package})")
    return name


def runtime_generator(
    generator: nn.Module, source: Path, direction: Direction | str, device: torch.device, runtime: str = "auto"
) -> Callable[[torch.Tensor], torch.Tensor]:
    """`generator` (from vidgan.runs.generators.load_generator(source, direction)) run by `runtime` on `device`.

    The result has the module's contract, N×3×h×w float32 in [-1, 1] → the same shape and range (h and w multiples
    of its `stride`), and its `config` and `stride`: torch returns the module itself, the others an
    `ExportedGenerator` over the cached ONNX export. Raises UsageError as resolve_runtime does.
    """
    chosen = resolve_runtime(runtime, device)
    if chosen == "torch":
        return generator
    model = cached_onnx(generator, source, Direction.parse(direction), chosen)
    return ExportedGenerator(_open_onnx(model, chosen), chosen, generator)


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


def _open_onnx(model: bytes, runtime: str) -> Callable[[np.ndarray], np.ndarray]:
    """A function running the serialised ONNX `model` with `runtime` on the CPU: one float32 array in, one out.

    Both runtimes get torch's intra-op thread count (the machine's physical cores unless the user set it), and
    OpenVINO float32 arithmetic, which it otherwise lowers to bfloat16 on CPUs with bfloat16 units."""
    threads = torch.get_num_threads()
    if runtime == "onnxruntime":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda images: session.run(None, {name: images})[0]
    import openvino

    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    core = openvino.Core()
    compiled = core.compile_model(core.read_model(model), "CPU", config)
    return lambda images: compiled(images)[0]


def onnx_cache_path(source: Path, direction: Direction, runtime: str) -> Path:
    """Where the export of `source`'s `direction` generator for `runtime` is cached: beside the checkpoints,
    RUN/checkpoints/onnx/a2b.onnxruntime.onnx for a run folder, FOLDER/onnx/… for a checkpoint file in FOLDER."""
    return onnx_cache_dir(source) / f"{direction.name}.{runtime}.onnx"


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


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of a module's state dict: every entry's name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cached_onnx(generator: nn.Module, source: Path, direction: Direction, runtime: str) -> bytes:
    """`generator`'s ONNX export for `runtime`, serialised: read from onnx_cache_path where the file there records the
    current cache_key, else exported and written there. The file is read once and its key checked in what was read,
    so a render never runs an export that another process replaced in between. Where the run folder cannot be
    written (a read-only share), the export is used uncached, with a warning."""
    path = onnx_cache_path(source, direction, runtime)
    key = json.dumps(cache_key(generator, runtime), sort_keys=True)
    with contextlib.suppress(OSError):
        model = path.read_bytes()
        if stored_metadata(model).get(_KEY_PROP) == key:
            return model
    example = torch.zeros(2, 3, 4 * generator.stride, 4 * generator.stride)
    model = serialise(export_program(generator, example, stride_dims(generator.stride)), {_KEY_PROP: key})
    try:
        with atomic_path(path) as temp:
            temp.write_bytes(model)
    except VidganError as error:
        warn(f"{error}; the ONNX export is not cached")
    return model


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
    → the same. Inside: clamped to [0, 1] (the range it was trained on), mapped to [-1, 1], edge pixels repeated to
    the next multiples of the stride, translated, cropped back and mapped to [0, 1]."""

    def __init__(self, generator: nn.Module, stride: int) -> None:
        super().__init__()
        self.generator = generator
        self.stride = stride

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[2], image.shape[3]
        pad_rows = (self.stride - height % self.stride) % self.stride
        pad_columns = (self.stride - width % self.stride) % self.stride
        padded = F.pad(image.clamp(0, 1) * 2 - 1, (0, pad_columns, 0, pad_rows), mode="replicate")
        translated = self.generator(padded)[:, :, :height, :width]
        return (translated + 1) / 2
