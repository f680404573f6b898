"""--precision int8 (vidgan.render.quantise): int8 exports agree with float32, are cached per precision and
calibration, hold quantised operations, and are refused with one line where they cannot run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import assert_clean_failure
from PIL import Image

from vidgan.core.directions import A2B
from vidgan.core.errors import UsageError
from vidgan.eval.metrics import psnr
from vidgan.io.batches import to_float, to_uint8
from vidgan.render import runtimes
from vidgan.render.options import INT8_RUNTIMES, RenderOptions
from vidgan.render.quantise import QUANTISERS, Calibration, with_metadata
from vidgan.render.runtimes import FloatRGBGenerator, onnx_cache_path, resolve_runtime, runtime_generator, stored_metadata
from vidgan.runs.generators import load_generator

CPU = torch.device("cpu")
# int8 against float32 on the tiny run (4 channels, untrained, calibrated on its noise training frames), in 8-bit
# PSNR: on noise frames like the calibration's, measured 39.1 dB (ONNX Runtime) and 41.6 dB (OpenVINO + NNCF), 35
# required; on the test clip (a smooth ramp and a box, unlike those frames, so the calibrated ranges are too wide
# for it) measured 28.4 and 30.8 dB, 28 required.
MIN_PSNR = 35.0
MIN_PSNR_UNLIKE_CALIBRATION = 28.0


@pytest.fixture(scope="module")
def exported_run(tiny_run: Path, tmp_path_factory) -> Path:
    """A copy of the tiny run holding its a2b float32 exports for both ONNX runtimes, made once for this module. The
    graph is the same for both (only the cache key names the runtime's version), so OpenVINO's is ONNX Runtime's
    with its own key, which saves a second export (several seconds)."""
    run = Path(shutil.copytree(tiny_run, tmp_path_factory.mktemp("int8") / "run"))
    generator = load_generator(run, "a2b")
    runtime_generator(generator, run, "a2b", CPU, "onnxruntime")
    model = onnx_cache_path(run, A2B, "onnxruntime").read_bytes()
    key = runtimes.cache_key(generator, "openvino")
    metadata = {"vidgan.cache_key": json.dumps(key, sort_keys=True)}
    runtimes.write_cached(onnx_cache_path(run, A2B, "openvino"), with_metadata(model, metadata), key)
    return run


@pytest.fixture
def run(exported_run: Path, tmp_path: Path) -> Path:
    """A copy of the exported run, so the int8 models each test caches in it start afresh."""
    return Path(shutil.copytree(exported_run, tmp_path / "run"))


def psnr_8bit(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """PSNR in dB of two images of 8-bit values (0 to 255)."""
    return psnr(float(np.mean(((np.asarray(a, np.float64) - np.asarray(b, np.float64)) / 127.5) ** 2)))


def noise_frames(seed: int, height: int = 64, width: int = 96) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return to_float(torch.randint(0, 256, (3, 3, height, width), dtype=torch.uint8, generator=generator))


@pytest.mark.parametrize("runtime", INT8_RUNTIMES)
def test_int8_agrees_with_fp32_within_the_stated_psnr(run: Path, runtime: str):
    generator = load_generator(run, "a2b")
    images = noise_frames(0)
    fp32 = to_uint8(runtime_generator(generator, run, "a2b", CPU, runtime)(images))
    int8 = to_uint8(runtime_generator(generator, run, "a2b", CPU, runtime, Calibration(8, quiet=True))(images))
    assert int8.shape == fp32.shape
    assert psnr_8bit(int8, fp32) >= MIN_PSNR
    assert not torch.equal(int8, fp32)  # quantised, not the float model again
    assert onnx_cache_path(run, A2B, runtime, "int8").is_file()
    assert float(fp32.float().std()) > 2  # a real image, not a constant one both could agree on


def test_render_auto_int8_agrees_with_fp32_through_the_cli(run: Path, make_clip, run_cli, tmp_path: Path):
    from vidgan.io.video import iter_frames

    clip = make_clip("clip.mp4", n_frames=4, width=96, height=64)
    rendered = {}
    for precision, runtime in (("fp32", "openvino"), ("int8", "auto")):
        out = tmp_path / f"{precision}.mkv"
        common = ("--detail", "model", "--calibration-frames", "3", "-q")
        done = run_cli("render", clip, "--run", run, "--out", out, "--runtime", runtime, "--precision", precision, *common)
        assert done.code == 0, done.stderr
        rendered[precision] = np.stack([frame.rgb for frame in iter_frames(out)])
    assert rendered["int8"].shape == rendered["fp32"].shape == (4, 64, 96, 3)
    assert psnr_8bit(rendered["int8"], rendered["fp32"]) >= MIN_PSNR_UNLIKE_CALIBRATION
    assert onnx_cache_path(run, A2B, "openvino", "int8").is_file()  # auto took OpenVINO, whose quantiser is installed


def quantise_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    quantise = runtimes.quantise

    def counted(model: bytes, runtime: str, inputs: list, quiet: bool = False) -> bytes:
        calls.append(runtime)
        return quantise(model, runtime, inputs, quiet)

    monkeypatch.setattr(runtimes, "quantise", counted)
    return calls


def stored_key(run: Path, precision: str) -> dict[str, str]:
    return json.loads(stored_metadata(onnx_cache_path(run, A2B, "onnxruntime", precision).read_bytes())["vidgan.cache_key"])


def test_the_int8_model_is_cached_and_rebuilt_when_precision_or_calibration_changes(run: Path, monkeypatch):
    calls = quantise_calls(monkeypatch)
    generator = load_generator(run, "a2b")
    for _ in range(2):
        runtime_generator(generator, run, "a2b", CPU, "onnxruntime", Calibration(3, quiet=True))
    assert len(calls) == 1  # the second call read the cache
    first = stored_key(run, "int8")
    calibration = json.loads(first["calibration"])
    assert first["precision"] == "int8" and calibration["count"] == 3 and calibration["scale"] == 64
    assert calibration["method"] == QUANTISERS["onnxruntime"].method
    assert calibration["onnxruntime"] == runtimes.package_version("onnxruntime")
    assert {k: v for k, v in first.items() if k not in ("precision", "calibration")} == stored_key(run, "fp32")
    assert "precision" not in stored_key(run, "fp32")  # the float32 export beside it is its own file

    runtime_generator(generator, run, "a2b", CPU, "onnxruntime", Calibration(2, quiet=True))
    assert len(calls) == 2  # fewer frames: another calibration
    fewer = json.loads(stored_key(run, "int8")["calibration"])
    assert fewer["count"] == 2 and fewer["frames"] != calibration["frames"]

    runtime_generator(generator, run, "a2b", CPU, "onnxruntime")  # float32 needs no quantisation …
    runtime_generator(generator, run, "a2b", CPU, "onnxruntime", Calibration(2, quiet=True))  # … nor does int8 again
    assert len(calls) == 2

    # The same count of different pixels (a training frame changed) is another calibration too: the split is pointed
    # at a copy of the data folder with its first training frame inverted (the shared fixture's stays as it is).
    split = json.loads((run / "split.json").read_text())
    changed = Path(shutil.copytree(split["domains"]["a"]["folder"], run.parent / "a"))
    first_frame = changed / split["domains"]["a"]["train"][0]
    Image.fromarray(255 - np.asarray(Image.open(first_frame))).save(first_frame)
    split["domains"]["a"]["folder"] = str(changed)
    (run / "split.json").write_text(json.dumps(split))
    runtime_generator(generator, run, "a2b", CPU, "onnxruntime", Calibration(2, quiet=True))
    assert len(calls) == 3 and json.loads(stored_key(run, "int8")["calibration"])["frames"] != fewer["frames"]


def test_torch_with_int8_is_a_one_line_usage_error(run: Path, make_clip, run_cli, tmp_path: Path):
    clip = make_clip("clip.mp4", n_frames=2, width=96, height=64)
    for command in (
        ("render", clip, "--run", run, "--out", tmp_path / "out.mkv"),
        ("translate", tmp_path, "--run", run, "--out", tmp_path / "out"),
    ):
        refused = run_cli(*command, "--runtime", "torch", "--precision", "int8")
        assert_clean_failure(refused, "--precision int8 runs on the ONNX runtimes: give --runtime onnxruntime or openvino", code=2)
    auto_int8 = ("--runtime", "auto", "--precision", "int8")
    refused = run_cli("render", clip, "--run", run, "--out", tmp_path / "out.mkv", *auto_int8, "--tile", "32")
    assert_clean_failure(refused, "--precision int8 runs the whole frame on an ONNX runtime: leave out --tile", code=2)
    refused = run_cli("export", "--run", run, "--out", tmp_path / "g.pt", "--format", "torchscript", "--precision", "int8")
    assert_clean_failure(refused, "--precision int8 writes ONNX", code=2)
    assert not (tmp_path / "out.mkv").exists() and not (tmp_path / "g.pt").exists()
    with pytest.raises(UsageError, match="--calibration-frames must be at least 1"):
        RenderOptions(precision="int8", runtime="auto", calibration_frames=0).validate()


def test_auto_with_int8_takes_a_runtime_that_can_quantise(monkeypatch):
    assert set(QUANTISERS) == set(INT8_RUNTIMES)
    installed = runtimes.installed
    monkeypatch.setattr(runtimes, "installed", lambda package: package != "nncf" and installed(package))
    assert resolve_runtime("auto", CPU) == "openvino"  # float32: OpenVINO needs no quantiser
    assert resolve_runtime("auto", CPU, int8=True) == "onnxruntime"
    with pytest.raises(UsageError, match=r"^--runtime openvino --precision int8 needs the nncf package"):
        resolve_runtime("openvino", CPU, int8=True)
    with pytest.raises(UsageError, match="^--precision int8 runs on the CPU"):
        resolve_runtime("auto", torch.device("cuda", 0), int8=True)


def test_a_checkpoint_outside_a_run_has_no_frames_to_calibrate_on(run: Path, tmp_path: Path):
    checkpoint = tmp_path / "alone.pt"
    shutil.copy(run / "checkpoints" / "latest.pt", checkpoint)
    with pytest.raises(UsageError, match="calibrates on a run's training frames; .* is not in a run folder"):
        runtime_generator(load_generator(checkpoint, "a2b"), checkpoint, "a2b", CPU, "onnxruntime", Calibration(2, quiet=True))


def test_export_int8_writes_quantised_onnx_that_agrees_with_fp32(run: Path, run_cli, tmp_path: Path):
    import onnxruntime

    out = tmp_path / "int8.onnx"
    done = run_cli("export", "--run", run, "--out", out, "--format", "onnx", "--precision", "int8", "--calibration-frames", "3")
    assert done.code == 0, done.stderr
    assert f"wrote {out} (onnx int8, a2b, working scale 64 px)" in " ".join(done.stderr.split())
    model = onnx.load(out)
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= {node.op_type for node in model.graph.node}
    assert [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4]  # int8 weights
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    calibration = json.loads(metadata["calibration"])
    assert metadata["precision"] == "int8" and metadata["working_scale"] == "64"
    assert calibration["count"] == 3 and calibration["method"] == QUANTISERS["onnxruntime"].method

    image = np.random.default_rng(1).random((1, 3, 50, 70), dtype=np.float32)  # a size the stride does not divide
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    int8 = np.round(session.run(None, {"image": image})[0] * 255)
    generator = load_generator(run, "a2b")
    with torch.inference_mode():
        fp32 = np.round(FloatRGBGenerator(generator, generator.stride)(torch.from_numpy(image)).numpy() * 255)
    assert int8.shape == fp32.shape == (1, 3, 50, 70)
    assert psnr_8bit(int8, fp32) >= MIN_PSNR
