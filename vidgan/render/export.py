"""`vidgan export`: one direction's generator as a self-contained file for compositing applications' inference nodes.

    --format onnx (.onnx):        any ONNX Runtime or OpenVINO host
    --format torchscript (.pt):   any torch host
    --format nuke (.pt):          TorchScript by Foundry's CatFileCreator rules, with NAME.catfilecreator.json beside it
                                  (the CatFileCreator knobs that make the .cat for Nuke's Inference node)
    --format flame (.onnx):       the ONNX model with NAME.json beside it, the sidecar Autodesk Flame's Inference node
                                  reads (docs/compositing.md says how to load each)

The file takes and returns N×3×H×W float RGB in [0, 1] (the convention of those nodes), any batch, height and
width: inside the graph the input is clamped to [0, 1], mapped to the generator's [-1, 1], its edge pixels repeated
to the next multiples of the generator's stride, translated, cropped back and mapped to [0, 1]. It was trained on
8-bit sRGB frames, so feed it sRGB-encoded values (convert a linear plate first), scaled so that the image's short
side is the working scale recorded in the metadata (the run's training size unless the run records `working_scale`).

The nuke format pads by reflection (as `render --fit native` does) rather than by repeating the edge, so that it
gives the frames `render --fit native` does; it takes H and W of at least the stride. It scales nothing: the
artist reformats the plate to the working scale before the Inference node and back after it, which is what
`render --detail model` does; a resize inside `forward` would resize each of the tiles Nuke's Inference node
may cut a large frame into on its own, at the wrong scale.

Metadata (ONNX: metadata_props; TorchScript: the extra file vidgan.json and the module's `metadata` attribute;
the sidecars repeat it):
vidgan_version, direction, working_scale, stride, value_range, layout, precision (fp32 or int8), padding (F.pad's
mode: replicate, or reflect for nuke), and for int8
calibration (JSON: frames count, scale and pixel digest, method, quantiser version).

`--precision int8` (ONNX only) writes the graph quantised by ONNX Runtime's quantiser (vidgan.render.quantise):
QuantizeLinear/DequantizeLinear pairs around int8 convolutions, calibrated on the run's training frames.

This module imports no torch at load time, so `import vidgan.cli` stays light; the export itself loads it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import vidgan
from vidgan.core.directions import DIRECTION_NAMES, Direction
from vidgan.core.errors import UsageError
from vidgan.core.fsutil import atomic_path
from vidgan.core.options import AT_LEAST_1, check_fields, option
from vidgan.models.reference_archs import REFERENCE_ARCHS
from vidgan.render.options import CALIBRATION_HELP, DEFAULT_CALIBRATION_FRAMES, PRECISIONS

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from vidgan.render.quantise import CalibrationFrames

# Whose int8 quantiser writes `--precision int8` exports: ONNX Runtime's QDQ graphs need no package beyond the
# default install and are read by ONNX Runtime and OpenVINO alike.
EXPORT_QUANTISER = "onnxruntime"


@dataclass(frozen=True)
class Int8Inputs:
    """The frames an int8 export is calibrated on, and the same as its graph's inputs."""

    frames: CalibrationFrames
    inputs: list[np.ndarray]


@dataclass(frozen=True)
class ExportFormat:
    """One `--format`: the suffix its --out takes, the settings file it writes beside --out (`sidecar_suffix`
    replaces the suffix; "" for none), whether it takes --precision int8, and `write(generator, metadata, out,
    int8)`, which writes --out and the settings file."""

    suffix: str
    write: Callable[[nn.Module, dict[str, str], Path, Int8Inputs | None], None]
    int8: bool = False
    sidecar_suffix: str = ""

    def sidecar(self, out: Path) -> Path | None:
        return out.with_suffix(self.sidecar_suffix) if self.sidecar_suffix else None


@dataclass(frozen=True)
class ExportResult:
    out: Path
    metadata: dict[str, str]
    sidecar: Path | None = None  # the settings file written beside `out`, for the formats that write one


def export_generator(options: ExportOptions) -> ExportResult:
    """Write `options.run`'s generator for `options.direction` to `options.out` in `options.format` (see the module
    docstring for what the file takes, returns and records). Raises UsageError for bad options and VidganError for a
    run that cannot be loaded or a generator that cannot be exported."""
    from vidgan.runs.folder import working_scale
    from vidgan.runs.generators import load_generator

    options.validate()
    direction = Direction.parse(options.direction)
    generator = load_generator(options.run, direction, "cpu", arch=options.arch)
    size = generator.config.size  # a reference state dict records no working scale
    scale = size if options.arch else working_scale(Path(options.run), size)
    metadata = {
        "vidgan_version": vidgan.__version__,
        "direction": direction.name,
        "working_scale": str(scale),
        "stride": str(generator.stride),
        "value_range": "float RGB in [0, 1] (sRGB-encoded), in and out",
        "layout": "N x 3 x H x W, any H and W",
        "precision": options.precision,
    }
    kind = EXPORT_FORMATS[options.format]
    kind.write(generator, metadata, Path(options.out), _int8_inputs(options, direction, scale, generator))
    return ExportResult(Path(options.out), metadata, kind.sidecar(Path(options.out)))


def _int8_inputs(options: ExportOptions, direction: Direction, scale: int, generator: nn.Module) -> Int8Inputs | None:
    """For --precision int8: the run's calibration frames as the exported graph takes them (float RGB in [0, 1])."""
    if options.precision != "int8":
        return None
    from vidgan.render.quantise import as_inputs, calibration_frames

    frames = calibration_frames(Path(options.run), direction, scale, generator.stride, options.calibration_frames)
    return Int8Inputs(frames, as_inputs(frames, 0.0))


def save_onnx(generator: nn.Module, metadata: dict[str, str], out: Path, int8: Int8Inputs | None = None) -> None:
    """FloatRGBGenerator as ONNX (dynamic batch, height and width), written atomically to `out` with `metadata` in its
    metadata_props; with `int8`, quantised by ONNX Runtime's quantiser (QDQ, which ONNX Runtime, OpenVINO and other
    hosts read) on its inputs, and the calibration recorded in the metadata as `calibration`; `padding` is added to
    the metadata."""
    import torch

    from vidgan.render.quantise import calibration_record, quantise, with_metadata
    from vidgan.render.runtimes import FloatRGBGenerator, export_program, serialise

    # A size that is not a multiple of the stride, so the traced padding stays general.
    example = torch.zeros(2, 3, 4 * generator.stride + 1, 4 * generator.stride + 3)
    Dim = torch.export.Dim
    dims = {0: Dim("batch"), 2: Dim("height"), 3: Dim("width")}
    if int8 is not None:
        metadata["calibration"] = calibration_record(int8.frames, EXPORT_QUANTISER)
    wrapper = FloatRGBGenerator(generator, generator.stride)
    metadata["padding"] = wrapper.padding
    model = serialise(export_program(wrapper, example, dims), metadata)
    if int8 is not None:
        model = with_metadata(quantise(model, EXPORT_QUANTISER, int8.inputs), metadata)
    with atomic_path(out) as temp:
        temp.write_bytes(model)


def save_torchscript(generator: nn.Module, metadata: dict[str, str], out: Path, int8: None = None, padding: str = "replicate") -> None:
    """FloatRGBGenerator (padding by `padding`) as TorchScript, written atomically to `out`: the generator traced (its
    operations do not depend on the image size) inside the scripted wrapper, whose padding does; `metadata` as the
    module's attribute and the extra file vidgan.json, with `padding` added to it. torch.jit warns that it is deprecated; Nuke reads nothing
    else. `int8` is always None (validate refuses int8 here)."""
    import warnings

    import torch

    from vidgan.render.runtimes import FloatRGBGenerator

    with warnings.catch_warnings(), atomic_path(out) as temp:
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(generator, torch.zeros(1, 3, 4 * generator.stride, 4 * generator.stride))
        wrapper = FloatRGBGenerator(traced, generator.stride, padding)
        metadata["padding"] = padding
        wrapper.metadata = dict(metadata)
        torch.jit.save(torch.jit.script(wrapper), str(temp), _extra_files={"vidgan.json": json.dumps(metadata, indent=2)})


# Nuke's RGB layer, as CatFileCreator's channelsIn and channelsOut knobs name it.
NUKE_RGB = "rgba.red, rgba.green, rgba.blue"
NUKE_SETTINGS = ".catfilecreator.json"
FLAME_SIDECAR = ".json"  # Flame reads NAME.json beside NAME.onnx
# The Flame release whose Inference node reads the sidecar's Channels tokens (2025.2; 2025.1 brought the node).
FLAME_MINIMUM_VERSION = "2025.2"


def save_nuke(generator: nn.Module, metadata: dict[str, str], out: Path, int8: None = None) -> None:
    """`out` as TorchScript by Foundry's CatFileCreator rules (.cat File Creation Reference: one 1×3×H×W float RGB
    tensor in and out, normalisation inside forward, no tensor created off the input's device or dtype, so Nuke's
    "Optimise for Speed and Memory" can run it in half precision), reflection-padded as `render --fit native` pads;
    and beside it NAME.catfilecreator.json, the CatFileCreator knobs that make the .cat from it."""
    save_torchscript(generator, metadata, out, padding="reflect")
    _write_json(out.with_suffix(NUKE_SETTINGS), catfilecreator_settings(out, metadata))


def catfilecreator_settings(out: Path, metadata: dict[str, str]) -> dict[str, object]:
    """The knob values of a CatFileCreator node for the TorchScript file `out` (under "knobs", by knob name), the
    export's metadata, and what the Inference node must be fed (under "working_scale_note")."""
    scale = metadata["working_scale"]
    return {
        "knobs": {
            "torchScriptFile": str(out.resolve()),
            "catFile": str(out.resolve().with_suffix(".cat")),
            "channelsIn": NUKE_RGB,
            "channelsOut": NUKE_RGB,
            "modelId": re.sub(r"[^A-Za-z0-9_]", "_", f"vidgan_{out.stem}"),
            "outputScale": 1,
        },
        "working_scale_note": (
            f"Reformat the plate so that its short side is {scale} px before the Inference node and back to the "
            "plate's format after it; feed it sRGB-encoded RGB in 0..1 (convert a linear plate first)."
        ),
        "vidgan": metadata,
    }


def save_flame(generator: nn.Module, metadata: dict[str, str], out: Path, int8: Int8Inputs | None = None) -> None:
    """`out` as ONNX (save_onnx) and beside it NAME.json, the sidecar Autodesk Flame's Inference node reads for it."""
    save_onnx(generator, metadata, out, int8)
    _write_json(out.with_suffix(FLAME_SIDECAR), flame_sidecar(out, metadata))


def flame_sidecar(out: Path, metadata: dict[str, str]) -> dict[str, object]:
    """Flame's Inference node sidecar for the ONNX file `out` (Autodesk Flame Help, "Inference Builder"; Channels from
    2025.2): one Front input and one Result output of RGB named as the graph's input ("image") and output
    ("translated"), no gain, scale 1, not scene-linear (the model was trained on sRGB-encoded frames), aspect ratio
    kept as it comes (the graph takes any H and W) and Padding 1 (the graph pads to its stride itself). The
    working scale and direction go into the Description Flame shows (the ONNX file's metadata_props hold all of
    the metadata); the sidecar holds only the tokens Autodesk documents."""
    scale, direction = metadata["working_scale"], metadata["direction"]
    return {
        "ModelDescription": {
            "MinimumVersion": FLAME_MINIMUM_VERSION,
            "Name": out.stem,
            "Description": (
                f"vidgan {metadata['vidgan_version']} {direction} translation, {metadata['precision']}; working scale "
                f"{scale} px: resize the clip so that its short side is {scale} px before this node and back after it"
            ),
            "SupportsSceneLinear": False,
            "KeepAspectRatio": False,
            "Padding": 1,
            "Inputs": [
                {"Name": "image", "Description": "sRGB-encoded RGB in 0..1", "Type": "Front", "Gain": 1.0, "Channels": "RGB"}
            ],
            "Outputs": [
                {
                    "Name": "translated",
                    "Description": f"the {direction} translation, sRGB-encoded RGB in 0..1",
                    "Type": "Result",
                    "InverseGain": 1.0,
                    "ScalingFactor": 1.0,
                    "Channels": "RGB",
                }
            ],
        },
    }


def _write_json(path: Path, record: dict[str, object]) -> None:
    with atomic_path(path) as temp:
        temp.write_text(json.dumps(record, indent=2) + "\n")


# --format's table: adding a format is a writer above and a row here.
EXPORT_FORMATS: dict[str, ExportFormat] = {
    "onnx": ExportFormat(".onnx", save_onnx, int8=True),
    "torchscript": ExportFormat(".pt", save_torchscript),
    "nuke": ExportFormat(".pt", save_nuke, sidecar_suffix=NUKE_SETTINGS),
    "flame": ExportFormat(".onnx", save_flame, int8=True, sidecar_suffix=FLAME_SIDECAR),
}


@dataclass(frozen=True)
class ExportOptions:
    """What `vidgan export` writes: `run` (a run folder of a kind that translates, or one of its checkpoint files;
    with `arch`, one of REFERENCE_ARCHS, a reference CycleGAN state dict file) → `out`."""

    run: Path = option(help="A cyclegan run folder (or one of its checkpoint files).")
    out: Path = option(help="File to write: .onnx for --format onnx and flame, .pt for torchscript and nuke.")
    format: str = option(
        help="onnx (ONNX Runtime, OpenVINO), torchscript, nuke (TorchScript for Nuke's CatFileCreator, its knobs in "
        "NAME.catfilecreator.json beside --out) or flame (ONNX with NAME.json, the sidecar of Flame's Inference node).",
        choices=tuple(EXPORT_FORMATS),
    )
    direction: str = option("a2b", "a2b or b2a.", choices=DIRECTION_NAMES)
    overwrite: bool = option(False, "Replace an existing --out (and its settings file).", flags=("--overwrite",))
    arch: str | None = option(
        None, "Architecture of a reference CycleGAN --run file (latest_net_G_A.pth).", choices=REFERENCE_ARCHS
    )
    # int8: ONNX with QuantizeLinear/DequantizeLinear (QDQ)
    precision: str = option(
        "fp32",
        "fp32, or int8 (onnx and flame): quantised by ONNX Runtime's quantiser, calibrated on the run's training frames.",
        choices=PRECISIONS,
    )
    calibration_frames: int = option(DEFAULT_CALIBRATION_FRAMES, CALIBRATION_HELP, bounds=AT_LEAST_1)

    def validate(self) -> None:
        """Raise UsageError (one line, exit 2) for an unknown direction, format or precision, int8 for a format that
        writes no ONNX, a calibration count below 1, an --out whose suffix is not the format's, or an --out (or the
        settings file its format writes beside it) that exists without --overwrite (or is a folder)."""
        Direction.parse(self.direction)
        if self.arch is not None and self.arch not in REFERENCE_ARCHS:
            raise UsageError(f"--arch must be one of {', '.join(REFERENCE_ARCHS)}, got {self.arch!r}")
        if self.format not in EXPORT_FORMATS:
            raise UsageError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {self.format!r}")
        check_fields(self)
        kind = EXPORT_FORMATS[self.format]
        if self.precision == "int8" and not kind.int8:
            onnx = ", ".join(name for name, row in EXPORT_FORMATS.items() if row.int8)
            raise UsageError(f"--precision int8 writes ONNX with quantised operations: give --format {onnx}")
        suffix = kind.suffix
        if Path(self.out).suffix.lower() != suffix:
            raise UsageError(f"--out must end in {suffix} for --format {self.format}, got {str(self.out)!r}")
        if Path(self.out).is_dir():
            raise UsageError(f"--out {self.out} is a folder; give a file name ending in {suffix}")
        if Path(self.out).exists() and not self.overwrite:
            raise UsageError(f"--out {self.out} exists; give --overwrite to replace it")
        sidecar = kind.sidecar(Path(self.out))
        if sidecar is not None and sidecar.exists() and not self.overwrite:
            raise UsageError(f"--out {self.out}: its settings file {sidecar} exists; give --overwrite to replace it")
