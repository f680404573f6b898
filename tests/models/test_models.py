"""CycleGAN network shapes at both training sizes."""

import pytest
import torch

from vidgan.models.cyclegan import (
    DiscriminatorConfig,
    GeneratorConfig,
    ResnetGenerator,
    build_discriminator,
)


@pytest.mark.parametrize("size", [64, 128])
def test_generator_keeps_image_shape(size):
    generator = ResnetGenerator(GeneratorConfig.for_size(size, channels=4, res_blocks=1))
    x = torch.rand(2, 3, size, size) * 2 - 1
    y = generator(x)
    assert y.shape == x.shape
    assert y.abs().max() <= 1.0  # tanh output, same range as the inputs


def test_128_adds_a_sampling_stage_and_width():
    small, large = GeneratorConfig.for_size(64), GeneratorConfig.for_size(128)
    assert large.downsamplings == small.downsamplings + 1
    assert large.channels > small.channels
    strided = lambda g: sum(1 for m in g.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2))
    assert strided(ResnetGenerator(large)) == strided(ResnetGenerator(small)) + 1


@pytest.mark.parametrize("upsample", ["resize", "transpose"])
def test_generator_is_fully_convolutional(upsample):
    generator = ResnetGenerator(GeneratorConfig(size=64, channels=4, res_blocks=1, upsample=upsample))
    assert generator(torch.zeros(1, 3, 64, 112)).shape == (1, 3, 64, 112)


@pytest.mark.parametrize("size", [64, 128])
def test_discriminators(size):
    x = torch.rand(3, 3, size, size)
    patch = build_discriminator(DiscriminatorConfig(size=size, kind="patch", channels=8))(x)
    assert patch.shape[:2] == (3, 1) and patch.shape[2] == size // 8  # one score per patch
    dc = build_discriminator(DiscriminatorConfig(size=size, kind="dc", channels=8))(x)
    assert dc.shape == (3, 1)  # one score per image
