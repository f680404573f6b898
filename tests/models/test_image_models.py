"""Networks and training steps of the image models: shapes at every size, finite losses, WGAN-GP, DiffAugment,
the CycleGAN image pool and learning-rate decay. Tiny networks on random images; no run folders."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import vidgan.training.gan as gan_pipeline
from vidgan.models.cyclegan import (
    DCDiscriminator,
    DiscriminatorConfig,
    GeneratorConfig,
    ResnetGenerator,
    UnetGenerator,
    build_generator,
)
from vidgan.models.dcgan import DCGenerator, DCGeneratorConfig
from vidgan.models.mlp_gan import MLPConfig, MLPDiscriminator, MLPGenerator
from vidgan.models.vae import VAE, VAEConfig
from vidgan.training.cyclegan import build_task as build_cyclegan_task
from vidgan.training.data import ImageBank
from vidgan.training.gan import build_task as build_gan_task
from vidgan.training.losses import gradient_penalty
from vidgan.training.options import CycleGANOptions, DCGANOptions, MLPGANOptions, VAEOptions
from vidgan.training.translation import ImagePool, linear_decay
from vidgan.training.vae import build_task as build_vae_task

CPU = torch.device("cpu")


@pytest.mark.parametrize("size", [16, 32, 64, 128])
@pytest.mark.parametrize("image_channels", [1, 3])
def test_dcgan_and_vae_shapes_at_every_size(size, image_channels):
    generator = DCGenerator(DCGeneratorConfig(size=size, noise_dim=5, channels=4, image_channels=image_channels))
    images = generator(torch.randn(2, 5))
    assert images.shape == (2, image_channels, size, size)
    assert images.abs().max() <= 1  # tanh
    critic = DCDiscriminator(DiscriminatorConfig(size=size, kind="dc", channels=4, image_channels=image_channels))
    assert critic(images).shape == (2, 1)
    vae = VAE(VAEConfig(size=size, image_channels=image_channels, channels=4, latent_dim=6))
    reconstruction, mean, log_var = vae(images)
    assert reconstruction.shape == images.shape and mean.shape == log_var.shape == (2, 6)


def test_dcgan_128_has_one_more_stage_than_64():
    def transposed(size: int) -> int:
        generator = DCGenerator(DCGeneratorConfig(size=size, channels=4))
        return sum(isinstance(m, torch.nn.ConvTranspose2d) for m in generator.modules())

    assert transposed(128) == transposed(64) + 1


@pytest.mark.parametrize("size", [16, 28])
def test_mlp_gan_shapes(size):
    config = MLPConfig(size=size, image_channels=1, noise_dim=5, hidden=8)
    images = MLPGenerator(config)(torch.randn(3, 5))
    assert images.shape == (3, 1, size, size)
    assert MLPDiscriminator(config)(images).shape == (3, 1)


@pytest.mark.parametrize("size", [64, 128])
def test_unet_generator_shapes_and_skip_connections(size):
    config = GeneratorConfig.for_size(size, channels=4, res_blocks=1, kind="unet")
    generator = build_generator(config)
    assert isinstance(generator, UnetGenerator)
    assert generator(torch.zeros(1, 3, size, size)).shape == (1, 3, size, size)
    assert generator.stride == size // 16  # down to 16×16 by default
    # Fully convolutional: non-square inputs whose sides are multiples of the stride work (render needs this).
    assert generator(torch.zeros(1, 3, size, 2 * size)).shape == (1, 3, size, 2 * size)


def test_generator_config_without_kind_loads_as_resnet():
    old_record = {"size": 64, "channels": 4, "res_blocks": 1, "downsamplings": 2, "upsample": "resize", "image_channels": 3}
    assert isinstance(build_generator(GeneratorConfig(**old_record)), ResnetGenerator)


def test_gradient_penalty_is_nonzero_and_differentiable():
    torch.manual_seed(0)
    critic = DCDiscriminator(DiscriminatorConfig(size=16, kind="dc", channels=4))
    real, fake = torch.rand(4, 3, 16, 16) * 2 - 1, torch.rand(4, 3, 16, 16) * 2 - 1
    penalty = gradient_penalty(critic, real, fake)
    assert penalty.item() > 0
    penalty.backward()  # reaches the critic's weights through the input gradient (create_graph=True)
    weights = [m.weight for m in critic.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in weights)


def _bank(count: int = 6, size: int = 16, channels: int = 3) -> ImageBank:
    return ImageBank(torch.randint(0, 256, (count, channels, size, size), dtype=torch.uint8), CPU, "none")


def _run_config(options) -> dict:
    """The config.json of a run started with `options` (images handed over by no_folder_loading)."""
    return {**options.to_config(), "kind": options.kind}


def _gan_config(kind: str, **changes) -> dict:
    options_type = DCGANOptions if kind == "dcgan" else MLPGANOptions
    options = {
        "size": 16, "channels_in": 3, "noise_dim": 5, "channels": 4, "loss": "lsgan", "critic_steps": 1, "batch_size": 3,
        "lr_g": 1e-3, "lr_d": 1e-3, "data": Path("unused"), "aug": "none", "holdout": 0.0,
    }  # fmt: skip
    return _run_config(options_type(**{**options, **changes}))


@pytest.fixture
def no_folder_loading(monkeypatch):
    """build_task functions read image folders (through vidgan.runs.images); hand them random images instead."""
    images = torch.randint(0, 256, (6, 3, 64, 64), dtype=torch.uint8)

    def fake_load(folder, size, channels=3):
        return torch.nn.functional.interpolate(images[:, :channels].float(), size=(size, size)).to(torch.uint8)

    monkeypatch.setattr("vidgan.runs.images.load_image_folder", fake_load)


def _assert_finite(losses: dict[str, torch.Tensor], expected: set[str]) -> None:
    assert set(losses) == expected
    for name, value in losses.items():
        assert math.isfinite(value.item()), name
        assert not value.requires_grad, name


@pytest.mark.parametrize(
    "kind, changes, expected",
    [
        ("dcgan", {"loss": "lsgan"}, {"d_real", "d_fake", "g"}),
        ("dcgan", {"loss": "bce", "diffaug": True}, {"d_real", "d_fake", "g"}),
        ("dcgan", {"loss": "wgan-gp", "critic_steps": 2}, {"d_real", "d_fake", "g", "gp"}),
        ("mlp-gan", {"loss": "bce", "channels_in": 1}, {"d_real", "d_fake", "g"}),
        ("mlp-gan", {"loss": "lsgan"}, {"d_real", "d_fake", "g"}),
    ],
)
def test_one_gan_step_gives_finite_losses_and_changes_both_networks(no_folder_loading, kind, changes, expected):
    torch.manual_seed(0)
    task = build_gan_task(_gan_config(kind, **changes), CPU)
    before = {name: [p.clone() for p in m.parameters()] for name, m in task.modules.items()}
    _assert_finite(task.train_step(0, 1), expected)
    for name, module in task.modules.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[name], module.parameters())), name
    grid = task.sample_grid()
    assert grid.dtype == torch.uint8 and grid.shape[0] == 3


def test_wgan_gp_takes_critic_steps_per_generator_step(no_folder_loading):
    task = build_gan_task(_gan_config("dcgan", loss="wgan-gp", critic_steps=3), CPU)
    task.train_step(0, 1)
    steps = {name: opt.state_dict()["state"][0]["step"].item() for name, opt in task.optimizers.items()}
    assert steps == {"discriminator": 3, "generator": 1}


def test_diffaugment_sees_real_and_fake_in_both_steps_and_keeps_gradients(no_folder_loading, monkeypatch):
    calls = []
    real_diff_augment = gan_pipeline.diff_augment

    def recording(images):
        calls.append(images.requires_grad)
        augmented = real_diff_augment(images)
        assert augmented.requires_grad == images.requires_grad  # gradients pass through the augmentation
        return augmented

    monkeypatch.setattr(gan_pipeline, "diff_augment", recording)
    task = build_gan_task(_gan_config("dcgan", diffaug=True), CPU)
    generator_grads = []
    task.generator.net[0].weight.register_hook(lambda grad: generator_grads.append(grad.abs().sum().item()))
    task.train_step(0, 1)
    # D step: real (no grad) and fake (detached), then the G step: fake with gradients back to G.
    assert calls == [False, False, True]
    assert generator_grads and generator_grads[0] > 0


@pytest.mark.parametrize("channels_in", [1, 3])
def test_one_vae_step_gives_finite_losses(no_folder_loading, channels_in):
    options = VAEOptions(
        size=16, channels_in=channels_in, channels=4, noise_dim=6, batch_size=3, data=Path("unused"), aug="mirror", holdout=0.0
    )
    task = build_vae_task(_run_config(options), CPU)
    losses = task.train_step(0, 1)
    _assert_finite(losses, {"recon", "kl"})
    assert losses["kl"].item() > 0
    grid = task.sample_grid()  # inputs, reconstructions, two rows of samples: 4 rows of 16 px + padding
    assert grid.shape == (3, 4 * 18 + 2, 6 * 18 + 2)


def _cyclegan_config(**changes) -> dict:
    options = CycleGANOptions(
        size=64, channels=4, res_blocks=1, gen="unet", disc="patch", cycle_weight=10.0, identity_weight=0.5, batch_size=2,
        lr=1e-3, diffaug=False, aug="mirror", a_dir=Path("unused"), b_dir=Path("unused"), pool=3, lr_decay_from=1, iters=3,
        holdout=0.0, ema=0.0, **changes,
    ).resolved(64)
    networks = {"generator": options.generator().to_dict(), "discriminator": options.discriminator().to_dict(), "working_scale": 64}
    return {**_run_config(options), **networks}


def test_cyclegan_unet_step_with_pool_and_lr_decay(no_folder_loading):
    task = build_cyclegan_task(_cyclegan_config(), CPU)
    assert isinstance(task.generators["a2b"], UnetGenerator)
    for step, expected_lr in [(0, 1e-3), (2, 0.5e-3)]:  # decays from step 1 to 0 at step 3
        terms = {f"{t}{d}" for t in ("g_adv", "cycle", "identity", "d_real", "d_fake") for d in ("", "_a", "_b")}
        _assert_finite(task.train_step(step, 3), terms)
        assert all(g["lr"] == pytest.approx(expected_lr) for opt in task.optimizers.values() for g in opt.param_groups)
    assert task.pools["a"].count == 3  # full after 2 steps of 2 images


def test_linear_decay_reaches_zero_at_the_end():
    assert [linear_decay(s, 10, 6) for s in (0, 5, 6, 8, 10)] == [1.0, 1.0, 1.0, 0.5, 0.0]
    assert linear_decay(9, 10, None) == 1.0


def test_image_pool_mixes_history_into_what_d_sees():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool(first), first)  # filling up: new images pass through
    shown = pool(torch.full((64, 1, 1, 1), 100.0))
    old = (shown < 100).sum().item()
    assert 0 < old <= 4  # about half the time an old image is swapped in, and each old one only once
    assert torch.equal(ImagePool(0)(first), first)
