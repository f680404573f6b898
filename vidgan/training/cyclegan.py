"""CycleGAN training on two unpaired image domains (video frames from `extract`, or any two image folders)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import make_grid

from vidgan.core.devices import autocast, resolve_precision
from vidgan.core.directions import DIRECTIONS, DOMAINS, Direction
from vidgan.io.batches import to_uint8
from vidgan.models.cyclegan import (
    DiscriminatorConfig,
    GeneratorConfig,
    build_discriminator,
    build_generator,
)
from vidgan.runs.plots import domain_term, domain_totals
from vidgan.training.data import ImageBank
from vidgan.training.loop import TrainResult
from vidgan.training.losses import lsgan_loss
from vidgan.training.options import CycleGANOptions
from vidgan.training.translation import (
    TaskSettings,
    TranslationTask,
    start_translation_run,
    task_settings,
    translation_data,
)


@dataclass(frozen=True)
class LossWeights:
    cycle: float = CycleGANOptions.cycle_weight  # 0 trains without cycle-consistency
    identity: float = CycleGANOptions.identity_weight
    temporal: float = 0.0  # 0 trains without the temporal-consistency term


class CycleGANTask(TranslationTask):
    """Two generators (a2b, b2a), two discriminators (one judging each domain), and their optimisation step; the
    rest (optimizers, weight average, DDP, the discriminators' step) is TranslationTask's."""

    kind = CycleGANOptions.kind

    def __init__(
        self,
        banks: dict[str, ImageBank],
        generator: GeneratorConfig,
        discriminator: DiscriminatorConfig,
        weights: LossWeights,
        **settings: Any,
    ) -> None:
        """`settings`: the fields of TaskSettings (batch_size, lr_g, lr_d, betas, diffaug, device, …); the temporal
        term is weighted by weights.temporal."""
        super().__init__(
            banks,
            nn.ModuleDict({d.name: build_generator(generator) for d in DIRECTIONS}),
            nn.ModuleDict({d: build_discriminator(discriminator) for d in banks}),
            {"generator": generator.to_dict(), "discriminator": discriminator.to_dict()},
            TaskSettings(**settings),
        )
        self.weights = weights

    def train_step(self, step: int, total_steps: int) -> dict[str, torch.Tensor]:
        """One step of both generators, then both discriminators; returns the detached loss terms.

        Every term is logged per domain (`domain_term`: the domain whose images it measures) and summed over the
        two as before: g_adv_b is how D_b scores the a→b translations, cycle_a the L1 of a→b→a against a,
        identity_b the L1 of a→b applied to b against b, temporal_b how far the a→b translations flicker as a's images
        move (vidgan.training.temporal, either form), d_real_b and d_fake_b D_b's loss on b's photos
        and on translations into b; g_adv = g_adv_a + g_adv_b, and so on."""
        real = self._start_step(step, total_steps)
        self.discriminators.requires_grad_(False)
        with autocast(self.device, self.precision):  # forward passes only; backward follows the forward's dtypes
            fake = {d.target: self._generate(d.name, real[d.source]) for d in DIRECTIONS}
            terms: dict[str, torch.Tensor] = {}
            for d in DIRECTIONS:
                terms.update(self._generator_terms(d, real, fake))
            totals = domain_totals(terms, ("g_adv", "cycle", "identity", "temporal"))
            loss_g = totals["g_adv"]
            for name in ("cycle", "identity", "temporal"):
                if name in totals:
                    loss_g = loss_g + getattr(self.weights, name) * totals[name]
        self._generator_update(step, loss_g)
        terms.update(self._discriminator_update(real, fake))
        totals.update(domain_totals(terms, ("d_real", "d_fake")))
        shares = {domain_term(total, d): terms[domain_term(total, d)] for total in totals for d in DOMAINS}
        return {name: value.detach().float() for name, value in {**shares, **totals}.items()}

    def _generator_terms(
        self, d: Direction, real: dict[str, torch.Tensor], fake: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Direction d's generator terms: fool the target domain's discriminator, come back through the reverse
        generator (cycle-consistency, when weighted), leave images already in the target domain alone (identity,
        when weighted), and translate moving images without flicker (temporal, when weighted: `temporal_term`)."""
        terms = {domain_term("g_adv", d.target): lsgan_loss(self._judge(d.target, fake[d.target]), True)}
        if self.weights.cycle > 0:
            round_trip = self._generate(d.reverse.name, fake[d.target])
            terms[domain_term("cycle", d.source)] = F.l1_loss(round_trip, real[d.source])
        if self.weights.identity > 0:
            kept = self._generate(d.name, real[d.target])
            terms[domain_term("identity", d.target)] = F.l1_loss(kept, real[d.target])
        if self.weights.temporal > 0:
            translate = partial(self._generate, d.name)
            terms[domain_term("temporal", d.target)] = self.temporal_term(d, translate, real[d.source], fake[d.target])
        return terms

    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        """Rows: real a, a→b, a→b→a, real b, b→a, b→a→b (same fixed images every time; averaged weights if kept)."""
        generators = self._sample_generators()
        columns = min(len(images) for images in self.fixed.values())
        rows = []
        for d in DIRECTIONS:
            real = self.fixed[d.source][:columns]
            translated = generators[d.name](real)
            rows += [real, translated, generators[d.reverse.name](translated)]
        return make_grid(to_uint8(torch.cat(rows)), nrow=columns, padding=2)


def train_cyclegan(options: CycleGANOptions) -> TrainResult:
    """Train a CycleGAN from scratch into the run folder `options.out` (vidgan.training.translation.start_translation_run)."""
    return start_translation_run(options, build_task)


def build_task(config: dict[str, Any], device: torch.device) -> CycleGANTask:
    """The task a run config describes (in its current form: vidgan.runs.config)."""
    options = CycleGANOptions.from_config(config)
    banks, temporal_term = translation_data(options, config, device)
    return CycleGANTask(
        banks,
        GeneratorConfig(**config["generator"]),
        DiscriminatorConfig(**config["discriminator"]),
        LossWeights(cycle=options.cycle_weight, identity=options.identity_weight, temporal=options.temporal_weight),
        temporal_term=temporal_term,
        **task_settings(options, device, resolve_precision(options.precision, device)),
    )
