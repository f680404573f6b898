"""`vidgan export`: one direction's generator as a self-contained file for compositing applications' inference nodes.

    --format torchscript (.pt):  Nuke's CatFileCreator (the Cattery's .cat files are built from TorchScript)
    --format onnx (.onnx):       Autodesk Flame's Inference node, and any ONNX Runtime or OpenVINO host

The file takes and returns N×3×H×W float RGB in [0, 1] (the convention of those nodes), any batch, height and
width: inside the graph the input is clamped to [0, 1], mapped to the generator's [-1, 1], its edge pixels repeated
to the next multiples of the generator's stride, translated, cropped back and mapped to [0, 1]. It was trained on
8-bit sRGB frames, so feed it sRGB-encoded values (convert a linear plate first), scaled so that the image's short
side is the working scale recorded in the metadata (the run's training size unless the run records `working_scale`).

Metadata (ONNX: metadata_props; TorchScript: the extra file vidgan.json and the module's `metadata` attribute):
vidgan_version, direction, working_scale, stride, value_range, layout.

This module imports no torch at load time, so `import vidgan.cli` stays light; the export itself loads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import vidgan
from vidgan.core.directions import Direction
from vidgan.core.errors import UsageError
from vidgan.core.fsutil import atomic_path
from vidgan.models.reference_archs import REFERENCE_ARCHS

EXPORT_FORMATS = ("onnx", "torchscript")
if TYPE_CHECKING:
    from torch import nn

SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}


@dataclass(frozen=True)
class ExportOptions:
    """What `vidgan export` writes: `run` (a run folder of a kind that translates, or one of its checkpoint files;
    with `arch`, one of REFERENCE_ARCHS, a reference CycleGAN state dict file) → `out`."""

    run: Path
    out: Path
    direction: str = "a2b"
    format: str = "onnx"
    overwrite: bool = False
    arch: str | None = None

    def validate(self) -> None:
        """Raise UsageError (one line, exit 2) for an unknown direction or format, an --out whose suffix is not the
        format's, or an --out that exists without --overwrite (or is a folder)."""
        Direction.parse(self.direction)
        if self.arch is not None and self.arch not in REFERENCE_ARCHS:
            raise UsageError(f"--arch must be one of {', '.join(REFERENCE_ARCHS)}, got {self.arch!r}")
        if self.format not in EXPORT_FORMATS:
            raise UsageError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {self.format!r}")
        suffix = SUFFIXES[self.format]
        if Path(self.out).suffix.lower() != suffix:
            raise UsageError(f"--out must end in {suffix} for --format {self.format}, got {str(self.out)!r}")
        if Path(self.out).is_dir():
            raise UsageError(f"--out {self.out} is a folder; give a file name ending in {suffix}")
        if Path(self.out).exists() and not self.overwrite:
            raise UsageError(f"--out {self.out} exists; give --overwrite to replace it")


@dataclass(frozen=True)
class ExportResult:
    out: Path
    metadata: dict[str, str]


def export_generator(options: ExportOptions) -> ExportResult:
    """Write `options.run`'s generator for `options.direction` to `options.out` in `options.format` (see the module
    docstring for what the file takes, returns and records). Raises UsageError for bad options and VidganError for a
    run that cannot be loaded or a generator that cannot be exported."""
    from vidgan.runs.generators import load_generator

    options.validate()
    direction = Direction.parse(options.direction)
    generator = load_generator(options.run, direction, "cpu", arch=options.arch)
    size = generator.config.size  # a reference state dict records no working scale
    metadata = {
        "vidgan_version": vidgan.__version__,
        "direction": direction.name,
        "working_scale": str(size if options.arch else working_scale(Path(options.run), size)),
        "stride": str(generator.stride),
        "value_range": "float RGB in [0, 1] (sRGB-encoded), in and out",
        "layout": "N x 3 x H x W, any H and W",
    }
    save = save_onnx if options.format == "onnx" else save_torchscript
    save(generator, metadata, Path(options.out))
    return ExportResult(Path(options.out), metadata)


def save_onnx(generator: nn.Module, metadata: dict[str, str], out: Path) -> None:
    """FloatRGBGenerator as ONNX (dynamic batch, height and width), written atomically to `out` with `metadata` in its
    metadata_props."""
    import torch

    from vidgan.render.runtimes import FloatRGBGenerator, export_program, serialise

    # A size that is not a multiple of the stride, so the traced padding stays general.
    example = torch.zeros(2, 3, 4 * generator.stride + 1, 4 * generator.stride + 3)
    Dim = torch.export.Dim
    dims = {0: Dim("batch"), 2: Dim("height"), 3: Dim("width")}
    model = serialise(export_program(FloatRGBGenerator(generator, generator.stride), example, dims), metadata)
    with atomic_path(out) as temp:
        temp.write_bytes(model)


def save_torchscript(generator: nn.Module, metadata: dict[str, str], out: Path) -> None:
    """FloatRGBGenerator as TorchScript, written atomically to `out`: the generator traced (its operations do not
    depend on the image size) inside the scripted wrapper, whose padding does; `metadata` as the module's attribute
    and the extra file vidgan.json. torch.jit warns that it is deprecated; Nuke reads nothing else."""
    import warnings

    import torch

    from vidgan.render.runtimes import FloatRGBGenerator

    with warnings.catch_warnings(), atomic_path(out) as temp:
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(generator, torch.zeros(1, 3, 4 * generator.stride, 4 * generator.stride))
        wrapper = FloatRGBGenerator(traced, generator.stride)
        wrapper.metadata = dict(metadata)
        torch.jit.save(torch.jit.script(wrapper), str(temp), _extra_files={"vidgan.json": json.dumps(metadata, indent=2)})


def working_scale(source: Path, training_size: int) -> int | str:
    """The short side, in pixels, the run's generator works at: the run config's `working_scale` as it records one,
    else `training_size`. `source` is a run folder or a checkpoint file; one in RUN/checkpoints/ finds RUN's config."""
    from vidgan.runs.folder import run_of

    run = run_of(source)
    return training_size if run is None else run.read_config().get("working_scale", training_size)
