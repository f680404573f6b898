"""`vidgan export --format nuke` and `--format flame`: the files Nuke's CatFileCreator and Flame's Inference node
load, checked against the render's own frames and the sidecar's schema."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from conftest import assert_clean_failure
from PIL import Image

import vidgan
from vidgan.render.export import NUKE_RGB, ExportOptions
from vidgan.runs.generators import load_generator

# Frames whose sides are no multiple of the tiny run's stride (4), so the export's own padding is what is tested.
HEIGHT, WIDTH, FRAMES = 50, 71, 3
# The render writes 8-bit PNGs, so a float32 export agrees with them to the rounding: measured at most 0.5 of an
# 8-bit level (plus float noise). In half precision (10-bit mantissa: steps of 1/2048 near 1, through every layer)
# measured at most 1.17 levels on the tiny run; 2 allowed.
FLOAT32_LEVELS = 0.51
HALF_LEVELS = 2.0


def half_dtype() -> torch.dtype:
    """float16 where this CPU's torch runs half convolutions (as Nuke's "Optimise for Speed and Memory" does on a
    GPU), else bfloat16."""
    try:
        torch.nn.functional.conv2d(torch.zeros(1, 1, 3, 3, dtype=torch.float16), torch.zeros(1, 1, 3, 3, dtype=torch.float16))
    except RuntimeError:
        return torch.bfloat16
    return torch.float16


@pytest.fixture(scope="module")
def plates(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A sequence of FRAMES smooth-and-noisy HEIGHT×WIDTH PNG frames, and the frames as an F×H×W×3 uint8 array."""
    folder = tmp_path_factory.mktemp("plates")
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 255, WIDTH)[None, :, None] * np.ones((HEIGHT, 1, 3))
    frames = np.clip(ramp + rng.normal(0, 40, (FRAMES, HEIGHT, WIDTH, 3)), 0, 255).astype(np.uint8)
    for n, rgb in enumerate(frames):
        Image.fromarray(rgb).save(folder / f"plate_{n:04d}.png")
    return folder / "plate_%04d.png", frames


def test_nuke_export_gives_the_renders_frames_in_float32_and_half_and_its_settings(tiny_run: Path, plates, run_cli, tmp_path: Path):
    pattern, frames = plates
    out = tmp_path / "glove.pt"
    done = run_cli("export", "--run", tiny_run, "--direction", "a2b", "--format", "nuke", "--out", out)
    assert done.code == 0, done.stderr
    settings_file = tmp_path / "glove.catfilecreator.json"
    said = "".join(done.stderr.split())  # the console wraps long paths anywhere
    assert f"wrote{out}and{settings_file}(nuke,a2b,workingscale64px)" in said

    # Each frame at its own size, as Nuke's Inference node hands it over: the render's native fit does the same.
    rendered = tmp_path / "rendered"
    done = run_cli("render", pattern, "--run", tiny_run, "--direction", "a2b", "--fit", "native", "--detail", "model",
                   "--out", rendered, "--device", "cpu", "--runtime", "torch", "-q")  # fmt: skip
    assert done.code == 0, done.stderr
    expected = np.stack([np.asarray(Image.open(path).convert("RGB"), np.float64) for path in sorted(rendered.glob("*.png"))])
    assert expected.shape == frames.shape and expected.std() > 2  # a real picture, not a constant both could agree on

    settings = json.loads(settings_file.read_text())
    assert settings["knobs"] == {
        "torchScriptFile": str(out.resolve()),
        "catFile": str((tmp_path / "glove.cat").resolve()),
        "channelsIn": NUKE_RGB,
        "channelsOut": NUKE_RGB,
        "modelId": "vidgan_glove",
        "outputScale": 1,
    }
    assert "short side is 64 px" in settings["working_scale_note"]
    files = {"vidgan.json": ""}
    with pytest.warns(FutureWarning):  # torch.jit.load is deprecated; Nuke reads nothing else
        module = torch.jit.load(str(out), _extra_files=files)
    recorded = json.loads(files["vidgan.json"])
    assert recorded == settings["vidgan"] == dict(module.metadata)
    assert (recorded["direction"], recorded["working_scale"], recorded["stride"], recorded["padding"]) == ("a2b", "64", "4", "reflect")
    # One tensor in (after self) and one out.
    schema = module.forward.schema
    assert [a.name for a in schema.arguments][1:] == ["image"] and len(schema.returns) == 1
    assert str(schema.returns[0].type) == "Tensor"

    half = half_dtype()
    for dtype, levels in ((torch.float32, FLOAT32_LEVELS), (half, HALF_LEVELS)):
        module = module.to(dtype)  # what "Optimise for Speed and Memory" does: the model and its input in half
        for rgb, want in zip(frames, expected):
            image = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(dtype) / 255
            with torch.inference_mode():
                result = module(image)
            assert result.dtype == dtype and result.device == image.device
            assert result.shape == (1, 3, HEIGHT, WIDTH)
            got = result[0].permute(1, 2, 0).double().numpy() * 255
            assert np.abs(got - want).max() <= levels, dtype


def test_a_nuke_settings_file_in_the_way_is_kept_without_overwrite(tiny_run: Path, tmp_path: Path, run_cli):
    (tmp_path / "g.catfilecreator.json").write_text("kept")
    done = run_cli("export", "--run", tiny_run, "--format", "nuke", "--out", "g.pt")
    assert_clean_failure(done, "--out g.pt: its settings file g.catfilecreator.json exists; give --overwrite", code=2)
    assert (tmp_path / "g.catfilecreator.json").read_text() == "kept" and not (tmp_path / "g.pt").exists()
    done = run_cli("export", "--run", tiny_run, "--format", "nuke", "--out", "g.pt", "--precision", "int8")
    assert_clean_failure(done, "--precision int8 writes ONNX with quantised operations: give --format onnx, flame", code=2)
    ExportOptions(run=tiny_run, out=tmp_path / "g.onnx", format="flame", precision="int8").validate()  # flame takes int8


# The sidecar of Flame's Inference node (Autodesk Flame Help: "Inference Builder", and "What's New in 2025.2" for the
# Channels tokens), as a JSON Schema subset that `conforms` below checks: types, required keys, enumerations.
_CHANNELS = {"type": "string", "pattern": "^([RGB]{1,3}|A)$"}
FLAME_SCHEMA = {
    "type": "object",
    "required": ["ModelDescription"],
    "properties": {
        "ModelDescription": {
            "type": "object",
            "required": ["MinimumVersion", "Name", "Description", "SupportsSceneLinear", "KeepAspectRatio", "Padding", "Inputs", "Outputs"],
            "additionalProperties": False,
            "properties": {
                "MinimumVersion": {"type": "string", "pattern": r"^20\d\d\.\d+(\.\d+)?$"},
                "Name": {"type": "string"},
                "Description": {"type": "string"},
                "SupportsSceneLinear": {"type": "boolean"},
                "KeepAspectRatio": {"type": "boolean"},
                "Padding": {"type": "integer", "minimum": 1},
                "Inputs": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["Name", "Description", "Type", "Gain", "Channels"],
                        "additionalProperties": False,
                        "properties": {
                            "Name": {"type": "string"},
                            "Description": {"type": "string"},
                            "Type": {"enum": ["Front", "Back", "Matte", "Aux"]},
                            "Gain": {"type": "number"},
                            "Channels": _CHANNELS,
                        },
                    },
                },
                "Outputs": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["Name", "Description", "Type", "InverseGain", "ScalingFactor", "Channels"],
                        "additionalProperties": False,
                        "properties": {
                            "Name": {"type": "string"},
                            "Description": {"type": "string"},
                            "Type": {"enum": ["Result", "OutMatte"]},
                            "InverseGain": {"type": "number"},
                            "ScalingFactor": {"type": "number"},
                            "Channels": _CHANNELS,
                        },
                    },
                },
            },
        }
    },
    "additionalProperties": False,
}
_TYPES = {"object": dict, "array": list, "string": str, "number": (int, float), "integer": int, "boolean": bool}


def conforms(value: object, schema: dict, where: str = "$") -> list[str]:
    """What in `value` breaks `schema` (the JSON Schema keywords FLAME_SCHEMA uses), one line each; [] when it conforms."""
    import re

    if "enum" in schema:
        return [] if value in schema["enum"] else [f"{where}: {value!r} not one of {schema['enum']}"]
    wanted = _TYPES[schema["type"]]
    if not isinstance(value, wanted) or (isinstance(value, bool) and schema["type"] in ("number", "integer")):
        return [f"{where}: {value!r} is not of type {schema['type']}"]
    problems = []
    if "pattern" in schema and not re.search(schema["pattern"], value):
        problems.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and value < schema["minimum"]:
        problems.append(f"{where}: {value} below {schema['minimum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{where}: fewer than {schema['minItems']} items")
        for i, item in enumerate(value):
            problems += conforms(item, schema["items"], f"{where}[{i}]")
    if isinstance(value, dict):
        problems += [f"{where}: lacks {key}" for key in schema.get("required", []) if key not in value]
        for key, item in value.items():
            if key in schema.get("properties", {}):
                problems += conforms(item, schema["properties"][key], f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{where}: unknown key {key}")
    return problems


def test_the_schema_check_catches_what_flame_would_refuse():
    good = {"ModelDescription": {"MinimumVersion": "2025.2", "Name": "n", "Description": "", "SupportsSceneLinear": False,
            "KeepAspectRatio": False, "Padding": 1, "Inputs": [], "Outputs": []}}  # fmt: skip
    empty = ["$.ModelDescription.Inputs: fewer than 1 items", "$.ModelDescription.Outputs: fewer than 1 items"]
    assert conforms(good, FLAME_SCHEMA) == empty
    bad_input = {"Name": "image", "Description": "", "Type": "Foreground", "Gain": "1", "Channels": "RGBA"}
    problems = conforms(bad_input, FLAME_SCHEMA["properties"]["ModelDescription"]["properties"]["Inputs"]["items"])
    assert len(problems) == 3  # the type, the gain's type and the channels


def test_flame_export_sidecar_conforms_and_its_onnx_matches_the_generator(tiny_run: Path, tmp_path: Path, run_cli):
    out = tmp_path / "shot_b2a.onnx"
    done = run_cli("export", "--run", tiny_run, "--direction", "b2a", "--format", "flame", "--out", out)
    assert done.code == 0, done.stderr
    sidecar = json.loads((tmp_path / "shot_b2a.json").read_text())  # Flame looks for NAME.json beside NAME.onnx
    assert conforms(sidecar, FLAME_SCHEMA) == []
    description = sidecar["ModelDescription"]
    assert description["SupportsSceneLinear"] is False and description["Name"] == "shot_b2a"
    assert "b2a" in description["Description"] and "working scale 64 px" in description["Description"]

    model = onnx.load(str(out))
    # The sidecar's input and output are the graph's, and the graph carries the direction and working scale.
    assert [i.name for i in model.graph.input] == [i["Name"] for i in description["Inputs"]] == ["image"]
    assert [o.name for o in model.graph.output] == [o["Name"] for o in description["Outputs"]] == ["translated"]
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    assert (metadata["direction"], metadata["working_scale"], metadata["vidgan_version"]) == ("b2a", "64", vidgan.__version__)
    assert metadata["padding"] == "replicate"

    generator = load_generator(tiny_run, "b2a")
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    image = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(3))  # multiples of the stride: no padding
    (result,) = session.run(None, {"image": image.numpy()})
    with torch.inference_mode():
        want = (generator(image * 2 - 1) + 1) / 2
    assert np.abs(result - want.numpy()).max() < 1e-5
