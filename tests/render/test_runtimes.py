"""Inference runtimes (vidgan.render.runtimes): the same 8-bit frames as torch, the ONNX export cached per checkpoint."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vidgan.core.directions import A2B
from vidgan.core.errors import UsageError
from vidgan.io.batches import to_float, to_uint8
from vidgan.models.cyclegan import DiscriminatorConfig, GeneratorConfig, build_generator
from vidgan.render import runtimes
from vidgan.render.options import RenderOptions
from vidgan.render.runtimes import CPU_PREFERENCE, ExportedGenerator, onnx_cache_path, resolve_runtime, runtime_generator
from vidgan.render.translator import render_threads
from vidgan.runs.checkpoints import load_latest_checkpoint, save_checkpoint, step_checkpoints
from vidgan.runs.generators import load_generator
from vidgan.training.distill import student_config
from vidgan.training.options import CycleGANOptions, DistillOptions

CPU = torch.device("cpu")
ONNX_RUNTIMES = ("onnxruntime", "openvino")


@pytest.fixture
def run(tiny_run: Path, tmp_path: Path) -> Path:
    """A copy of the tiny run, so the exports cached in it start afresh and stay out of the shared fixture."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


def frames(seed: int, height: int = 64, width: int = 96) -> torch.Tensor:
    """A batch of 3 random 8-bit RGB frames as the generator takes them: N×3×H×W float in [-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return to_float(torch.randint(0, 256, (3, 3, height, width), dtype=torch.uint8, generator=generator))


def max_8bit_difference(a: torch.Tensor, b: torch.Tensor) -> int:
    return int((to_uint8(a).int() - to_uint8(b).int()).abs().max())


@pytest.mark.parametrize("runtime", ONNX_RUNTIMES)
def test_onnx_runtimes_give_torchs_8bit_frames_on_a_trained_run(run: Path, runtime: str):
    generator = load_generator(run, "a2b")
    translate = runtime_generator(generator, run, "a2b", CPU, runtime)
    assert isinstance(translate, ExportedGenerator) and translate.runtime == runtime
    assert (translate.config, translate.stride) == (generator.config, generator.stride)
    for size in ((64, 96), (48, 32)):
        images = frames(0, *size)
        with torch.inference_mode():
            expected = generator(images)
        result = translate(images)
        assert result.shape == images.shape and result.dtype == torch.float32
        assert max_8bit_difference(result, expected) <= 1
        assert float(expected.std()) > 0.01  # a real image, not a constant one both could agree on
    assert onnx_cache_path(run, A2B, runtime) == run / "checkpoints" / "onnx" / f"a2b.{runtime}.onnx"
    assert onnx_cache_path(run, A2B, runtime).is_file()


def random_unet_checkpoint(path: Path) -> Path:
    """A checkpoint file of small U-Net generators with self-attention: the translation the exporter lacks (3-D
    attention) and the skips, resizing and concatenation of the default architecture."""
    torch.manual_seed(3)
    config = GeneratorConfig.for_size(64, channels=8, res_blocks=1, kind="unet", full_res_skip=True, attention=True)
    generators = nn.ModuleDict({name: build_generator(config) for name in ("a2b", "b2a")})
    with torch.no_grad():  # gamma starts at 0, which would leave the attention out of the output
        for generator in generators.values():
            generator.bottleneck[-1].gamma.fill_(0.5)
    arch = {"generator": config.to_dict(), "discriminator": DiscriminatorConfig().to_dict()}
    return save_checkpoint(path, kind="cyclegan", step=0, arch=arch, modules={"generators": generators})


def test_a_unet_with_attention_from_a_checkpoint_file_is_cached_beside_it(tmp_path: Path):
    checkpoint = random_unet_checkpoint(tmp_path / "models" / "unet.pt")
    generator = load_generator(checkpoint, "b2a")
    translate = runtime_generator(generator, checkpoint, "b2a", CPU, "onnxruntime")
    images = frames(1, 64, 80)
    with torch.inference_mode():
        assert max_8bit_difference(translate(images), generator(images)) <= 1
    assert (tmp_path / "models" / "onnx" / "b2a.onnxruntime.onnx").is_file()


def count_exports(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    export = runtimes.export_program

    def counted(*args, **kwargs):
        calls.append(1)
        return export(*args, **kwargs)

    monkeypatch.setattr(runtimes, "export_program", counted)
    return calls


def save_changed_checkpoint(run: Path) -> None:
    """A newer step checkpoint whose a2b generator weights differ from the latest one's."""
    checkpoint = load_latest_checkpoint(run)
    state = checkpoint["models"]["generators"]
    for name in state:
        if name.startswith("a2b.") and state[name].is_floating_point():
            state[name] = state[name] * 1.5
    torch.save({**checkpoint, "step": checkpoint["step"] + 1}, run / "checkpoints" / f"step_{checkpoint['step'] + 1:07d}.pt")


def test_the_export_is_made_once_and_remade_when_the_checkpoint_or_a_version_changes(run: Path, monkeypatch):
    exports = count_exports(monkeypatch)
    first = load_generator(run, "a2b")
    runtime_generator(first, run, "a2b", CPU, "onnxruntime")
    runtime_generator(load_generator(run, "a2b"), run, "a2b", CPU, "onnxruntime")
    assert len(exports) == 1  # the same weights again: the cached export

    save_changed_checkpoint(run)
    assert len(step_checkpoints(run)) == 2
    changed = load_generator(run, "a2b")
    translate = runtime_generator(changed, run, "a2b", CPU, "onnxruntime")
    assert len(exports) == 2
    images = frames(2)
    with torch.inference_mode():
        assert max_8bit_difference(translate(images), changed(images)) <= 1
        assert max_8bit_difference(first(images), changed(images)) > 1  # the rebuilt export follows the new weights

    versions = runtimes.package_version
    monkeypatch.setattr(runtimes, "package_version", lambda package: "0.0" if package == "onnxruntime" else versions(package))
    runtime_generator(changed, run, "a2b", CPU, "onnxruntime")
    runtime_generator(changed, run, "a2b", CPU, "onnxruntime")
    assert len(exports) == 3
    assert sorted(p.name for p in (run / "checkpoints" / "onnx").iterdir()) == ["a2b.onnxruntime.onnx", "a2b.onnxruntime.onnx.key"]


def test_a_cached_export_runs_without_importing_onnx(run: Path):
    """Parsing the model to check its key would import onnx (and ml_dtypes): most of a second of every render's start."""
    runtime_generator(load_generator(run, "a2b"), run, "a2b", CPU, "openvino")
    script = (
        "import sys, torch; from vidgan.runs.generators import load_generator;"
        "from vidgan.render.runtimes import runtime_generator;"
        f"runtime_generator(load_generator({str(run)!r}, 'a2b'), {str(run)!r}, 'a2b', torch.device('cpu'), 'openvino');"
        "print(sorted(m for m in ('onnx', 'onnxscript', 'ml_dtypes') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).parents[2], check=True)
    assert done.stdout.strip() == "[]"


def test_the_cache_key_follows_weights_architecture_shape_policy_and_versions(monkeypatch):
    torch.manual_seed(0)
    generator = build_generator(GeneratorConfig(channels=4, res_blocks=0))
    key = runtimes.cache_key(generator, "openvino")
    assert runtimes.cache_key(generator, "openvino") == key
    torch.manual_seed(1)
    assert runtimes.cache_key(build_generator(GeneratorConfig(channels=4, res_blocks=0)), "openvino")["weights"] != key["weights"]
    monkeypatch.setattr(runtimes, "SHAPE_POLICY", "fixed shapes")
    assert runtimes.cache_key(generator, "openvino")["shape_policy"] == "fixed shapes"
    assert key["openvino"] == runtimes.package_version("openvino") and key["onnxscript"] == runtimes.package_version("onnxscript")
    assert key["torch"] == torch.__version__ and json.loads(key["arch"]) == generator.config.to_dict()


def test_a_damaged_cache_is_remade(run: Path, monkeypatch):
    exports = count_exports(monkeypatch)
    generator = load_generator(run, "a2b")
    runtime_generator(generator, run, "a2b", CPU, "openvino")
    path = run / "checkpoints" / "onnx" / "a2b.openvino.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    translate = runtime_generator(generator, run, "a2b", CPU, "openvino")
    assert len(exports) == 2
    images = frames(4)
    with torch.inference_mode():
        assert max_8bit_difference(translate(images), generator(images)) <= 1


def test_a_run_folder_that_cannot_be_written_gets_a_temporary_export(run: Path, capsys):
    (run / "checkpoints" / "onnx").write_text("a file where the cache folder would go")
    generator = load_generator(run, "a2b")
    translate = runtime_generator(generator, run, "a2b", CPU, "onnxruntime")
    images = frames(5)
    with torch.inference_mode():
        assert max_8bit_difference(translate(images), generator(images)) <= 1
    assert "the ONNX export is not cached" in capsys.readouterr().err


def test_a_small_generator_runs_on_one_thread_and_a_large_one_on_all():
    large = CycleGANOptions(a_dir=Path("a"), b_dir=Path("b"), size=128).resolved(128).generator()  # the default
    small = student_config(large, DistillOptions(teacher=Path("run")))  # the student `vidgan distill` makes of it
    assert runtimes.model_threads(build_generator(large), 6) == 6
    assert runtimes.model_threads(build_generator(small), 6) == 1
    assert runtimes.model_threads(build_generator(large), 1) == 1


def test_torch_runs_on_one_thread_while_an_onnx_runtime_renders_and_is_restored_after(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for runtime, inside in (("openvino", 1), ("torch", 2)):
            options = RenderOptions(out=tmp_path / "out.mp4", runtime=runtime, device="cpu")
            with render_threads(options, CPU) as cores:
                assert (cores, torch.get_num_threads()) == (2, inside)
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def pretend_installed(monkeypatch: pytest.MonkeyPatch, *packages: str) -> None:
    monkeypatch.setattr(runtimes, "installed", lambda package: package in packages)


def test_auto_is_torch_on_cuda_and_the_fastest_installed_runtime_on_the_cpu(monkeypatch):
    assert resolve_runtime("auto", torch.device("cuda", 0)) == "torch"
    assert resolve_runtime("auto", CPU) == CPU_PREFERENCE[0]
    pretend_installed(monkeypatch, "onnxscript", CPU_PREFERENCE[1])
    assert resolve_runtime("auto", CPU) == CPU_PREFERENCE[1]
    pretend_installed(monkeypatch, *CPU_PREFERENCE)  # no exporter, so neither can run
    assert resolve_runtime("auto", CPU) == "torch"
    assert runtimes.installed_runtimes() == ["torch"]
    generator = build_generator(GeneratorConfig(channels=4, res_blocks=0))
    assert runtime_generator(generator, Path("unused"), "a2b", CPU, "auto") is generator


EVERYTHING = ("onnxscript", *ONNX_RUNTIMES)


@pytest.mark.parametrize(
    ("name", "device", "installed", "message"),
    [
        ("tensorrt", CPU, EVERYTHING, "--runtime must be one of auto, torch, onnxruntime, openvino, got 'tensorrt'"),
        ("openvino", CPU, ("onnxscript", "onnxruntime"), "--runtime openvino needs the openvino package, which is not installed"),
        ("onnxruntime", CPU, ONNX_RUNTIMES, "--runtime onnxruntime needs the onnxscript package"),
        ("onnxruntime", torch.device("cuda", 0), EVERYTHING, "--runtime onnxruntime runs on the CPU; with --device cuda use"),
    ],
)
def test_a_runtime_that_cannot_run_is_a_one_line_usage_error(monkeypatch, name, device, installed, message):
    pretend_installed(monkeypatch, *installed)
    with pytest.raises(UsageError) as error:
        resolve_runtime(name, device)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    assert error.value.exit_code == 2


def test_render_runtime_onnxruntime_gives_torchs_frames_and_refuses_tiles(run: Path, make_clip, run_cli, tmp_path: Path):
    from vidgan.io.video import iter_frames

    clip = make_clip("clip.mp4", n_frames=6, width=96, height=64)
    rendered = {}
    for runtime in ("torch", "onnxruntime"):
        out = tmp_path / f"{runtime}.mkv"
        done = run_cli("render", clip, "--run", run, "--out", out, "--detail", "model", "--runtime", runtime, "-q")
        assert done.code == 0, done.stderr
        rendered[runtime] = [frame.rgb.astype(int) for frame in iter_frames(out)]
    assert len(rendered["onnxruntime"]) == len(rendered["torch"]) == 6
    assert max(abs(a - b).max() for a, b in zip(rendered["torch"], rendered["onnxruntime"])) <= 1
    refused = run_cli("render", clip, "--run", run, "--out", tmp_path / "t.mkv", "--runtime", "onnxruntime", "--tile", "32")
    assert refused.code == 2 and "leave out --half and --tile" in refused.stderr


def test_translate_runtime_onnxruntime_gives_torchs_images(run: Path, run_cli, tmp_path: Path):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i, (width, height) in enumerate(((80, 60), (64, 64))):  # a size the stride does not divide, and a square
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    translated = {}
    for runtime in ("torch", "onnxruntime"):
        done = run_cli("translate", photos, "--run", run, "--out", tmp_path / runtime, "--runtime", runtime, "-q")
        assert done.code == 0, done.stderr
        translated[runtime] = [np.asarray(Image.open(tmp_path / runtime / f"{i}.png"), int) for i in range(2)]
    for by_torch, by_onnx, photo in zip(translated["torch"], translated["onnxruntime"], sorted(photos.iterdir())):
        assert by_onnx.shape == by_torch.shape == np.asarray(Image.open(photo)).shape
        assert np.abs(by_onnx - by_torch).max() <= 1
        assert by_torch.std() > 2  # a real image, not a constant one both could agree on
    assert (run / "checkpoints" / "onnx" / "a2b.onnxruntime.onnx").is_file()


def test_render_runtime_auto_takes_torch_for_tiles_and_says_so(run: Path, make_clip, run_cli, tmp_path: Path, monkeypatch):
    exports = count_exports(monkeypatch)
    clip = make_clip("clip.mp4", n_frames=2, width=96, height=64)
    done = run_cli("render", clip, "--run", run, "--out", tmp_path / "tiled.mkv", "--runtime", "auto", "--tile", "32")
    assert done.code == 0, done.stderr
    assert "--runtime auto: torch runs the generator, as --tile needs it" in done.stderr
    assert not exports and not (run / "checkpoints" / "onnx").exists()
