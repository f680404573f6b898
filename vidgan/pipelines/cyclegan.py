"""CycleGAN training on two unpaired image domains (video frames from `extract`, or any two image folders)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import make_grid

from vidgan.checkpoints import load_checkpoint, load_latest_checkpoint
from vidgan.data import ImageBank, diff_augment, load_image_folder, to_uint8
from vidgan.devices import resolve_device
from vidgan.errors import UsageError, VidganError
from vidgan.images import detect_image_size
from vidgan.models.cyclegan import (
    DiscriminatorConfig,
    GeneratorConfig,
    ResnetGenerator,
    build_discriminator,
)
from vidgan.runs import RunFolder
from vidgan.training import TrainResult, restore, train_loop

KIND = "cyclegan"
SIZES = (64, 128)
# Each direction maps a source domain to a target domain; the losses below loop over both.
DIRECTIONS = (("a", "b"), ("b", "a"))
SAMPLE_COLUMNS = 8


@dataclass(frozen=True)
class LossWeights:
    cycle: float = 10.0  # 0 trains without cycle-consistency
    identity: float = 0.0


def lsgan_loss(scores: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    """Least-squares GAN loss: push scores to 1 for real, 0 for fake."""
    return F.mse_loss(scores, torch.full_like(scores, 1.0 if target_is_real else 0.0))


class CycleGANTask:
    """Two generators (a2b, b2a), two discriminators (one judging each domain), and their optimisation step."""

    kind = KIND

    def __init__(
        self,
        banks: dict[str, ImageBank],
        generator: GeneratorConfig,
        discriminator: DiscriminatorConfig,
        weights: LossWeights,
        *,
        batch_size: int,
        lr: float,
        betas: tuple[float, float],
        diffaug: bool,
        device: torch.device,
    ) -> None:
        self.banks = banks
        self.weights = weights
        self.batch_size = batch_size
        self.diffaug = diffaug
        self.arch = {"generator": generator.to_dict(), "discriminator": discriminator.to_dict()}
        self.generators = nn.ModuleDict({f"{s}2{t}": ResnetGenerator(generator) for s, t in DIRECTIONS}).to(device)
        self.discriminators = nn.ModuleDict({d: build_discriminator(discriminator) for d in banks}).to(device)
        fused = device.type == "cuda"  # one kernel per parameter group instead of one per tensor
        self.optimizers = {
            "generators": torch.optim.Adam(self.generators.parameters(), lr=lr, betas=betas, fused=fused),
            "discriminators": torch.optim.Adam(self.discriminators.parameters(), lr=lr, betas=betas, fused=fused),
        }
        self.modules = {"generators": self.generators, "discriminators": self.discriminators}
        self.fixed = {d: bank.fixed(SAMPLE_COLUMNS) for d, bank in banks.items()}

    def _judge(self, domain: str, images: torch.Tensor) -> torch.Tensor:
        return self.discriminators[domain](diff_augment(images) if self.diffaug else images)

    def train_step(self, step: int, total_steps: int) -> dict[str, torch.Tensor]:
        real = {d: bank.batch(self.batch_size) for d, bank in self.banks.items()}

        # 1. Generators: fool the target domain's discriminator, come back through the other generator
        #    (cycle-consistency), and leave images already in the target domain alone (identity).
        self.discriminators.requires_grad_(False)
        fake = {t: self.generators[f"{s}2{t}"](real[s]) for s, t in DIRECTIONS}
        loss_adv = sum(lsgan_loss(self._judge(t, fake[t]), True) for _, t in DIRECTIONS)
        loss_g = loss_adv
        losses = {"g_adv": loss_adv}
        if self.weights.cycle > 0:
            loss_cycle = sum(F.l1_loss(self.generators[f"{t}2{s}"](fake[t]), real[s]) for s, t in DIRECTIONS)
            loss_g = loss_g + self.weights.cycle * loss_cycle
            losses["cycle"] = loss_cycle
        if self.weights.identity > 0:
            loss_identity = sum(F.l1_loss(self.generators[f"{s}2{t}"](real[t]), real[t]) for s, t in DIRECTIONS)
            loss_g = loss_g + self.weights.identity * loss_identity
            losses["identity"] = loss_identity
        self.optimizers["generators"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimizers["generators"].step()

        # 2. Discriminators: score real images of their domain as 1 and the generators' images as 0.
        self.discriminators.requires_grad_(True)
        loss_d_real = sum(lsgan_loss(self._judge(d, real[d]), True) for d in self.banks)
        loss_d_fake = sum(lsgan_loss(self._judge(d, fake[d].detach()), False) for d in self.banks)
        loss_d = 0.5 * (loss_d_real + loss_d_fake)
        self.optimizers["discriminators"].zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimizers["discriminators"].step()

        losses.update(d_real=loss_d_real, d_fake=loss_d_fake)
        return {name: value.detach() for name, value in losses.items()}

    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        """Rows: real a, a→b, a→b→a, real b, b→a, b→a→b (same fixed images every time)."""
        columns = min(len(images) for images in self.fixed.values())
        rows = []
        for s, t in DIRECTIONS:
            real = self.fixed[s][:columns]
            translated = self.generators[f"{s}2{t}"](real)
            rows += [real, translated, self.generators[f"{t}2{s}"](translated)]
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
    res_blocks: int = 6,
    disc: str = "patch",
    cycle_weight: float = 10.0,
    identity_weight: float = 0.0,
    aug: str = "mirror",
    diffaug: bool = False,
    lr: float = 2e-4,
    beta1: float = 0.5,
    beta2: float = 0.999,
    batch_size: int = 4,
    iters: int = 10000,
    seed: int = 0,
    device: str = "auto",
    sample_every: int = 500,
    checkpoint_every: int = 1000,
    quiet: bool = False,
) -> TrainResult:
    """Train a CycleGAN from scratch into the run folder `out`; returns where it ended."""
    config = dict(locals())
    run = RunFolder(out)
    if run.has_checkpoint():
        raise UsageError(f"{out}: run folder already has checkpoints (use --resume, or another --out)")
    _check_positive(iters=iters, batch_size=batch_size, sample_every=sample_every, checkpoint_every=checkpoint_every)
    if disc not in ("patch", "dc"):
        raise UsageError(f"--disc must be patch or dc, got {disc!r}")
    size = size or detect_image_size(a_dir) or 128
    if size not in SIZES:
        raise UsageError(f"--size must be 64 or 128, got {size}")
    config.update(kind=KIND, size=size, a_dir=str(Path(a_dir).resolve()), b_dir=str(Path(b_dir).resolve()), out=str(out))
    config["channels"] = channels = channels or GeneratorConfig.for_size(size).channels
    task, torch_device = _build_task(config, device)
    run.create()
    run.write_config(config)
    return train_loop(task, run, iters=iters, sample_every=sample_every, checkpoint_every=checkpoint_every, quiet=quiet)


def resume_cyclegan(out: Path, *, iters: int | None = None, device: str = "auto", quiet: bool = False) -> TrainResult:
    """Continue a run from its newest good checkpoint, with the options it was started with (and optionally more steps)."""
    run = RunFolder(out)
    config = run.read_config()
    if config.get("kind", KIND) != KIND:
        raise VidganError(f"{out}: holds a {config['kind']} run, not a CycleGAN")
    if iters is not None:
        _check_positive(iters=iters)
        config["iters"] = iters
        run.write_config({k: v for k, v in config.items() if k != "versions"})
    task, torch_device = _build_task(config, device)
    start = restore(task, run, torch_device)
    run.truncate_metrics(start)
    return train_loop(
        task,
        run,
        iters=config["iters"],
        sample_every=config["sample_every"],
        checkpoint_every=config["checkpoint_every"],
        start_step=start,
        quiet=quiet,
    )


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def _build_task(config: dict[str, Any], device: str) -> tuple[CycleGANTask, torch.device]:
    torch_device = resolve_device(device)
    torch.manual_seed(config["seed"])
    size = config["size"]
    banks = {
        "a": ImageBank(load_image_folder(config["a_dir"], size), torch_device, config["aug"]),
        "b": ImageBank(load_image_folder(config["b_dir"], size), torch_device, config["aug"]),
    }
    task = CycleGANTask(
        banks,
        GeneratorConfig.for_size(size, channels=config["channels"], res_blocks=config["res_blocks"]),
        DiscriminatorConfig(size=size, kind=config["disc"]),
        LossWeights(cycle=config["cycle_weight"], identity=config["identity_weight"]),
        batch_size=config["batch_size"],
        lr=config["lr"],
        betas=(config["beta1"], config["beta2"]),
        diffaug=config["diffaug"],
        device=torch_device,
    )
    return task, torch_device


def load_generator(source: Path, direction: str = "a2b", device: torch.device | str = "cpu") -> ResnetGenerator:
    """A trained generator from a run folder (its newest checkpoint) or a checkpoint file, ready for inference."""
    source = Path(source)
    if direction not in ("a2b", "b2a"):
        raise UsageError(f"--direction must be a2b or b2a, got {direction!r}")
    checkpoint = load_latest_checkpoint(source) if source.is_dir() else load_checkpoint(source)
    if checkpoint["kind"] != KIND:
        raise VidganError(f"{source}: holds a {checkpoint['kind']} model, which cannot translate images (need a CycleGAN run)")
    generator = ResnetGenerator(GeneratorConfig(**checkpoint["arch"]["generator"]))
    prefix = f"{direction}."
    weights = {k[len(prefix):]: v for k, v in checkpoint["models"]["generators"].items() if k.startswith(prefix)}
    generator.load_state_dict(weights)
    return generator.to(device).eval().requires_grad_(False)
