"""CUT and FastCUT training (Park, Efros, Zhang, Zhu: "Contrastive Learning for Unpaired Image-to-Image
Translation", ECCV 2020): one generator a→b and one discriminator of b, with PatchNCE in place of CycleGAN's reverse
generator and cycle loss.

PatchNCE: the generator's own encoder reads the input and the output; at a few encoder layers (`patch_taps`) the
same random patch positions are taken from both, projected by a small MLP head per layer (vidgan.models.patchnce)
and compared by a contrastive loss (vidgan.training.losses.patch_nce_loss): each output patch should be most like
the input patch at its own position among all of the image's sampled patches.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import nn
from torchvision.utils import make_grid

from vidgan.core.devices import autocast, resolve_precision
from vidgan.core.directions import A2B
from vidgan.io.batches import to_uint8
from vidgan.models.arch import DiscriminatorConfig, GeneratorConfig
from vidgan.models.cyclegan import build_discriminator, build_generator, encoder_features
from vidgan.models.patchnce import PatchHeads, sample_positions
from vidgan.runs.kinds import model_kind
from vidgan.runs.plots import domain_term
from vidgan.training.data import ImageBank
from vidgan.training.loop import TrainResult
from vidgan.training.losses import lsgan_loss, patch_nce_loss
from vidgan.training.options import CUTOptions
from vidgan.training.translation import (
    TaskSettings,
    TranslationTask,
    start_translation_run,
    task_settings,
    translation_data,
)

HEADS = "patch_heads"  # the heads' name among the generators (checkpointed with them; not a direction)


def patch_taps(config: GeneratorConfig, stages: int) -> tuple[int, ...]:
    """The encoder taps PatchNCE compares (vidgan.models.cyclegan.encoder_features), for a generator of `config`
    with `stages` encoder stages: the input, each stride-2 stage, the first and last residual block — the paper's
    five layers of its ResNet (input, two downsampling convolutions, residual blocks 1 and 5) at vidgan's depths."""
    last_block = stages - int(config.attention)
    first_block = last_block - config.res_blocks + 1
    taps = {0, *range(first_block - config.downsamplings, first_block)}
    if config.res_blocks:
        taps |= {first_block, last_block}
    return tuple(sorted(taps))


Features = list[torch.Tensor]


class PatchNCE:
    """PatchNCE of a generator's output against its input, per image: the mean over the encoder layers `encode`
    gives of `patch_nce_loss` on `patches` shared positions per layer, projected by `heads`."""

    def __init__(
        self,
        encode: Callable[[torch.Tensor], Features],
        heads: Callable[[Features, list[torch.Tensor]], Features],
        patches: int,
        temperature: float,
    ) -> None:
        self.encode = encode  # images → the generator's encoder features at PatchNCE's taps
        self.heads = heads  # (features, positions) → projected unit vectors per layer (PatchHeads)
        self.patches = patches
        self.temperature = temperature

    def __call__(self, source: torch.Tensor, output: torch.Tensor, mirrored: bool = False) -> torch.Tensor:
        """N per-image losses of `output` (N × C × H × W, from the generator) against `source`; with `mirrored` the
        output was made from the mirrored source, so its features are mirrored back before comparing."""
        query = self.encode(output)
        if mirrored:
            query = [features.flip(3) for features in query]
        with torch.no_grad():  # the key side is the fixed target (the paper's code detaches it)
            key = self.encode(source)
        positions = sample_positions(key, self.patches)
        with torch.no_grad():
            key = self.heads(key, positions)
        query = self.heads(query, positions)
        return torch.stack([patch_nce_loss(q, k, self.temperature) for q, k in zip(query, key)]).mean(0)


class CUTTask(TranslationTask):
    """CUT's or FastCUT's generator a→b ("a2b"), PatchNCE heads and discriminator of b, and their optimisation step
    (the rest is TranslationTask's). The heads train with the generator (one Adam over both, as the paper's code
    uses one learning rate for both) and are checkpointed among the generators as "patch_heads"."""

    def __init__(
        self,
        banks: dict[str, ImageBank],
        generator: GeneratorConfig,
        discriminator: DiscriminatorConfig,
        options: CUTOptions,
        **settings: Any,
    ) -> None:
        """`options`: the run's (resolved) CUT or FastCUT options, for the losses' weights and PatchNCE's settings;
        `settings`: the fields of TaskSettings."""
        self.kind = options.kind
        network = build_generator(generator)
        taps = patch_taps(generator, len(network.encoder_stages()))
        with torch.no_grad():  # each tap's width, from one small probe image
            probe = torch.zeros(1, generator.image_channels, 4 * network.stride, 4 * network.stride)
            widths = tuple(features.shape[1] for features in encoder_features(network, probe, taps))
        super().__init__(
            banks,
            nn.ModuleDict({A2B.name: network, HEADS: PatchHeads(widths, options.nce_units)}),
            nn.ModuleDict({A2B.target: build_discriminator(discriminator)}),
            {"generator": generator.to_dict(), "discriminator": discriminator.to_dict(), "patch_taps": list(taps)},
            TaskSettings(**settings),
        )
        self.options = options
        # The encoder runs outside DDP's forward; its gradients still reach the generator's weights, which DDP
        # averages over the ranks in the same backward pass as those of the full forward pass.
        encode = partial(encoder_features, self.generators[A2B.name], taps=taps)
        self.nce = PatchNCE(encode, partial(self._generate, HEADS), options.nce_patches, options.nce_temperature)

    def train_step(self, step: int, total_steps: int) -> dict[str, torch.Tensor]:
        """One step of the generator and heads, then the discriminator; returns the detached loss terms.

        g_adv_b is how D_b scores the a→b translations, nce_a PatchNCE of the translations against a, nce_b (with
        --nce-identity) of a→b applied to b against b, and nce their mean (what λ_NCE weights); temporal_b how far the
        translations flicker as a's images move (vidgan.training.temporal); d_real_b and d_fake_b D_b's loss on b's
        photos and on translations. With flip-equivariance a random half of the steps translates mirrored inputs."""
        real = self._start_step(step, total_steps)
        mirrored = self.options.flip_equivariance and bool(torch.rand(()) < 0.5)
        inputs = torch.cat([real["a"], real["b"]]) if self.options.nce_identity else real["a"]
        if mirrored:
            inputs = inputs.flip(3)
        n = len(real["a"])
        self.discriminators.requires_grad_(False)
        with autocast(self.device, self.precision):
            outputs = self._generate(A2B.name, inputs)  # a→b (and b→b) in one pass: instance norm keeps images apart
            fake = outputs[:n]
            nce = self.nce(torch.cat([real["a"], real["b"]]) if self.options.nce_identity else real["a"], outputs, mirrored)
            terms = {
                domain_term("g_adv", "b"): lsgan_loss(self._judge("b", fake), True),
                domain_term("nce", "a"): nce[:n].mean(),
            }
            if self.options.nce_identity:
                terms[domain_term("nce", "b")] = nce[n:].mean()
            terms["nce"] = nce.mean()
            loss_g = self.options.gan_weight * terms["g_adv_b"] + self.options.nce_weight * terms["nce"]
            if self.options.temporal_weight > 0:
                translate = partial(self._generate, A2B.name)
                terms[domain_term("temporal", "b")] = self.temporal_term(A2B, translate, inputs[:n], fake)
                loss_g = loss_g + self.options.temporal_weight * terms["temporal_b"]
        self._generator_update(step, loss_g)
        terms.update(self._discriminator_update(real, {"b": fake}))
        return {name: value.detach().float() for name, value in terms.items()}

    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        """Rows: real a, a→b, real b, b→b (identity) (the same fixed images every time; averaged weights if kept)."""
        generator = self._sample_generators()[A2B.name]
        columns = min(len(images) for images in self.fixed.values())
        a, b = self.fixed["a"][:columns], self.fixed["b"][:columns]
        return make_grid(to_uint8(torch.cat([a, generator(a), b, generator(b)])), nrow=columns, padding=2)


def train_cut(options: CUTOptions) -> TrainResult:
    """Train a CUT, or given FastCUTOptions a FastCUT, from scratch into `options.out`
    (vidgan.training.translation.start_translation_run)."""
    return start_translation_run(options, build_task)


def build_task(config: dict[str, Any], device: torch.device) -> CUTTask:
    """The task a CUT or FastCUT run config describes."""
    options = model_kind(config["kind"]).options_type.from_config(config)
    banks, temporal_term = translation_data(options, config, device)
    return CUTTask(
        banks,
        GeneratorConfig(**config["generator"]),
        DiscriminatorConfig(**config["discriminator"]),
        options,
        temporal_term=temporal_term,
        **task_settings(options, device, resolve_precision(options.precision, device)),
    )
