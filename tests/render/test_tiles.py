"""--tile N: tiled inference with whole-frame instance-norm statistics (vidgan.render.tiles)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA
from PIL import Image

from vidgan.core.errors import UsageError, VidganError
from vidgan.io.batches import to_float, to_uint8
from vidgan.models.cyclegan import GeneratorConfig, build_generator
from vidgan.render import tiles
from vidgan.render.tiles import (
    ACTIVATION_HEADROOM,
    TiledGenerator,
    activation_bytes_per_pixel,
    auto_tile,
    check_tile,
    fixed_statistics,
    instance_norms,
    spans,
    whole_frame_statistics,
)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two generator outputs in [-1, 1], as the 8-bit images they become."""
    mse = (to_uint8(a).float() - to_uint8(b).float()).square().mean().item()
    return 10 * np.log10(255**2 / max(mse, 1e-10))


def cats(names: range) -> torch.Tensor:
    folder = SHARED_DATA / "cats" / "grumpy"
    images = [np.asarray(Image.open(folder / f"{i}.png").convert("RGB")) for i in names]
    return to_float(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2))


@pytest.fixture(scope="module")
def frame() -> torch.Tensor:
    """A 1×3×128×192 working-scale frame: six cat photos the generator was not fitted on."""
    six = cats(range(100, 106))
    return torch.cat([torch.cat(list(six[:3]), dim=2), torch.cat(list(six[3:]), dim=2)], dim=1)[None]


@pytest.fixture(scope="module")
def trained_unet() -> torch.nn.Module:
    """vidgan's default kind of generator (a U-Net with a full-resolution skip), fitted for 40 steps to a colour
    grade of 64-px cat photos: trained weights, in seconds."""
    torch.manual_seed(0)
    generator = build_generator(GeneratorConfig.for_size(64, channels=8, res_blocks=1, kind="unet", full_res_skip=True))
    images = cats(range(64))
    optimiser = torch.optim.Adam(generator.parameters(), 2e-3)
    for _ in range(40):
        batch = images[torch.randint(0, len(images), (4,))]
        target = (torch.stack([batch[:, 2], batch[:, 0], batch[:, 1]], dim=1) * 0.8 + 0.1).clamp(-1, 1)
        loss = (generator(batch) - target).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return generator.eval().requires_grad_(False)


def test_tile_sizes_are_checked():
    assert check_tile(0, 4) == 0 and check_tile(64, 4) == 64
    for bad in (7, -1, -8):
        with pytest.raises(UsageError, match="--tile must be 0 .* multiple of the generator's stride 4"):
            check_tile(bad, 4)
    generator = build_generator(GeneratorConfig.for_size(64, channels=4, res_blocks=1))
    with pytest.raises(UsageError, match="--tile 0 means no tiles"):
        TiledGenerator(generator, 0)
    with pytest.raises(UsageError, match="overlap"):
        TiledGenerator(generator, 32, overlap=32)


@pytest.mark.parametrize("length, tile, overlap", [(192, 64, 16), (200, 96, 24), (128, 64, 32), (64, 96, 24)])
def test_spans_cover_the_side_with_weights_that_sum_to_one(length, tile, overlap):
    parts = spans(length, tile, overlap, stride=4)
    total = torch.zeros(length)
    for part in parts:
        assert part.start % 4 == 0 and part.stop - part.start == min(tile, length)
        total[part.start : part.stop] += part.weights
    assert torch.allclose(total, torch.ones(length), atol=1e-6)
    assert [p.core_start for p in parts][0] == 0 and parts[-1].core_stop == length
    assert all(a.core_stop == b.core_start and a.start <= b.core_start < a.stop for a, b in zip(parts, parts[1:]))
    assert all(part.core_start % 4 == 0 for part in parts)
    if len(parts) > 1:  # the pixels next to a tile's inner edge carry no weight
        assert parts[0].weights[-1] == 0 and parts[1].weights[0] == 0


def test_fixed_statistics_equal_to_the_frames_own_reproduce_the_untiled_output(frame):
    torch.manual_seed(1)
    generator = build_generator(GeneratorConfig.for_size(64, channels=4, res_blocks=1)).eval()
    norms = instance_norms(generator)
    own = []
    def record(_module, inputs):
        own.append((inputs[0].mean((0, 2, 3)), inputs[0].var((0, 2, 3), unbiased=False)))

    hooks = [n.register_forward_pre_hook(record) for n in norms]
    with torch.inference_mode():
        plain = generator(frame)
        for hook in hooks:
            hook.remove()
        with fixed_statistics(norms, own):
            fixed = generator(frame)
    assert (fixed - plain).abs().max() < 1e-4
    assert all(n.running_mean is None and not n.track_running_stats for n in norms)  # restored


def test_statistics_from_tiles_are_the_whole_frames(frame):
    torch.manual_seed(2)
    generator = build_generator(GeneratorConfig.for_size(64, channels=4, res_blocks=1)).eval()
    seen = []
    hooks = [n.register_forward_pre_hook(lambda m, i: seen.append(i[0].double())) for n in instance_norms(generator)]
    with torch.inference_mode():
        generator(frame)
        for hook in hooks:
            hook.remove()
        grid = [(r, c) for r in spans(128, 64, 32, 4) for c in spans(192, 64, 32, 4)]
        norms, statistics = whole_frame_statistics(generator, frame, grid, batch=4)
    assert len(norms) == len(seen) == 7  # stem, 2 down, 1 block (2), 2 up
    errors = []
    for features, (mean, variance) in zip(seen, statistics):
        true_mean, true_variance = features.mean((0, 2, 3)), features.var((0, 2, 3), unbiased=False)
        errors.append(max(((mean - true_mean).abs() / true_variance.sqrt()).max(), (variance / true_variance - 1).abs().max()))
    # The cores lie 16 px inside the tiles: the stem's, the encoder's and the residual block's inputs there are
    # exactly the untiled ones; the decoder's see a little of the tiles' padding (random weights reach far).
    assert max(errors[:5]) < 1e-5
    assert max(errors) < 0.01


def test_tiled_equals_untiled_within_45_db_on_a_trained_generator(frame, trained_unet, monkeypatch):
    with torch.inference_mode():
        untiled = trained_unet(frame)
        tiled = TiledGenerator(trained_unet, 64)(frame)  # 6 tiles, 16 px overlap
        # Each tile normalised with its own statistics instead of the frame's:
        monkeypatch.setattr(tiles, "whole_frame_statistics", lambda *args: ([], []))
        per_tile = TiledGenerator(trained_unet, 64)(frame)
    assert tiled.shape == untiled.shape
    assert psnr(tiled, untiled) >= 45
    assert psnr(per_tile, untiled) < 40


def test_a_frame_no_larger_than_the_tile_runs_untiled(frame, trained_unet):
    with torch.inference_mode():
        assert torch.equal(TiledGenerator(trained_unet, 192)(frame), trained_unet(frame))


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
    tile = auto_tile(generator, 1024, 2048, 4, cpu, tiles=4)
    assert tile % generator.stride == 0 and 4 * tile**2 * per_pixel <= 4 * 512 * 512 * per_pixel
    assert tile > 512 - generator.stride
    monkeypatch.setattr(tiles, "free_memory", lambda device: 1000)
    with pytest.raises(VidganError, match="not enough free memory"):
        auto_tile(generator, 1024, 2048, 4, cpu)
