"""CycleGAN training on two unpaired image domains (video frames from `extract`, or any two image folders)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import make_grid

from vidgan.core import distributed
from vidgan.core.devices import autocast, fast_layout, resolve_precision
from vidgan.core.directions import DIRECTIONS, DOMAINS, Direction
from vidgan.core.errors import UsageError
from vidgan.io.batches import to_uint8
from vidgan.io.images import detect_image_size, list_images
from vidgan.io.pairs import has_frame_pairs
from vidgan.models.cyclegan import (
    DiscriminatorConfig,
    GeneratorConfig,
    build_discriminator,
    build_generator,
)
from vidgan.runs.images import load_training_images
from vidgan.runs.plots import domain_term, domain_totals
from vidgan.runs.splits import DomainSplit
from vidgan.training.data import ImageBank, diff_augment, short_side
from vidgan.training.launch import check_new_run, start_training, training_split
from vidgan.training.loop import TrainResult, ema_decay, update_average
from vidgan.training.losses import lsgan_loss
from vidgan.training.options import CycleGANOptions
from vidgan.training.temporal import FramesTerm, TemporalTerm, equivariance_term, load_frame_pairs, paired_images

SAMPLE_COLUMNS = 8


@dataclass(frozen=True)
class LossWeights:
    cycle: float = CycleGANOptions.cycle_weight  # 0 trains without cycle-consistency
    identity: float = CycleGANOptions.identity_weight
    temporal: float = 0.0  # 0 trains without the temporal-consistency term


class ImagePool:
    """A history of generated images for the discriminator (Shrivastava et al. 2017): once the pool is full, each
    new image is swapped for a random stored one half the time, so D also judges what G made a while ago.

    Its contents are not checkpointed: a resumed run starts with an empty pool and refills it within
    capacity / batch size steps.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.stored: torch.Tensor | None = None
        self.count = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = images.detach()
        if self.capacity == 0:
            return images
        if self.stored is None:
            self.stored = images.new_empty((self.capacity, *images.shape[1:]))
        shown = images.clone()
        for i, image in enumerate(images):
            if self.count < self.capacity:
                self.stored[self.count] = image
                self.count += 1
            elif torch.rand(()) < 0.5:
                j = int(torch.randint(self.capacity, ()))
                shown[i] = self.stored[j]
                self.stored[j] = image
        return shown


def linear_decay(step: int, total_steps: int, decay_from: int | None) -> float:
    """Learning-rate factor: 1 until `decay_from`, then falling linearly to 0 at `total_steps` (None: always 1)."""
    if decay_from is None or step < decay_from:
        return 1.0
    return max(0.0, (total_steps - step) / (total_steps - decay_from))


class CycleGANTask:
    """Two generators (a2b, b2a), two discriminators (one judging each domain), and their optimisation step.

    With `ema` > 0 it also keeps an exponential moving average of the generators' weights ("generators_ema",
    checkpointed beside them), which draws the sample grids and is what eval, translate and render load.
    """

    kind = CycleGANOptions.kind

    def __init__(
        self,
        banks: dict[str, ImageBank],
        generator: GeneratorConfig,
        discriminator: DiscriminatorConfig,
        weights: LossWeights,
        *,
        batch_size: int,
        lr_g: float,
        lr_d: float,
        betas: tuple[float, float],
        diffaug: tuple[str, ...],
        device: torch.device,
        pool: int = 0,
        lr_decay_from: int | None = None,
        precision: torch.dtype = torch.float32,
        compile: bool = False,
        ema: float = 0.0,
        temporal_term: TemporalTerm = equivariance_term,
    ) -> None:
        self.banks = banks
        self.device = device
        self.precision = precision  # forward passes autocast to this dtype; weights and optimizers stay float32
        self.weights = weights
        self.batch_size = batch_size
        self.diffaug = diffaug  # DiffAugment ops applied to every D input; () = off
        self.base_lrs = {"generators": lr_g, "discriminators": lr_d}
        self.lr_decay_from = lr_decay_from
        self.ema = ema
        self.pools = {d: ImagePool(pool) for d in banks}
        self.temporal_term = temporal_term  # weighted by weights.temporal
        self.arch = {"generator": generator.to_dict(), "discriminator": discriminator.to_dict()}
        self.generators = nn.ModuleDict({d.name: build_generator(generator) for d in DIRECTIONS}).to(device)
        self.discriminators = nn.ModuleDict({d: build_discriminator(discriminator) for d in banks}).to(device)
        for network in (*self.generators.values(), *self.discriminators.values()):
            fast_layout(network, device)
        self.averaged = None
        if ema > 0:  # copied before compiling: the average is only run for sample grids
            self.averaged = copy.deepcopy(self.generators).requires_grad_(False)
        if compile:
            for network in (*self.generators.values(), *self.discriminators.values()):
                network.compile()  # in place: parameter names, and so checkpoints, stay as they are
        fused = device.type == "cuda"  # one kernel per parameter group instead of one per tensor
        self.optimizers = {
            "generators": torch.optim.Adam(self.generators.parameters(), lr=lr_g, betas=betas, fused=fused),
            "discriminators": torch.optim.Adam(self.discriminators.parameters(), lr=lr_d, betas=betas, fused=fused),
        }
        self.modules = {"generators": self.generators, "discriminators": self.discriminators}
        if self.averaged is not None:
            self.modules["generators_ema"] = self.averaged
        # Training calls go through these: under torchrun they average each pair's gradients over the ranks.
        self._generate = distributed.replicate(self.generators)
        self._discriminate = distributed.replicate(self.discriminators)
        self.fixed = {d: bank.fixed(SAMPLE_COLUMNS) for d, bank in banks.items()}

    def _judge(self, domain: str, images: torch.Tensor) -> torch.Tensor:
        return self._discriminate(domain, diff_augment(images, self.diffaug) if self.diffaug else images)

    def train_step(self, step: int, total_steps: int) -> dict[str, torch.Tensor]:
        """One step of both generators, then both discriminators; returns the detached loss terms.

        Every term is logged per domain (`domain_term`: the domain whose images it measures) and summed over the
        two as before: g_adv_b is how D_b scores the a→b translations, cycle_a the L1 of a→b→a against a,
        identity_b the L1 of a→b applied to b against b, temporal_b how far the a→b translations flicker as a's images
        move (vidgan.training.temporal, either form), d_real_b and d_fake_b D_b's loss on b's photos
        and on translations into b; g_adv = g_adv_a + g_adv_b, and so on."""
        # The rate is a function of the step alone, so a resumed run continues the schedule with no extra state.
        factor = linear_decay(step, total_steps, self.lr_decay_from)
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = self.base_lrs[name] * factor
        real = {d: bank.batch(self.batch_size) for d, bank in self.banks.items()}

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
        self.optimizers["generators"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimizers["generators"].step()
        if self.averaged is not None:
            update_average(self.averaged, self.generators, ema_decay(step, self.ema))

        # Discriminators: score real images of their domain as 1 and the generators' images (fresh, or from the
        # history pool) as 0. Both domains' real images are judged before any fakes: the order of DiffAugment's
        # and the pool's random draws is part of what a seed reproduces.
        self.discriminators.requires_grad_(True)
        with autocast(self.device, self.precision):
            for d in DOMAINS:
                terms[domain_term("d_real", d)] = lsgan_loss(self._judge(d, real[d]), True)
            for d in DOMAINS:
                terms[domain_term("d_fake", d)] = lsgan_loss(self._judge(d, self.pools[d](fake[d])), False)
            totals.update(domain_totals(terms, ("d_real", "d_fake")))
            loss_d = 0.5 * (totals["d_real"] + totals["d_fake"])
        self.optimizers["discriminators"].zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimizers["discriminators"].step()
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
        generators = self.generators if self.averaged is None else self.averaged
        columns = min(len(images) for images in self.fixed.values())
        rows = []
        for d in DIRECTIONS:
            real = self.fixed[d.source][:columns]
            translated = generators[d.name](real)
            rows += [real, translated, generators[d.reverse.name](translated)]
        return make_grid(to_uint8(torch.cat(rows)), nrow=columns, padding=2)


def train_cyclegan(options: CycleGANOptions) -> TrainResult:
    """Train a CycleGAN from scratch into the run folder `options.out` (for `iters` steps or `minutes`); returns
    where it ended. UsageError (before any work) for bad options; VidganError for unreadable image folders.

    With `crop`, the run trains on random crop×crop windows of the whole images at their own scale, which it
    records as `working_scale` (their short side); without, on the images scaled to the training size, which is
    then its working scale."""
    options.validate()
    check_new_run(options.out)
    a_dir, b_dir = Path(options.a_dir).resolve(), Path(options.b_dir).resolve()
    paired = all(has_frame_pairs(folder) for folder in (a_dir, b_dir))
    options = replace(options, a_dir=a_dir, b_dir=b_dir).resolved(detect_image_size(a_dir), paired)
    if _uses_frame_pairs(options):
        for folder in (a_dir, b_dir):
            paired_images(folder, (path.name for path in list_images(folder)))
    working_scale = options.size
    if options.crop is not None:
        working_scale = short_side(a_dir)
        if options.crop > working_scale:
            raise UsageError(f"--crop {options.crop} is larger than the images in {a_dir} (short side {working_scale} px)")
    resolved = {
        "generator": options.generator().to_dict(),
        "discriminator": options.discriminator().to_dict(),
        "working_scale": working_scale,
    }
    return start_training(options, build_task, resolved)


def build_task(config: dict[str, Any], device: torch.device) -> CycleGANTask:
    """The task a run config describes (in its current form: vidgan.runs.config)."""
    options = CycleGANOptions.from_config(config)
    folders = {"a": options.a_dir, "b": options.b_dir}
    splits = training_split(options, folders)
    scale = config["working_scale"] if options.crop is not None else None
    banks = training_banks(options, config, device, splits)
    return CycleGANTask(
        banks,
        GeneratorConfig(**config["generator"]),
        DiscriminatorConfig(**config["discriminator"]),
        LossWeights(cycle=options.cycle_weight, identity=options.identity_weight, temporal=options.temporal_weight),
        batch_size=options.batch_size,
        lr_g=options.lr_g or options.lr,
        lr_d=options.lr_d or options.lr,
        betas=(options.beta1, options.beta2),
        diffaug=tuple(options.diffaug_policy.split(",")) if options.diffaug else (),
        device=device,
        pool=options.pool,
        lr_decay_from=options.lr_decay_from,
        precision=resolve_precision(options.precision, device),
        compile=options.compile,
        ema=options.ema,
        temporal_term=_temporal_term(options, folders, splits, scale),
    )


def training_banks(
    options: CycleGANOptions, config: dict[str, Any], device: torch.device, splits: dict[str, DomainSplit] | None
) -> dict[str, ImageBank]:
    """Each domain's training images (the training share of `splits`, or all) as the run trains on them: squares of
    its size, or with --crop whole frames at its working scale; under torchrun each rank holds its own share."""
    scale = config["working_scale"] if options.crop is not None else None
    banks = {}
    for d, folder in {"a": options.a_dir, "b": options.b_dir}.items():
        images = load_training_images(folder, None if splits is None else splits[d], options.size, working_scale=scale)
        banks[d] = ImageBank(distributed.shard(images, folder), device, options.aug, crop=options.crop)
    return banks


def _uses_frame_pairs(options: CycleGANOptions) -> bool:
    """Whether the run trains with the consecutive-frames form of the temporal term (on extract's frame pairs)."""
    return options.temporal_weight > 0 and options.temporal_form == "frames"


def _temporal_term(
    options: CycleGANOptions, folders: dict[str, Path], splits: dict[str, DomainSplit] | None, scale: int | None
) -> TemporalTerm:
    """The run's temporal term: equivariance, or with --temporal-form frames a FramesTerm on the pairs of the training
    images (a held-out image's pair would show training its neighbourhood) at their geometry (`scale`: whole frames
    at that working scale, else options.size squares)."""
    if not _uses_frame_pairs(options):
        return equivariance_term
    pairs = {}
    for d, folder in folders.items():
        names = [path.name for path in list_images(folder)] if splits is None else splits[d].train
        pairs[d] = load_frame_pairs(folder, names, scale or options.size, whole=scale is not None)
    return FramesTerm(pairs, options.crop or options.size)
