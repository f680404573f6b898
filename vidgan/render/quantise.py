"""int8 post-training quantisation of exported generators (`--precision int8`), calibrated on a run's training frames.

Each ONNX runtime has its quantiser (QUANTISERS); both write QDQ ONNX, the float graph with QuantizeLinear /
DequantizeLinear pairs around the operations that run in int8, which the runtime fuses into integer kernels:

- onnxruntime: ONNX Runtime's `quantize_static` (QDQ format, convolutions and matrix products only, int8 weights
  per output channel, uint8 activations, min-max ranges), the form its CPU provider fuses into QLinearConv.
- openvino: NNCF's `nncf.quantize` on the ONNX model (its default preset: symmetric int8, with fast bias
  correction), which places the pairs where OpenVINO's CPU plugin turns them into FakeQuantize and int8 kernels.

The calibration frames are the run's training frames of the direction's source domain (its split's training share,
or the whole data folder of a run that records no split), `count` of them evenly spaced through the list, each
scaled as `render --fit short-side` feeds the generator at the run's working scale.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidgan.core.directions import Direction
from vidgan.core.errors import UsageError, VidganError
from vidgan.core.progress import make_progress
from vidgan.io.images import list_images, readable_rgb, resize_image
from vidgan.render.framing import working_size
from vidgan.render.options import DEFAULT_CALIBRATION_FRAMES, RenderOptions, TranslateOptions

# Where an int8 quantisation's per-frame calibration pass reports its progress: one call per frame fed.
Tick = Callable[[], None]


@dataclass(frozen=True)
class Quantiser:
    """An int8 quantiser for one runtime: the package it needs, how it quantises (recorded in the cache key and the
    export's metadata), and `quantise(model, inputs, tick)`: serialised float ONNX and its calibration inputs (each
    1×3×H×W float32, as the model takes them) → serialised QDQ ONNX."""

    package: str
    method: str
    quantise: Callable[[bytes, list[np.ndarray], Tick], bytes]


@dataclass(frozen=True)
class Calibration:
    """How `--precision int8` calibrates: on `frames` of the run's training frames; `quiet` hides the progress bar."""

    frames: int = DEFAULT_CALIBRATION_FRAMES
    quiet: bool = False

    @classmethod
    def asked(cls, options: RenderOptions | TranslateOptions) -> Calibration | None:
        """What render's or translate's options ask for: None for --precision fp32."""
        return cls(options.calibration_frames, options.quiet) if options.precision == "int8" else None


@dataclass(frozen=True)
class CalibrationFrames:
    """The frames a quantisation is calibrated on (H×W×3 uint8 at the working scale) and what identifies them:
    `record` holds the count, the working scale and a SHA-256 of their pixels."""

    images: list[np.ndarray]
    record: dict[str, object]


def _model_input(model: bytes) -> str:
    import onnx

    return onnx.load_from_string(model).graph.input[0].name


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Keep the quantisers' own log lines and progress bars (on stdout and the root logger) out of vidgan's output."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(previous)


# What ONNX Runtime's quantiser turns into int8: the operations that do the arithmetic. Left to its defaults it
# also quantises the shape arithmetic of the export's edge padding (a Concat of pads), which breaks that graph.
_ONNXRUNTIME_INT8_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")


def _onnxruntime_qdq(model: bytes, inputs: list[np.ndarray], tick: Tick) -> bytes:
    """ONNX Runtime's quantize_static. Its min-max calibrator keeps every intermediate tensor of every frame until the
    end (about 80 MB a frame for the default 128-px generator at 224×128), hence a few dozen frames, not hundreds."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    name = _model_input(model)

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            image = next(self.left, None)
            if image is None:
                return None
            tick()
            return {name: image}

    with tempfile.TemporaryDirectory(prefix="vidgan-int8-") as folder, _quiet_libraries():
        out = Path(folder) / "int8.onnx"
        quantize_static(
            onnx.load_from_string(model),
            out,
            Frames(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(_ONNXRUNTIME_INT8_OPS),
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        return out.read_bytes()


def _nncf_qdq(model: bytes, inputs: list[np.ndarray], tick: Tick) -> bytes:
    """NNCF's post-training quantisation (its ONNX backend), over all the calibration frames."""
    import nncf
    import onnx

    name = _model_input(model)

    def feed(image: np.ndarray) -> dict[str, np.ndarray]:
        tick()
        return {name: image}

    with _quiet_libraries():
        nncf.set_log_level(logging.ERROR)
        quantised = nncf.quantize(onnx.load_from_string(model), nncf.Dataset(inputs, feed), subset_size=len(inputs))
    return quantised.SerializeToString()


QUANTISERS = {
    "onnxruntime": Quantiser(
        "onnxruntime",
        "onnxruntime quantize_static: QDQ, Conv/MatMul, int8 weights per channel, uint8 activations, min-max",
        _onnxruntime_qdq,
    ),
    "openvino": Quantiser("nncf", "nncf.quantize (ONNX backend, default preset, fast bias correction)", _nncf_qdq),
}


def quantise(model: bytes, runtime: str, inputs: list[np.ndarray], quiet: bool = False) -> bytes:
    """`model` (serialised float ONNX) quantised to int8 by `runtime`'s quantiser on `inputs`, with a progress bar
    counting the frames fed through the calibration passes."""
    with make_progress(quiet=quiet) as progress:
        bar = progress.add_task(f"int8 calibration ({runtime})", total=len(inputs), info="")
        return QUANTISERS[runtime].quantise(model, inputs, lambda: progress.advance(bar))


def with_metadata(model: bytes, metadata: dict[str, str]) -> bytes:
    """A serialised ONNX model with `metadata` set in its metadata_props (replacing entries of the same keys)."""
    import onnx

    proto = onnx.load_from_string(model)
    kept = [(entry.key, entry.value) for entry in proto.metadata_props if entry.key not in metadata]
    del proto.metadata_props[:]
    for key, value in [*kept, *metadata.items()]:
        proto.metadata_props.add(key=key, value=value)
    return proto.SerializeToString()


def training_files(source: Path, direction: Direction) -> list[Path]:
    """The training images of `direction`'s source domain of the run `source` belongs to: its split's training share,
    else every image of the data folder its config names. UsageError for a checkpoint outside a run folder."""
    from vidgan.runs.folder import run_of
    from vidgan.runs.splits import load_split

    run = run_of(source)
    if run is None:
        raise UsageError(f"--precision int8 calibrates on a run's training frames; {source} is not in a run folder: give --run RUN")
    split = load_split(run.split_path)
    if split is not None and direction.source in split:
        return split[direction.source].train_paths()
    return list_images(Path(run.read_config()[f"{direction.source}_dir"]))


def calibration_frames(source: Path, direction: Direction, scale: int, stride: int, count: int) -> CalibrationFrames:
    """`count` of the run's training frames of `direction`'s source domain (all of them where it has fewer), evenly
    spaced through the list, each scaled to its short side at `scale` px with sides rounded to multiples of `stride`
    (what `render --fit short-side` gives the generator). Unreadable files are skipped with a warning; VidganError
    when none can be read."""
    files = training_files(source, direction)
    chosen = [files[i * len(files) // count] for i in range(min(count, len(files)))]
    images, digest = [], hashlib.sha256()
    for rgb in readable_rgb(chosen, "int8 calibration: skipping"):
        image = np.ascontiguousarray(resize_image(rgb, working_size(rgb.shape[1], rgb.shape[0], scale, stride)))
        digest.update(f"{image.shape}".encode())
        digest.update(image.tobytes())
        images.append(image)
    if not images:
        raise VidganError(f"{source}: none of the run's training frames could be read for the int8 calibration")
    return CalibrationFrames(images, {"count": len(images), "scale": scale, "frames": digest.hexdigest()})


def as_inputs(frames: CalibrationFrames, low: float) -> list[np.ndarray]:
    """The frames as 1×3×H×W float32 model inputs with 0 → `low` and 255 → 1 (-1 for the generator, 0 for export)."""
    return [(image.transpose(2, 0, 1)[None].astype(np.float32) * np.float32((1 - low) / 255) + np.float32(low)) for image in frames.images]


def calibration_record(frames: CalibrationFrames, runtime: str) -> str:
    """What identifies an int8 model besides its float graph, as JSON: the frames and the quantiser (method, version)."""
    import importlib.metadata

    quantiser = QUANTISERS[runtime]
    package = {quantiser.package: importlib.metadata.version(quantiser.package)}
    return json.dumps({**frames.record, "method": quantiser.method, **package}, sort_keys=True)
