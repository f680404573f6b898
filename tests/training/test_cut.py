"""CUT and FastCUT: the PatchNCE loss and heads, the generators' encoder taps, and training steps on tiny models."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vidgan.models.arch import GeneratorConfig
from vidgan.models.cyclegan import build_generator, encoder_features
from vidgan.models.patchnce import PatchHeads, sample_positions
from vidgan.runs.checkpoints import load_latest_checkpoint
from vidgan.runs.generators import load_generator
from vidgan.training.cut import PatchNCE, patch_taps, train_cut
from vidgan.training.losses import patch_nce_loss
from vidgan.training.options import CUTOptions, FastCUTOptions


def unit(*shape: int, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_patch_nce_is_log_patches_for_unrelated_features_and_near_zero_for_matching_ones():
    query, key = unit(4, 256, 256, seed=1), unit(4, 256, 256, seed=2)
    unrelated = patch_nce_loss(query, key, 0.07)
    assert unrelated.shape == (4,)
    # cosine similarities of random 256-d unit vectors spread ~N(0, 1/256): log 256 plus about var/2T² ≈ 0.4
    assert torch.allclose(unrelated, torch.full((4,), math.log(256) + 0.4), atol=0.3)
    assert patch_nce_loss(key, key, 0.07).max() < 1e-3
    # each image's patches are only the others' negatives within that image: a batch of 1 gives the same values
    assert torch.allclose(patch_nce_loss(query[:1], key[:1], 0.07), unrelated[:1])


def test_patch_nce_gradients_reach_the_heads_through_the_query_only():
    heads = PatchHeads((3, 8), units=16)
    source = [torch.randn(2, 3, 8, 8), torch.randn(2, 8, 4, 4)]
    output = [(s + 0.1 * torch.randn_like(s)).requires_grad_(True) for s in source]
    positions = sample_positions(source, 10)
    assert [len(p) for p in positions] == [10, 10]  # 16 positions in the 4×4 map: 10 of them
    assert len(sample_positions(source, 64)[1]) == 16  # a map smaller than the count gives all its positions
    query, key = heads(output, positions), heads(source, positions)
    assert query[0].shape == (2, 10, 16) and torch.allclose(query[0].norm(dim=-1), torch.ones(2, 10))
    loss = sum(patch_nce_loss(q, k, 0.07).mean() for q, k in zip(query, key))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in heads.parameters())
    assert all(o.grad.abs().sum() > 0 for o in output)


def test_flip_equivariance_compares_the_mirrored_translation_with_the_unmirrored_input():
    """FastCUT translates a mirrored input half the time; its output's features are mirrored back, so that each
    query patch meets the key patch of the same place in the unmirrored input (as the paper's code does)."""
    torch.manual_seed(0)
    heads = PatchHeads((3, 3), units=16)
    nce = PatchNCE(lambda x: [x, F.avg_pool2d(x, 2)], heads, patches=24, temperature=0.07)  # a mirror-equivariant encoder
    source = torch.rand(2, 3, 8, 8) * 2 - 1
    mirrored_output = source.flip(3)  # what a generator that keeps its input makes of the mirrored input

    def loss(output: torch.Tensor, mirrored: bool) -> torch.Tensor:
        torch.manual_seed(1)  # the same patch positions every time
        return nce(source, output, mirrored)

    kept = loss(source, False)
    assert torch.allclose(loss(mirrored_output, True), kept)
    # left unmirrored, the output's patches would meet the wrong places of the input: the loss is far higher
    assert (loss(mirrored_output, False) > kept + 1).all()


@pytest.mark.parametrize("kind", ["resnet", "unet"])
def test_encoder_taps_are_the_input_the_downsampling_stages_and_the_first_and_last_blocks(kind):
    config = GeneratorConfig.for_size(32, channels=4, res_blocks=3, kind=kind, downsamplings=2)
    generator = build_generator(config)
    taps = patch_taps(config, len(generator.encoder_stages()))
    x = torch.randn(2, 3, 32, 32)
    features = encoder_features(generator, x, taps)
    assert len(taps) == 5 and features[0] is x
    assert [f.shape[-1] for f in features] == [32, 16, 8, 8, 8]
    assert [f.shape[1] for f in features] == [3, 8, 16, 16, 16] if kind == "resnet" else [3, 4, 8, 8, 8]
    # the deepest tap is the bottleneck the decoder starts from: the generator's own forward pass goes through it
    captured = []
    stage = generator.encoder_stages()[taps[-1] - 1]
    stage.register_forward_hook(lambda module, args, out: captured.append(out))
    generator(x)
    assert torch.equal(captured[0], features[-1])
    with pytest.raises(ValueError, match="encoder taps"):
        encoder_features(generator, x, (0, 99))


def write_domains(root, size=32, count=6):
    rng = np.random.default_rng(0)
    for domain, low in (("a", 0), ("b", 128)):
        (root / domain).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(low, low + 128, (size, size, 3), dtype=np.uint8)).save(root / domain / f"{i}.png")


TINY = dict(size=64, channels=4, res_blocks=1, disc_channels=4, iters=3, batch_size=2, quiet=True, device="cpu",
            sample_every=3, checkpoint_every=3)


@pytest.mark.parametrize("options_type", [CUTOptions, FastCUTOptions])
def test_cut_trains_its_terms_and_keeps_one_generator(tmp_path, options_type):
    write_domains(tmp_path, size=64)
    out = tmp_path / "run"
    result = train_cut(options_type(a_dir=tmp_path / "a", b_dir=tmp_path / "b", out=out, nce_patches=32, **TINY))
    identity = options_type is CUTOptions
    assert result.step == 3
    assert set(result.losses) == {"g_adv_b", "nce_a", "nce", "d_real_b", "d_fake_b", *(["nce_b"] if identity else [])}
    # PatchNCE starts near log(patches) (the untrained heads map features to near-random directions)
    assert 0.5 * math.log(32) < result.losses["nce"] < 2 * math.log(32)
    checkpoint = load_latest_checkpoint(out)
    assert checkpoint["kind"] == options_type.kind
    names = {name.split(".")[0] for name in checkpoint["models"]["generators"]}
    assert names == {"a2b", "patch_heads"}
    assert {name.split(".")[0] for name in checkpoint["models"]["discriminators"]} == {"b"}
    grid = np.asarray(Image.open(out / "samples" / "step_0000003.png"))
    assert grid.shape[0] == 2 + 4 * (64 + 2)  # rows: real a, a→b, real b, b→b


def test_edge_ssim_keeps_to_structure_not_colour():
    from vidgan.eval.metrics import edge_ssim_per_image, edges, ssim_grey_per_image

    rng = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 32, 32, generator=rng) * 1.2 - 0.6  # room to brighten without clipping
    brighter = x + 0.3
    assert torch.allclose(edge_ssim_per_image(x, x), torch.ones(3))
    assert torch.allclose(edge_ssim_per_image(x, brighter), torch.ones(3), atol=1e-4)
    # a negative keeps every edge where it was: edge SSIM 1, while grey SSIM finds the structure inverted
    assert torch.allclose(edge_ssim_per_image(x, -x), torch.ones(3), atol=1e-4)
    assert ssim_grey_per_image(x, -x).max() < 0
    unrelated = torch.rand(3, 3, 32, 32, generator=rng) * 2 - 1
    assert edge_ssim_per_image(x, unrelated).max() < 0.5
    step = -torch.ones(1, 3, 8, 8)
    step[..., 4:] = 1  # a straight black-to-white step: edge strength 1
    assert edges(step).max().item() == pytest.approx(1.0)


@pytest.mark.slow  # about 15 s of CPU each: a run trained, resumed, rendered, evaluated and exported
@pytest.mark.parametrize("kind", ["cut", "fastcut"])
def test_cli_trains_resumes_renders_evaluates_and_exports_a_one_sided_run(kind, tmp_path, run_cli):
    from conftest import assert_clean_failure

    from vidgan.io.video import probe_video, write_test_clip

    write_domains(tmp_path / "data", size=64, count=8)
    run = tmp_path / "run"
    tiny = ["--channels", 4, "--res-blocks", 1, "--disc-channels", 4, "--batch-size", 2, "--nce-patches", 16,
            "--checkpoint-every", 2, "--device", "cpu", "-q"]
    done = run_cli("train", kind, tmp_path / "data", "--out", run, "--iters", 2, *tiny)
    assert done.code == 0, done.stderr
    done = run_cli("train", "--out", run, "--resume", "--iters", 3, "-q")
    assert done.code == 0, done.stderr
    assert load_latest_checkpoint(run)["step"] == 3
    assert (run / "samples" / "step_0000003.png").exists() and (run / "losses.png").exists()

    clip = write_test_clip(tmp_path / "clip.mp4", width=64, height=48, fps=25, n_frames=4)
    done = run_cli("render", clip, "--run", run, "--out", tmp_path / "out.mp4", "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    assert probe_video(tmp_path / "out.mp4").frame_count == 4
    for direction in ("b2a", "both"):
        refused = run_cli("render", clip, "--run", run, "--direction", direction, "--out", tmp_path / "no.mp4", "--device", "cpu")
        assert_clean_failure(refused, f"a {kind} run translates a2b only", "trains one generator", code=2)
    assert not (tmp_path / "no.mp4").exists()

    done = run_cli("eval", "--run", run, "--classifier-steps", 2, "--c2st-repeats", 1, "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    results = json.loads((run / "eval.json").read_text())
    assert results["kind"] == kind and list(results["directions"]) == ["a2b"]
    scores = results["directions"]["a2b"]
    assert scores["cycle_l1"] is None and 0 < scores["edge_ssim"] <= 1
    assert "edges kept" in done.stderr and "cycle L1" not in done.stderr  # the one-way table has no round-trip rows

    done = run_cli("export", "--run", run, "--format", "torchscript", "--out", tmp_path / "g.pt")
    assert done.code == 0, done.stderr
    exported = torch.jit.load(str(tmp_path / "g.pt"))
    generator = load_generator(run, "a2b")
    x = torch.rand(1, 3, 64, 64)  # the export takes and gives RGB in [0, 1]
    with torch.inference_mode():
        assert torch.allclose(exported(x), (generator(x * 2 - 1) + 1) / 2, atol=1e-5)
    refused = run_cli("export", "--run", run, "--direction", "b2a", "--format", "torchscript", "--out", tmp_path / "h.pt")
    assert_clean_failure(refused, f"a {kind} run translates a2b only", "trains one generator", code=2)


def test_fastcut_trains_on_crops_with_the_temporal_term_and_a_weight_average(tmp_path):
    write_domains(tmp_path, size=80, count=4)
    out = tmp_path / "run"
    options = FastCUTOptions(a_dir=tmp_path / "a", b_dir=tmp_path / "b", out=out, crop=64, temporal_weight=1.0,
                             temporal_form="equivariance", ema=0.9, nce_patches=16, holdout=0,
                             **{**TINY, "size": None, "iters": 2})
    result = train_cut(options)
    assert result.losses["temporal_b"] > 0 and "nce_b" not in result.losses
    config = json.loads((out / "config.json").read_text())
    assert (config["working_scale"], config["size"], config["crop"]) == (80, 64, 64)
    models = load_latest_checkpoint(out)["models"]
    assert not torch.equal(models["generators_ema"]["a2b.out.0.weight"], models["generators"]["a2b.out.0.weight"])
