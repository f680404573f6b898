"""CycleGAN training on two unpaired image domains (video frames from `extract`, or any two image folders)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import make_grid

from vidgan.core import distributed
from vidgan.core.devices import autocast, fast_layout, resolve_precision
from vidgan.core.directions import DIRECTIONS, DOMAINS, Direction
from vidgan.core.errors import UsageError, VidganError
from vidgan.io.images import detect_image_size
from vidgan.models.cyclegan import (
    GENERATOR_KINDS,
    DiscriminatorConfig,
    GeneratorConfig,
    build_discriminator,
    build_generator,
    deepest_downsamplings,
    default_downsamplings,
    stages_to_4px,
)
from vidgan.runs.generators import CYCLEGAN_KIND
from vidgan.runs.splits import check_holdout
from vidgan.training.data import (
    DIFFAUG_POLICY,
    ImageBank,
    diff_augment,
    load_training_images,
    to_uint8,
)
from vidgan.training.launch import start_training, training_split
from vidgan.training.loop import TrainResult, ema_decay, update_average
from vidgan.training.losses import lsgan_loss
from vidgan.training.plots import domain_term

KIND = CYCLEGAN_KIND
SIZES = (64, 128)
SAMPLE_COLUMNS = 8
UPSAMPLINGS = ("resize", "transpose")

# The patch D's depth: 4 stride-2 layers judge 78-px patches (the whole 64-px image) where 3 judged 38-px ones.
# Translations got harder to tell from photos on all the cats with both training seeds (README, quality push
# round 13). Runs that do not record the option were trained with 3 (DiscriminatorConfig.layers).
DEFAULT_DISC_LAYERS = 4
# Its width: half of DiscriminatorConfig.channels makes a step 0.71x as long, and the steps that buys in the same
# time brought the round trip inside target with both training seeds while the translations stayed as hard to tell
# from photos (README, quality push rounds 15 and 16). Runs that do not record it were trained with 64.
DEFAULT_DISC_CHANNELS = 32


@dataclass(frozen=True)
class LossWeights:
    # 5, not the usual 10: with the U-Net's skips the round trip stays well within target at 5, and the freed
    # weight on the adversarial term made translations harder to tell from photos (README, quality push round 8).
    cycle: float = 5.0  # 0 trains without cycle-consistency
    identity: float = 0.0


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

    kind = KIND

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
        identity_b the L1 of a→b applied to b against b, d_real_b and d_fake_b D_b's loss on b's photos and on
        translations into b; g_adv = g_adv_a + g_adv_b, and so on."""
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
            totals = self._domain_totals(terms, ("g_adv", "cycle", "identity"))
            loss_g = totals["g_adv"]
            if "cycle" in totals:
                loss_g = loss_g + self.weights.cycle * totals["cycle"]
            if "identity" in totals:
                loss_g = loss_g + self.weights.identity * totals["identity"]
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
            totals.update(self._domain_totals(terms, ("d_real", "d_fake")))
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
        generator (cycle-consistency, when weighted), and leave images already in the target domain alone
        (identity, when weighted)."""
        terms = {domain_term("g_adv", d.target): lsgan_loss(self._judge(d.target, fake[d.target]), True)}
        if self.weights.cycle > 0:
            round_trip = self._generate(d.reverse.name, fake[d.target])
            terms[domain_term("cycle", d.source)] = F.l1_loss(round_trip, real[d.source])
        if self.weights.identity > 0:
            kept = self._generate(d.name, real[d.target])
            terms[domain_term("identity", d.target)] = F.l1_loss(kept, real[d.target])
        return terms

    @staticmethod
    def _domain_totals(terms: dict[str, torch.Tensor], totals: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """Each of `totals` that `terms` holds per domain, summed over the domains (a + b)."""
        summed = {}
        for total in totals:
            shares = [terms[domain_term(total, d)] for d in DOMAINS if domain_term(total, d) in terms]
            if shares:
                summed[total] = sum(shares)
        return summed

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


def resolve_domains(data: Path | None, a: Path | None, b: Path | None) -> tuple[Path, Path]:
    """DATA/a and DATA/b, or the --a/--b folders."""
    if data is not None and (a is not None or b is not None):
        raise UsageError("give either DATA (a folder with a/ and b/) or --a and --b, not both")
    if data is not None:
        data = Path(data)
        if not data.is_dir():
            raise VidganError(f"{data}: no such data folder")
        missing = [d for d in ("a", "b") if not (data / d).is_dir()]
        if missing:
            raise VidganError(f"{data}: data folder has no {' or '.join(m + '/' for m in missing)} subfolder (needs a/ and b/)")
        return data / "a", data / "b"
    if a is None or b is None:
        raise UsageError("give a data folder (with a/ and b/) or both --a DIR and --b DIR")
    return Path(a), Path(b)


def train_cyclegan(
    a_dir: Path,
    b_dir: Path,
    out: Path,
    *,
    size: int | None = None,
    channels: int | None = None,
    gen: str = "unet",
    res_blocks: int = 3,
    downsamplings: int | None = None,
    full_res_skip: bool | None = None,
    attention: bool = False,
    disc: str = "patch",
    disc_layers: int | None = None,
    disc_channels: int = DEFAULT_DISC_CHANNELS,
    spectral_norm: bool = False,
    upsample: str = "resize",
    cycle_weight: float = LossWeights.cycle,
    identity_weight: float = LossWeights.identity,
    aug: str = "deluxe",
    diffaug: bool = True,
    diffaug_policy: str = ",".join(DIFFAUG_POLICY),
    pool: int = 0,
    lr: float = 3e-4,
    lr_g: float | None = None,
    lr_d: float | None = None,
    ema: float = 0.999,
    lr_decay_from: int | None = None,
    beta1: float = 0.5,
    beta2: float = 0.999,
    batch_size: int = 4,
    iters: int = 10000,
    seed: int = 0,
    device: str = "auto",
    precision: str = "auto",
    compile: bool = False,
    sample_every: int = 500,
    checkpoint_every: int = 1000,
    holdout: float = 0.1,
    minutes: float | None = None,
    quiet: bool = False,
) -> TrainResult:
    """Train a CycleGAN from scratch into the run folder `out` (for `iters` steps or `minutes`); returns where it ended.

    `holdout` of each domain is kept out of training for `vidgan eval` (see vidgan.runs.splits); `lr_g`/`lr_d` default
    to `lr`; `ema` > 0 keeps a moving average of the generators' weights with that decay for sampling and use."""
    config = dict(locals())
    check_holdout(holdout)
    if gen not in GENERATOR_KINDS:
        raise UsageError(f"--gen must be resnet or unet, got {gen!r}")
    if disc not in ("patch", "dc"):
        raise UsageError(f"--disc must be patch or dc, got {disc!r}")
    if disc_layers is not None and disc != "patch":
        raise UsageError("--disc-layers is for --disc patch (the dc discriminator always goes down to 4x4)")
    if pool < 0:
        raise UsageError(f"--pool must be 0 (off) or more, got {pool}")
    if upsample not in UPSAMPLINGS:
        raise UsageError(f"--upsample must be resize or transpose, got {upsample!r}")
    if not 0 <= ema < 1:
        raise UsageError(f"--ema must be a decay from 0 (off) to below 1, e.g. 0.999; got {ema}")
    unknown = [op for op in diffaug_policy.split(",") if op not in DIFFAUG_POLICY]
    if unknown or not diffaug_policy:
        raise UsageError(f"--diffaug-policy takes a comma-separated list of {', '.join(DIFFAUG_POLICY)}; got {diffaug_policy!r}")
    size = size or detect_image_size(a_dir) or 128
    if size not in SIZES:
        raise UsageError(f"--size must be 64 or 128, got {size}")
    config.update(kind=KIND, size=size, a_dir=str(Path(a_dir).resolve()), b_dir=str(Path(b_dir).resolve()), out=str(out))
    config["channels"] = channels or GeneratorConfig.for_size(size).channels
    deepest = deepest_downsamplings(size)
    if downsamplings is not None and not 1 <= downsamplings <= deepest:
        raise UsageError(f"--downsamplings must be from 1 to {deepest} at {size} px, got {downsamplings}")
    if res_blocks < 0:
        raise UsageError(f"--res-blocks must be 0 or more, got {res_blocks}")
    if disc_layers is not None and not 1 <= disc_layers <= stages_to_4px(size):
        raise UsageError(f"--disc-layers must be from 1 to {stages_to_4px(size)} at {size} px, got {disc_layers}")
    config["disc_layers"] = disc_layers or DEFAULT_DISC_LAYERS
    if disc_channels < 1:
        raise UsageError(f"--disc-channels must be 1 or more, got {disc_channels}")
    if full_res_skip and gen != "unet":
        raise UsageError("--full-res-skip is for --gen unet")
    config["downsamplings"] = downsamplings or default_downsamplings(size)
    config["generator"] = GeneratorConfig.for_size(
        size,
        channels=config["channels"],
        res_blocks=res_blocks,
        kind=gen,
        downsamplings=config["downsamplings"],
        upsample=upsample,
        full_res_skip=gen == "unet" if full_res_skip is None else full_res_skip,  # on by default for U-Nets
        attention=attention,
    ).to_dict()
    return start_training(config, build_task, device=device, quiet=quiet)


def build_task(config: dict[str, Any], device: torch.device) -> CycleGANTask:
    """The task described by a run config (older runs lack the keys of options added since, and get their defaults
    from before those options existed)."""
    decay_from = config.get("lr_decay_from")
    if decay_from is not None and not 0 <= decay_from < config["iters"]:
        raise UsageError(f"--lr-decay-from must be a step from 0 to {config['iters'] - 1} (below --iters), got {decay_from}")
    size = config["size"]
    folders = {d: Path(config[f"{d}_dir"]) for d in ("a", "b")}
    splits = training_split(config, folders)
    banks = {}
    for d, folder in folders.items():  # under torchrun, each rank trains on its own share of each domain
        images = load_training_images(folder, None if splits is None else splits[d], size)
        banks[d] = ImageBank(distributed.shard(images, config[f"{d}_dir"]), device, config["aug"])
    diffaug_policy = config.get("diffaug_policy", ",".join(DIFFAUG_POLICY))
    return CycleGANTask(
        banks,
        generator_config(config),
        DiscriminatorConfig(
            size=size,
            kind=config["disc"],
            channels=config.get("disc_channels", DiscriminatorConfig.channels),
            layers=config.get("disc_layers", DiscriminatorConfig.layers),
            spectral_norm=config.get("spectral_norm", False),
        ),
        LossWeights(cycle=config["cycle_weight"], identity=config["identity_weight"]),
        batch_size=config["batch_size"],
        lr_g=config.get("lr_g") or config["lr"],
        lr_d=config.get("lr_d") or config["lr"],
        betas=(config["beta1"], config["beta2"]),
        diffaug=tuple(diffaug_policy.split(",")) if config["diffaug"] else (),
        device=device,
        pool=config.get("pool", 0),
        lr_decay_from=decay_from,
        precision=resolve_precision(config.get("precision", "auto"), device),
        compile=config.get("compile", False),
        ema=config.get("ema", 0.0),
    )


def generator_config(config: dict[str, Any]) -> GeneratorConfig:
    """The generator a run config records; runs from before that record get what vidgan 0.1 built from the options
    (U-Nets then had no residual blocks and, before --downsamplings, went down to 4×4)."""
    if "generator" in config:
        return GeneratorConfig(**config["generator"])
    size, kind = config["size"], config.get("gen", "resnet")
    unet = kind == "unet"
    return GeneratorConfig.for_size(
        size,
        channels=config["channels"],
        res_blocks=0 if unet else config["res_blocks"],
        kind=kind,
        downsamplings=config.get("downsamplings") or (deepest_downsamplings(size) if unet else None),
        upsample=config.get("upsample", "resize"),
    )
