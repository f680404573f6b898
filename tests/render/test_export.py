"""`vidgan export`: self-contained ONNX and TorchScript generators, float RGB in [0, 1], metadata read back."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import onnxruntime
import pytest
import torch
import torch.nn.functional as F
from conftest import REPO_ROOT, assert_clean_failure

import vidgan
from vidgan.render.export import ExportOptions, export_generator
from vidgan.runs.generators import load_generator

SIZES = ((64, 96), (50, 71))  # a multiple of the generator's stride, and not one


def reference(generator: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """What an export must return for [0, 1] images: edges repeated to multiples of the stride, translated, cropped."""
    height, width = images.shape[2:]
    pad_rows, pad_columns = -height % generator.stride, -width % generator.stride
    padded = F.pad(images * 2 - 1, (0, pad_columns, 0, pad_rows), mode="replicate")
    with torch.inference_mode():
        return (generator(padded)[:, :, :height, :width] + 1) / 2


def images(height: int, width: int) -> torch.Tensor:
    return torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(height))


@pytest.fixture(scope="module")
def onnx_export(tiny_run: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "b2a.onnx"
    export_generator(ExportOptions(run=tiny_run, out=out, direction="b2a", format="onnx"))
    return out


def test_onnx_export_runs_in_onnxruntime_like_the_runs_generator(tiny_run: Path, onnx_export: Path):
    generator = load_generator(tiny_run, "b2a")
    session = onnxruntime.InferenceSession(str(onnx_export), providers=["CPUExecutionProvider"])
    for height, width in SIZES:
        batch = images(height, width)
        (result,) = session.run(None, {"image": batch.numpy()})
        assert result.shape == (2, 3, height, width)
        assert abs(result - reference(generator, batch).numpy()).max() < 1e-4
        assert 0 <= result.min() and result.max() <= 1


def test_onnx_export_records_direction_working_scale_and_version(onnx_export: Path):
    model = onnx.load(str(onnx_export))
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    assert metadata["direction"] == "b2a"
    assert metadata["working_scale"] == "64"  # the tiny run's training size
    assert metadata["vidgan_version"] == vidgan.__version__
    assert metadata["stride"] == "4"
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))  # dynamic N, H, W


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_export_through_the_cli(tiny_run: Path, tmp_path: Path, run_cli):
    out = tmp_path / "a2b.pt"
    result = run_cli("export", "--run", tiny_run, "--direction", "a2b", "--format", "torchscript", "--out", out)
    assert result.code == 0, result.stderr
    assert f"wrote {out} (torchscript, a2b, working scale 64 px)" in " ".join(result.stderr.split())
    files = {"vidgan.json": ""}
    module = torch.jit.load(str(out), _extra_files=files)
    generator = load_generator(tiny_run, "a2b")
    for height, width in SIZES:
        batch = images(height, width)
        with torch.inference_mode():
            result = module(batch)
        assert result.shape == batch.shape
        assert float((result - reference(generator, batch)).abs().max()) < 1e-5
    recorded = json.loads(files["vidgan.json"])
    assert recorded == dict(module.metadata)
    assert (recorded["direction"], recorded["working_scale"], recorded["vidgan_version"]) == ("a2b", "64", vidgan.__version__)


def test_a_working_scale_the_run_records_goes_into_the_metadata(tiny_run: Path, tmp_path: Path):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "working_scale": 96}))
    checkpoint = sorted((run / "checkpoints").glob("step_*.pt"))[-1]  # a checkpoint file of the run finds its config
    result = export_generator(ExportOptions(run=checkpoint, out=tmp_path / "g.pt", format="torchscript"))
    assert result.metadata["working_scale"] == "96"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "png", "--out", "g.png"), "Invalid value for '--format'"),
        (("--format", "onnx", "--out", "g.pt"), "--out must end in .onnx for --format onnx, got 'g.pt'"),
        (("--format", "torchscript", "--out", "g.onnx"), "--out must end in .pt for --format torchscript"),
        (("--format", "onnx", "--out", "g.onnx", "--direction", "a2c"), "Invalid value for '--direction'"),
        (("--format", "onnx", "--out", "existing.onnx"), "--out existing.onnx exists; give --overwrite to replace it"),
    ],
)
def test_bad_export_options_are_one_line_usage_errors(tiny_run: Path, tmp_path: Path, run_cli, args, message):
    (tmp_path / "existing.onnx").write_text("kept")
    result = run_cli("export", "--run", tiny_run, *args)
    assert_clean_failure(result, message, code=2)
    assert (tmp_path / "existing.onnx").read_text() == "kept"
    assert not (tmp_path / "g.onnx").exists() and not (tmp_path / "g.pt").exists()


def test_a_folder_that_is_no_run_is_a_one_line_error(tmp_path: Path, run_cli):
    result = run_cli("export", "--run", tmp_path, "--format", "onnx", "--out", "g.onnx")
    assert_clean_failure(result, "run folder has no checkpoint", code=1)


def test_importing_the_cli_loads_no_torch():
    code = "import sys, vidgan.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert done.stdout.strip() == "[]"
