"""The CycleGAN quality levers: weight averaging (--ema), spectral norm in D, upsampling, DiffAugment policy."""

import json

import pytest
import torch
from test_train import tiny_cyclegan, write_images
from torch.nn.utils import parametrize

from vidgan.core.errors import UsageError
from vidgan.io.batches import load_image_folder
from vidgan.models.cyclegan import (
    DiscriminatorConfig,
    GeneratorConfig,
    ResidualBlock,
    SelfAttention,
    UnetGenerator,
    build_discriminator,
)
from vidgan.runs.checkpoints import load_checkpoint
from vidgan.runs.folder import RunFolder
from vidgan.runs.generators import generator_from_checkpoint, load_generator
from vidgan.training.cyclegan import (
    CycleGANTask,
    LossWeights,
    build_task,
)
from vidgan.training.data import ImageBank
from vidgan.training.launch import resume_training
from vidgan.training.loop import ema_decay


@pytest.fixture
def domains(tmp_path):
    a = write_images(tmp_path / "a", [(20, 30, 40), (60, 10, 10), (5, 80, 20)])
    b = write_images(tmp_path / "b", [(200, 220, 180), (250, 160, 200), (170, 240, 230)])
    return a, b


def _task(domains, ema):
    banks = {d: ImageBank(load_image_folder(p, 64), torch.device("cpu")) for d, p in zip("ab", domains)}
    return CycleGANTask(
        banks,
        GeneratorConfig.for_size(64, channels=4, res_blocks=1),
        DiscriminatorConfig(size=64, channels=4, spectral_norm=True),
        LossWeights(),
        batch_size=2, lr_g=1e-2, lr_d=1e-2, betas=(0.5, 0.999), diffaug=("translation",), device=torch.device("cpu"),
        ema=ema,
    )


def test_averaged_generators_follow_the_moving_average_formula(domains):
    torch.manual_seed(0)
    task = _task(domains, ema=0.9)
    assert "generators_ema" in task.modules  # so it is checkpointed and restored
    average = [p.clone() for p in task.averaged.parameters()]
    for step in range(3):
        task.train_step(step, 3)
        decay = ema_decay(step, 0.9)
        average = [decay * a + (1 - decay) * p for a, p in zip(average, task.generators.parameters())]
        for expected, actual in zip(average, task.averaged.parameters()):
            torch.testing.assert_close(actual, expected)
    assert ema_decay(0, 0.9) == pytest.approx(0.1) and ema_decay(10**6, 0.9) == 0.9
    raw, averaged = list(task.generators.parameters()), list(task.averaged.parameters())
    assert any(not torch.allclose(r, a) for r, a in zip(raw, averaged))
    assert not any(p.requires_grad for p in averaged)


def test_spectral_norm_replaces_instance_norm_and_bounds_every_convolution():
    for kind in ("patch", "dc"):
        discriminator = build_discriminator(DiscriminatorConfig(size=32, kind=kind, channels=4, spectral_norm=True))
        convolutions = [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
        assert convolutions and all(parametrize.is_parametrized(c, "weight") for c in convolutions)
        assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in discriminator.modules())
        for _ in range(30):  # power iterations converge on the largest singular value
            discriminator(torch.randn(2, 3, 32, 32))
        for conv in convolutions:
            assert torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2).item() == pytest.approx(1.0, abs=0.05)
    plain = build_discriminator(DiscriminatorConfig(size=32, channels=4))
    assert not any(parametrize.is_parametrized(m, "weight") for m in plain.modules() if isinstance(m, torch.nn.Conv2d))


def test_load_generator_prefers_the_averaged_weights(domains, tmp_path):
    out = tmp_path / "run"
    tiny_cyclegan(*domains, out, iters=2, ema=0.5, spectral_norm=True, upsample="transpose")
    checkpoint = load_checkpoint(out / "checkpoints" / "latest.pt")
    generators = {"generators_ema": load_generator(out, "a2b"), "generators": generator_from_checkpoint(checkpoint, "a2b", averaged=False)}
    for key, generator in generators.items():
        for name, value in generator.state_dict().items():
            torch.testing.assert_close(value, checkpoint["models"][key][f"a2b.{name}"])
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert not torch.allclose(generators["generators_ema"](x), generators["generators"](x))
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in generators["generators"].modules())


def test_runs_from_before_the_levers_still_load_and_resume(domains, tmp_path):
    out = tmp_path / "old"
    tiny_cyclegan(*domains, out, iters=2, gen="resnet", ema=0, spectral_norm=False, disc_layers=3, disc_channels=64)
    run = RunFolder(out)
    config = json.loads(run.config_path.read_text())
    keys = ("gen", "generator", "downsamplings", "ema", "spectral_norm", "upsample", "lr_g", "lr_d", "diffaug_policy", "disc_layers",
            "disc_channels", "discriminator", "working_scale", "crop", "full_res_skip", "attention")
    for key in keys:
        del config[key]
    config["versions"]["vidgan"] = "0.1.0"  # the options this run records are those of vidgan 0.1
    run.config_path.write_text(json.dumps(config))
    latest = out / "checkpoints" / "latest.pt"
    checkpoint = load_checkpoint(latest)
    assert "generators_ema" not in checkpoint["models"]
    del checkpoint["arch"]["discriminator"]["spectral_norm"]
    torch.save(checkpoint, latest)
    assert load_generator(latest, "b2a")(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 64, 64)
    assert resume_training(out, iters=3, device="cpu", quiet=True).step == 3


@pytest.mark.parametrize("gen", ["resnet", "unet"])
def test_defaults_train_at_128_px(tmp_path, gen):
    a = write_images(tmp_path / "a", [(10, 20, 30), (40, 10, 90)], size=128)
    b = write_images(tmp_path / "b", [(220, 200, 90), (250, 240, 200)], size=128)
    result = tiny_cyclegan(a, b, tmp_path / "run", iters=2, holdout=0, gen=gen)  # every other option at its default
    assert result.step == 2
    assert load_generator(tmp_path / "run", "a2b")(torch.zeros(1, 3, 128, 128)).shape == (1, 3, 128, 128)


@pytest.mark.parametrize("gen", ["resnet", "unet"])
def test_downsamplings_sets_the_generators_bottleneck(domains, tmp_path, gen):
    tiny_cyclegan(*domains, tmp_path / "run", iters=1, gen=gen, downsamplings=1)
    generator = load_generator(tmp_path / "run", "a2b")
    assert generator.config.downsamplings == 1
    strided = [m for m in generator.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == 1  # one 64 → 32 px stage: the bottleneck is 32 × 32
    assert generator(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def test_the_default_generator_is_a_unet_with_residual_blocks_at_16px_and_cycle_weight_5(domains, tmp_path):
    tiny_cyclegan(*domains, tmp_path / "run", iters=1, res_blocks=2)
    generator = load_generator(tmp_path / "run", "a2b")
    assert isinstance(generator, UnetGenerator)
    blocks = [m for m in generator.bottleneck if isinstance(m, ResidualBlock)]
    assert len(blocks) == 2
    seen = []
    blocks[0].register_forward_hook(lambda module, inputs, output: seen.append(output.shape))
    assert generator(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 64, 64)
    assert seen == [(1, 8, 16, 16)]  # width 2C = 8 at 64 / 2**2 px
    # The input's full-resolution features reach the output layer beside the decoder's: C + C channels at 64 px.
    assert generator.stem is not None and generator.out[0].in_channels == 2 * 4
    assert not any(isinstance(m, SelfAttention) for m in generator.modules())
    # The default cycle weight and the 4-layer patch D of width 32 are what the run records (and what --resume trains
    # with).
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["cycle_weight"], config["disc_layers"], config["disc_channels"]) == (5.0, 4, 32)


def test_full_res_skip_can_be_turned_off_and_is_refused_for_resnets(domains, tmp_path):
    tiny_cyclegan(*domains, tmp_path / "run", iters=1, full_res_skip=False)
    generator = load_generator(tmp_path / "run", "a2b")
    assert generator.stem is None and generator.out[0].in_channels == 4
    with pytest.raises(UsageError, match="--full-res-skip is for --gen unet"):
        tiny_cyclegan(*domains, tmp_path / "resnet", iters=1, gen="resnet", full_res_skip=True)


def test_unet_runs_from_before_the_generator_record_resume_as_they_were_built(domains, tmp_path):
    # vidgan 0.1 built U-Nets down to 4×4 with no residual blocks, whatever --res-blocks said.
    out = tmp_path / "old"
    tiny_cyclegan(*domains, out, iters=2, gen="unet", downsamplings=4, full_res_skip=False, res_blocks=0)
    run = RunFolder(out)
    config = json.loads(run.config_path.read_text())
    del config["generator"], config["downsamplings"]
    config["versions"]["vidgan"] = "0.1.0"  # which recorded neither
    run.config_path.write_text(json.dumps({**config, "res_blocks": 3}))
    assert resume_training(out, iters=3, device="cpu", quiet=True).step == 3
    checkpoint = load_checkpoint(out / "checkpoints" / "latest.pt")
    del checkpoint["arch"]["generator"]["full_res_skip"]  # nor did their checkpoints record this field
    generator = generator_from_checkpoint(checkpoint, "a2b")
    assert len(generator.bottleneck) == 0 and generator.stem is None


def test_self_attention_starts_as_identity_and_reaches_across_the_whole_map():
    torch.manual_seed(0)
    attention = SelfAttention(16)
    x = torch.randn(1, 16, 16, 16)
    torch.testing.assert_close(attention(x), x)  # gamma = 0: a new generator is its convolutional self
    with torch.no_grad():
        attention.gamma.fill_(1.0)
    moved = x.clone()
    moved[..., 0, 0] += 5.0  # change one corner only
    assert not torch.allclose(attention(moved)[..., 15, 15], attention(x)[..., 15, 15])  # the far corner notices


@pytest.mark.parametrize("gen", ["resnet", "unet"])
def test_attention_and_a_deeper_narrower_patch_discriminator_train_and_are_recorded(domains, tmp_path, gen):
    out = tmp_path / "run"
    tiny_cyclegan(*domains, out, iters=2, gen=gen, attention=True, disc_layers=4, disc_channels=6)
    config = json.loads((out / "config.json").read_text())
    assert config["generator"]["attention"] and (config["disc_layers"], config["disc_channels"]) == (4, 6)
    generator = load_generator(out, "a2b")
    assert sum(isinstance(m, SelfAttention) for m in generator.modules()) == 1
    assert generator(torch.zeros(1, 3, 64, 96)).shape == (1, 3, 64, 96)  # wider frames than the training crop
    discriminator = build_task(config, torch.device("cpu")).discriminators["a"]  # as --resume rebuilds it
    assert discriminator(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 4, 4)  # one score per 78-px patch
    widths = [m.out_channels for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert widths == [6, 12, 24, 48, 1]
    assert resume_training(out, iters=3, device="cpu", quiet=True).step == 3


@pytest.mark.parametrize(
    "option, message",
    [
        ({"ema": 1.0}, "--ema"),
        ({"upsample": "bilinear"}, "--upsample"),
        ({"diffaug_policy": "color,blur"}, "--diffaug-policy"),
        ({"downsamplings": 0}, "--downsamplings"),
        ({"downsamplings": 5}, "--downsamplings must be from 1 to 4 at 64 px"),  # 64 px halved 5 times is 2 px
        ({"res_blocks": -1}, "--res-blocks must be 0 or more"),
        ({"disc_layers": 5}, "--disc-layers must be from 1 to 4 at 64 px"),  # 64 px halved 5 times is 2 px
        ({"disc": "dc", "disc_layers": 4}, "--disc-layers is for --disc patch"),
        ({"disc_channels": 0}, "--disc-channels must be at least 1"),
    ],
)
def test_bad_lever_values_are_usage_errors(domains, tmp_path, option, message):
    with pytest.raises(UsageError, match=message):
        tiny_cyclegan(*domains, tmp_path / "run", iters=1, **option)
