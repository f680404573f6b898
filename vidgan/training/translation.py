"""What the models that translate between two unpaired image domains share (CycleGAN, CUT and FastCUT): starting a
run on two image folders, their image banks and temporal term, the image pool, the learning-rate schedule, and a
task base that owns the networks' placement, optimizers, weight average, DDP wrapping and discriminator step."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidgan.core import distributed
from vidgan.core.devices import autocast, fast_layout
from vidgan.core.errors import UsageError
from vidgan.io.images import detect_image_size, list_images
from vidgan.io.pairs import has_frame_pairs
from vidgan.runs.images import load_training_images
from vidgan.runs.plots import domain_term
from vidgan.runs.splits import DomainSplit
from vidgan.training.data import ImageBank, diff_augment, short_side
from vidgan.training.launch import TaskBuilder, check_new_run, start_training, training_split
from vidgan.training.loop import TrainResult, ema_decay, update_average
from vidgan.training.losses import lsgan_loss
from vidgan.training.options import TranslationOptions
from vidgan.training.temporal import FramesTerm, TemporalTerm, equivariance_term, load_frame_pairs, paired_images

SAMPLE_COLUMNS = 8


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


@dataclass(frozen=True)
class TaskSettings:
    """How a TranslationTask trains, besides its networks and losses: Adam's rates and betas for the generators
    and the discriminators, the DiffAugment ops applied to every D input (() = off), the image pool's capacity, the
    step the rates start to fall from (linear_decay), the forward passes' dtype (weights and optimizers stay
    float32), torch.compile, the weight average's decay (0: none) and the temporal term."""

    batch_size: int
    lr_g: float
    lr_d: float
    betas: tuple[float, float]
    diffaug: tuple[str, ...]
    device: torch.device
    pool: int = 0
    lr_decay_from: int | None = None
    precision: torch.dtype = torch.float32
    compile: bool = False
    ema: float = 0.0
    temporal_term: TemporalTerm = equivariance_term


class TranslationTask:
    """The part of a translation model's task (vidgan.training.loop.Trainable) that does not depend on its losses.

    `generators` (a ModuleDict: a member per direction, named "a2b"/"b2a" so that vidgan.runs.generators finds
    it, and anything else the generators' optimizer trains) and `discriminators` (a member per judged domain) are
    placed on settings.device; with settings.ema > 0 an exponential moving average of the generators' weights is kept
    ("generators_ema", checkpointed beside them), which draws the sample grids and is what eval, translate and
    render load. Training calls go through `_generate(name, x)` and `_discriminate(domain, x)`, which under torchrun
    average each network's gradients over the ranks.
    """

    def __init__(
        self,
        banks: dict[str, ImageBank],
        generators: nn.ModuleDict,
        discriminators: nn.ModuleDict,
        arch: dict[str, Any],
        settings: TaskSettings,
    ) -> None:
        self.banks = banks
        self.device = device = settings.device
        self.precision = settings.precision  # forward passes autocast to this dtype; weights and optimizers stay float32
        self.batch_size = settings.batch_size
        self.diffaug = settings.diffaug  # DiffAugment ops applied to every D input; () = off
        self.base_lrs = {"generators": settings.lr_g, "discriminators": settings.lr_d}
        self.lr_decay_from = settings.lr_decay_from
        self.ema = settings.ema
        self.pools = {d: ImagePool(settings.pool) for d in discriminators}
        self.temporal_term = settings.temporal_term
        self.arch = arch
        self.generators = generators.to(device)
        self.discriminators = discriminators.to(device)
        for network in (*self.generators.values(), *self.discriminators.values()):
            fast_layout(network, device)
        self.averaged = None
        if settings.ema > 0:  # copied before compiling: the average is only run for sample grids
            self.averaged = copy.deepcopy(self.generators).requires_grad_(False)
        if settings.compile:
            for network in (*self.generators.values(), *self.discriminators.values()):
                network.compile()  # in place: parameter names, and so checkpoints, stay as they are
        fused = device.type == "cuda"  # one kernel per parameter group instead of one per tensor
        lr_g, lr_d, betas = settings.lr_g, settings.lr_d, settings.betas
        self.optimizers = {
            "generators": torch.optim.Adam(self.generators.parameters(), lr=lr_g, betas=betas, fused=fused),
            "discriminators": torch.optim.Adam(self.discriminators.parameters(), lr=lr_d, betas=betas, fused=fused),
        }
        self.modules = {"generators": self.generators, "discriminators": self.discriminators}
        if self.averaged is not None:
            self.modules["generators_ema"] = self.averaged
        self._generate = distributed.replicate(self.generators)
        self._discriminate = distributed.replicate(self.discriminators)
        self.fixed = {d: bank.fixed(SAMPLE_COLUMNS) for d, bank in banks.items()}

    def _start_step(self, step: int, total_steps: int) -> dict[str, torch.Tensor]:
        """Set the step's learning rates and draw its batch of each domain."""
        # The rate is a function of the step alone, so a resumed run continues the schedule with no extra state.
        factor = linear_decay(step, total_steps, self.lr_decay_from)
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = self.base_lrs[name] * factor
        return {d: bank.batch(self.batch_size) for d, bank in self.banks.items()}

    def _judge(self, domain: str, images: torch.Tensor) -> torch.Tensor:
        return self._discriminate(domain, diff_augment(images, self.diffaug) if self.diffaug else images)

    def _update(self, optimizer: str, loss: torch.Tensor) -> None:
        self.optimizers[optimizer].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers[optimizer].step()

    def _generator_update(self, step: int, loss: torch.Tensor) -> None:
        """Step the generators on `loss` (the discriminators frozen meanwhile by the caller), then their average."""
        self._update("generators", loss)
        if self.averaged is not None:
            update_average(self.averaged, self.generators, ema_decay(step, self.ema))

    def _discriminator_update(self, real: dict[str, torch.Tensor], fake: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each discriminator scores real images of its domain as 1 and the generators' images (fresh, or from the
        history pool) as 0, by LSGAN; returns d_real_D and d_fake_D per judged domain D. All real images are judged
        before any fakes: the order of DiffAugment's and the pool's random draws is part of what a seed reproduces."""
        self.discriminators.requires_grad_(True)
        terms = {}
        with autocast(self.device, self.precision):
            for d in self.discriminators:
                terms[domain_term("d_real", d)] = lsgan_loss(self._judge(d, real[d]), True)
            for d in self.discriminators:
                terms[domain_term("d_fake", d)] = lsgan_loss(self._judge(d, self.pools[d](fake[d])), False)
            loss_d = 0.5 * sum(terms.values())
        self._update("discriminators", loss_d)
        return terms

    def _sample_generators(self) -> nn.ModuleDict:
        """The generators that draw sample grids: their average where kept."""
        return self.generators if self.averaged is None else self.averaged


def start_translation_run(options: TranslationOptions, build_task: TaskBuilder) -> TrainResult:
    """Train a translation model from scratch into the run folder `options.out` (for `iters` steps or `minutes`);
    returns where it ended. UsageError (before any work) for bad options; VidganError for unreadable image folders.

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


def translation_data(
    options: TranslationOptions, config: dict[str, Any], device: torch.device
) -> tuple[dict[str, ImageBank], TemporalTerm]:
    """A run's image banks (its training images of each domain; under torchrun this rank's share of them) and its
    temporal term, from its (upgraded) config."""
    folders = {"a": options.a_dir, "b": options.b_dir}
    splits = training_split(options, folders)
    scale = config["working_scale"] if options.crop is not None else None
    return training_banks(options, config, device, splits), _temporal_term(options, folders, splits, scale)


def training_banks(
    options: TranslationOptions, config: dict[str, Any], device: torch.device, splits: dict[str, DomainSplit] | None
) -> dict[str, ImageBank]:
    """Each domain's training images (the training share of `splits`, or all) as the run trains on them: squares of
    its size, or with --crop whole frames at its working scale; under torchrun each rank holds its own share."""
    scale = config["working_scale"] if options.crop is not None else None
    banks = {}
    for d, folder in {"a": options.a_dir, "b": options.b_dir}.items():
        images = load_training_images(folder, None if splits is None else splits[d], options.size, working_scale=scale)
        banks[d] = ImageBank(distributed.shard(images, folder), device, options.aug, crop=options.crop)
    return banks


def task_settings(options: TranslationOptions, device: torch.device, precision: torch.dtype) -> dict[str, Any]:
    """The TaskSettings fields a run's options give (all but the temporal term, which its data gives), by name."""
    return {
        "batch_size": options.batch_size,
        "lr_g": options.lr_g or options.lr,
        "lr_d": options.lr_d or options.lr,
        "betas": (options.beta1, options.beta2),
        "diffaug": tuple(options.diffaug_policy.split(",")) if options.diffaug else (),
        "device": device,
        "pool": options.pool,
        "lr_decay_from": options.lr_decay_from,
        "precision": precision,
        "compile": options.compile,
        "ema": options.ema,
    }


def _uses_frame_pairs(options: TranslationOptions) -> bool:
    """Whether the run trains with the consecutive-frames form of the temporal term (on extract's frame pairs)."""
    return options.temporal_weight > 0 and options.temporal_form == "frames"


def _temporal_term(
    options: TranslationOptions, folders: dict[str, Path], splits: dict[str, DomainSplit] | None, scale: int | None
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

