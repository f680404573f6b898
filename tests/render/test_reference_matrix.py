"""Every generator vidgan loads meets the generator contract (vidgan.models.protocol), reference CycleGAN weights
included: each --arch renders with each --runtime and exports in each format, and the results agree."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_clean_failure

from vidgan.core.directions import A2B
from vidgan.io.video import iter_frames
from vidgan.models.arch import GeneratorConfig
from vidgan.models.cyclegan import build_generator
from vidgan.models.protocol import Generator, check_generator
from vidgan.models.reference import ReferenceConfig, ReferenceResnetGenerator, ReferenceUnetGenerator
from vidgan.models.reference_archs import REFERENCE_ARCHS
from vidgan.render.options import RUNTIMES
from vidgan.runs.generators import load_generator

NAMED_RUNTIMES = tuple(runtime for runtime in RUNTIMES if runtime != "auto")


def _reference_weights(arch: str, path):
    """A reference-layout state dict of base width 2 (random weights), saved as latest_net_G.pth is."""
    torch.manual_seed(0)
    network = (ReferenceResnetGenerator if arch.startswith("resnet") else ReferenceUnetGenerator)(ReferenceConfig(arch, channels=2))
    torch.save(network.state_dict(), path)
    return path


def _meets_the_contract(generator) -> None:
    assert isinstance(generator, Generator) and check_generator(generator, "test") is generator
    config = generator.config
    assert type(config)(**config.to_dict()) == config and json.loads(json.dumps(config.to_dict())) == config.to_dict()
    x = torch.rand(2, 3, 2 * generator.stride, generator.stride) * 2 - 1
    with torch.no_grad():
        y = generator(x)
    assert y.shape == x.shape and float(y.abs().max()) <= 1


def test_vidgan_generators_meet_the_contract():
    for kind in ("unet", "resnet"):
        _meets_the_contract(build_generator(GeneratorConfig.for_size(64, channels=4, res_blocks=1, kind=kind)).eval())


@pytest.mark.parametrize("arch", REFERENCE_ARCHS)
def test_every_arch_renders_with_every_runtime_and_exports(arch, make_clip, run_cli, tmp_path):
    weights = _reference_weights(arch, tmp_path / "latest_net_G.pth")
    generator = load_generator(weights, A2B, arch=arch)
    _meets_the_contract(generator)
    clip = make_clip("shot.mp4", n_frames=2, width=48, height=32)
    frames = {}
    for runtime in NAMED_RUNTIMES:
        out = tmp_path / f"{runtime}.mp4"
        done = run_cli("render", clip, "--checkpoint", weights, "--arch", arch, "--runtime", runtime, "--fit", "native",
                       "--out", out, "--device", "cpu", "-q")  # fmt: skip
        assert done.code == 0, done.stderr
        frames[runtime] = np.stack([frame.rgb.astype(int) for frame in iter_frames(out)])
    assert frames["torch"].shape == (2, 32, 48, 3)
    for runtime in NAMED_RUNTIMES[1:]:  # the same picture through each runtime (and the codec)
        assert np.abs(frames[runtime] - frames["torch"]).mean() < 1, runtime

    onnx_file = tmp_path / "g.onnx"
    done = run_cli("export", "--run", weights, "--arch", arch, "--format", "onnx", "--out", onnx_file)
    assert done.code == 0, done.stderr
    assert f"working scale {generator.config.size} px" in " ".join(done.stderr.split())
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    images = torch.rand(1, 3, 30, 20, generator=torch.Generator().manual_seed(1))
    (result,) = session.run(None, {"image": images.numpy()})
    padded = F.pad(images * 2 - 1, (0, -20 % generator.stride, 0, -30 % generator.stride), mode="replicate")
    with torch.no_grad():
        expected = (generator(padded)[:, :, :30, :20] + 1) / 2
    assert np.abs(result - expected.numpy()).max() < 1e-4


def test_export_refuses_an_unknown_arch(tmp_path, run_cli):
    weights = _reference_weights("resnet_6blocks", tmp_path / "g.pth")
    done = run_cli("export", "--run", weights, "--arch", "resnet_7blocks", "--format", "onnx", "--out", tmp_path / "g.onnx")
    assert_clean_failure(done, "--arch", code=2)
