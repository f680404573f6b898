"""--tile N: the generator streamed stage by stage over tiles (vidgan.render.tiles) gives its untiled output."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidgan.core.errors import UsageError, VidganError
from vidgan.models.cyclegan import GeneratorConfig, build_generator
from vidgan.models.reference import ReferenceConfig, ReferenceResnetGenerator, ReferenceUnetGenerator
from vidgan.render import tiles
from vidgan.render.tiles import (
    ACTIVATION_HEADROOM,
    TiledGenerator,
    activation_bytes_per_pixel,
    auto_tile,
    check_tile,
    receptive_field,
)

# Every generator family vidgan builds or loads, 8 channels wide.
FAMILIES = {
    "unet": lambda: build_generator(GeneratorConfig.for_size(64, channels=8, res_blocks=1, kind="unet")),
    "unet, full-res skip, transposed": lambda: build_generator(
        GeneratorConfig.for_size(64, channels=8, res_blocks=1, kind="unet", full_res_skip=True, upsample="transpose")
    ),
    "unet 128, attention": lambda: build_generator(
        GeneratorConfig.for_size(128, channels=8, res_blocks=2, kind="unet", full_res_skip=True, attention=True)
    ),
    "resnet": lambda: build_generator(GeneratorConfig.for_size(64, channels=8, res_blocks=2)),
    "resnet, transposed": lambda: build_generator(GeneratorConfig.for_size(64, channels=8, res_blocks=2, upsample="transpose")),
    "reference resnet_6blocks": lambda: ReferenceResnetGenerator(ReferenceConfig("resnet_6blocks", channels=8)),
    "reference unet_128": lambda: ReferenceUnetGenerator(ReferenceConfig("unet_128", channels=8)),
}


def randomised(generator: nn.Module, seed: int = 0) -> nn.Module:
    """The generator in eval mode with random norm scales and shifts, and attention mixed in (gamma starts at 0)."""
    torch.manual_seed(seed)
    for module in generator.modules():
        if isinstance(module, nn.InstanceNorm2d) and module.affine:
            nn.init.normal_(module.weight, 1, 0.3)
            nn.init.normal_(module.bias, 0, 0.3)
        if hasattr(module, "gamma"):
            module.gamma.data.fill_(0.8)
    return generator.eval().requires_grad_(False)


def frames(n: int, height: int, width: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    smooth = torch.rand(n, 3, height // 4 + 1, width // 4 + 1, generator=generator)
    image = nn.functional.interpolate(smooth, scale_factor=4, mode="bilinear")[:, :, :height, :width]
    return (image + 0.1 * torch.randn(n, 3, height, width, generator=generator)).clamp(0, 1) * 2 - 1


@pytest.mark.parametrize("family", FAMILIES)
def test_tiled_equals_untiled_for_every_generator_family(family):
    generator = randomised(FAMILIES[family]())
    stride = generator.stride
    # Tiles of one stride (smaller than every family's receptive field) on a frame that is no multiple of them.
    tile = max(16, stride)
    height, width = (2 * stride, 3 * stride) if stride > 16 else (56, 88)
    x = frames(2, height, width)
    with torch.inference_mode():
        untiled = generator(x)
        tiled = TiledGenerator(generator, tile)(x)
    assert receptive_field(generator) is None or max(receptive_field(generator)) > tile
    assert tiled.shape == untiled.shape
    assert (tiled - untiled).abs().max() < 1e-5  # float rounding: outputs lie in [-1, 1]


def test_frame_edges_of_sides_no_multiple_of_the_stride():
    """A ResNet takes any side: 50×70 with stride 4 comes out 52×72; tiles give the same, edges included."""
    generator = randomised(FAMILIES["resnet, transposed"]())
    x = frames(1, 50, 70)
    with torch.inference_mode():
        untiled = generator(x)
        tiled = TiledGenerator(generator, 16)(x)
    assert tiled.shape == untiled.shape == (1, 3, 52, 72)
    assert (tiled - untiled).abs().max() < 1e-5


def linear_with_fixed_norms(generator: nn.Module) -> nn.Module:
    """The generator in float64 with its activations dropped and every instance norm using fixed statistics: an
    affine map of the input whose dependencies are the layers' windows alone."""
    for module in list(generator.modules()):
        for name, child in module.named_children():
            if isinstance(child, (nn.ReLU, nn.LeakyReLU, nn.Tanh)):
                setattr(module, name, nn.Identity())
            if isinstance(child, nn.InstanceNorm2d):
                child.track_running_stats = True
                child.running_mean, child.running_var = torch.zeros(child.num_features), torch.ones(child.num_features)
    return randomised(generator).double()


def probed_reach(generator: nn.Module, side: int) -> tuple[int, int]:
    """(before, after): how far outputs change before and after one perturbed input pixel, the most over the
    pixel's phases of the stride, in a side×side frame."""
    before = after = 0
    base = torch.zeros(1, 3, side, side, dtype=torch.float64)
    with torch.inference_mode():
        plain = generator(base)
        for phase in range(generator.stride):
            p = side // 2 + phase
            moved = base.clone()
            moved[:, :, p, p] = 1.0
            rows = torch.nonzero((generator(moved) - plain).abs().amax(dim=(0, 1, 3)) > 0).flatten()
            # Outputs after the pixel see it before them, and the other way round.
            before, after = max(before, int(rows.max()) - p), max(after, p - int(rows.min()))
    return before, after


@pytest.mark.parametrize("family", ["unet, full-res skip, transposed", "resnet", "reference resnet_6blocks"])
def test_receptive_field_from_the_layers_is_the_probed_one(family):
    generator = linear_with_fixed_norms(FAMILIES[family]())
    derived = receptive_field(generator)
    side = (2 * max(derived) + 4 * generator.stride) // generator.stride * generator.stride
    assert derived == probed_reach(generator, side)


def test_attention_makes_the_receptive_field_the_whole_frame():
    assert receptive_field(FAMILIES["unet 128, attention"]()) is None


def test_tiles_hold_a_tile_of_activations_at_a_time():
    """On a frame 8 tiles wide, no layer computes more than a tile's share of its output (with its margin)."""
    generator = randomised(FAMILIES["unet, full-res skip, transposed"]())
    x = frames(1, 32, 256)
    largest = 0

    def track(out: torch.Tensor) -> torch.Tensor:
        nonlocal largest
        largest = max(largest, out[0].numel())
        return out

    tiled_generator = TiledGenerator(generator, 32)
    for layer in tiled_generator._graph[1]:  # each traced layer's computation
        layer.rule.run = lambda *args, _run=layer.rule.run: track(_run(*args))
    with torch.inference_mode():
        assert (tiled_generator(x) - generator(x)).abs().max() < 1e-5
    # The densest stage, the decoder's last (16 channels with the full-res skip), in 32-px tiles with the output
    # convolution's 1-px margin; untiled, that concatenation holds 16 × 32 × 256.
    assert largest == 16 * 32 * (32 + 2)


def test_a_frame_no_larger_than_the_tile_runs_untiled():
    generator = randomised(FAMILIES["unet"]())
    x = frames(1, 64, 96)
    with torch.inference_mode():
        assert torch.equal(TiledGenerator(generator, 96)(x), generator(x))


def test_layers_tiles_do_not_know_are_named():
    class Blurry(nn.Module):
        stride = 1

        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.GELU())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    with pytest.raises(VidganError, match="cannot tile Blurry: net.1: a GELU layer, which tiles do not know"):
        TiledGenerator(Blurry(), 16)


def test_tile_sizes_are_checked():
    assert check_tile(0, 4) == 0 and check_tile(64, 4) == 64
    for bad in (7, -1, -8):
        with pytest.raises(UsageError, match="--tile must be 0 .* multiple of the generator's stride 4"):
            check_tile(bad, 4)
    with pytest.raises(UsageError, match="--tile 0 means no tiles"):
        TiledGenerator(FAMILIES["resnet"](), 0)


def test_activation_estimate_is_the_largest_layer_with_headroom():
    generator = build_generator(GeneratorConfig.for_size(64, channels=8, res_blocks=1))
    # The largest layer: the last decoder convolution, 16 channels in and 8 out at full resolution, float32.
    assert activation_bytes_per_pixel(generator) == ACTIVATION_HEADROOM * (16 + 8) * 4


def test_auto_tile_only_tiles_what_does_not_fit(monkeypatch):
    generator = build_generator(GeneratorConfig.for_size(64, channels=8, res_blocks=1))
    per_pixel = activation_bytes_per_pixel(generator)
    cpu = torch.device("cpu")
    monkeypatch.setattr(tiles, "free_memory", lambda device: 2 * 4 * 512 * 512 * per_pixel)
    assert auto_tile(generator, 512, 512, 4, cpu) == 0
    tile = auto_tile(generator, 1024, 2048, 4, cpu)
    assert tile % generator.stride == 0 and 4 * tile**2 * per_pixel <= 4 * 512 * 512 * per_pixel
    assert tile > 512 - generator.stride
    monkeypatch.setattr(tiles, "free_memory", lambda device: 1000)
    with pytest.raises(VidganError, match="not enough free memory"):
        auto_tile(generator, 1024, 2048, 4, cpu)
