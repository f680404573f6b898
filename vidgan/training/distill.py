"""Distilling a trained run's generators into small students (`vidgan distill RUN --out STUDENT`).

Each distilled direction gets a student of the teacher's family and depth at a smaller width, trained on the
teacher's training images (its working scale, crops, augmentation and split) to reproduce the teacher: L1 to the
teacher's output, the distance of the student's intermediate features, mapped to the teacher's widths by learned
1×1 convolutions, to the teacher's, and the least-squares adversarial loss against a discriminator started from
the teacher run's. This is the distillation half of GAN Compression (Li et al., CVPR 2020); its architecture
search is left out: the student's width and depth are options.

The student folder is a run of its own kind ("distill"): its checkpoints hold the students as a CycleGAN's hold
its generators, so render, translate, export and eval load them alike, and RUN/teacher.pt keeps the teacher's
weights for the distilled directions, so the student resumes and is judged against the teacher it learned from
even when the teacher's run trains on.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import make_grid

from vidgan.core.devices import autocast, fast_layout, resolve_precision
from vidgan.core.directions import DIRECTIONS, Direction
from vidgan.core.errors import UsageError
from vidgan.core.options import one_of
from vidgan.io.batches import to_uint8
from vidgan.models.arch import DiscriminatorConfig, GeneratorConfig
from vidgan.models.cyclegan import build_discriminator, build_generator, feature_taps
from vidgan.runs.checkpoints import load_latest_checkpoint, save_checkpoint, weights_digest
from vidgan.runs.folder import RunFolder
from vidgan.runs.generators import generator_from_checkpoint, load_teachers
from vidgan.runs.kinds import model_kind, translating_kinds
from vidgan.runs.plots import domain_term, domain_totals
from vidgan.runs.splits import load_split, save_split
from vidgan.training.data import ImageBank, diff_augment
from vidgan.training.launch import check_new_run, start_training
from vidgan.training.loop import TrainResult, ema_decay, update_average
from vidgan.training.losses import lsgan_loss
from vidgan.training.options import DistillOptions
from vidgan.training.translation import SAMPLE_COLUMNS, training_banks

KIND = DistillOptions.kind


class FeatureTaps:
    """The outputs of a network's named submodules at its last forward pass, in the order named."""

    def __init__(self, network: nn.Module, names: list[str]) -> None:
        self.outputs: dict[str, torch.Tensor] = {}
        modules = dict(network.named_modules())
        for name in names:
            modules[name].register_forward_hook(self._keep(name))
        self.names = names

    def _keep(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            self.outputs[name] = output

        return hook

    def features(self) -> list[torch.Tensor]:
        return [self.outputs[name] for name in self.names]


def tap_pairs(teacher: nn.Module, student: nn.Module) -> tuple[list[str], list[str]]:
    """The layers whose features the student learns to match, as (teacher's names, student's names) of the same
    resolution in the same order; a student without bottleneck blocks matches the decoder's stages only."""
    ours, theirs = feature_taps(student), feature_taps(teacher)
    if len(ours) != len(theirs):
        ours, theirs = ours[-min(len(ours), len(theirs)) :], theirs[-min(len(ours), len(theirs)) :]
    return theirs, ours


def student_config(teacher: GeneratorConfig, options: DistillOptions) -> GeneratorConfig:
    """The student's generator: the teacher's family, depth and upsampling at the student's width and bottleneck.
    Self-attention is left out: its reach is global, which keeps a tiled render from being exact and costs the
    student more than its convolutions at 720p."""
    return replace(teacher, channels=options.width or max(1, teacher.channels // 4), res_blocks=options.res_blocks, attention=False)


class DistillTask:
    """Students (one per direction), their 1×1 feature maps and discriminators, and their optimisation step.
    The teachers are frozen and run without gradients."""

    kind = KIND

    def __init__(
        self,
        teachers: dict[str, nn.Module],
        banks: dict[str, ImageBank],
        student: GeneratorConfig,
        discriminator: DiscriminatorConfig,
        discriminator_weights: dict[str, dict[str, torch.Tensor]],
        options: DistillOptions,
        *,
        diffaug: tuple[str, ...],
        device: torch.device,
    ) -> None:
        self.device, self.options, self.banks, self.diffaug = device, options, banks, diffaug
        self.precision = resolve_precision(options.precision, device)
        self.directions = [Direction.parse(name) for name in teachers]
        self.teachers = {name: teacher.to(device) for name, teacher in teachers.items()}
        teacher_config = next(iter(teachers.values())).config
        self.arch = {"generator": student.to_dict(), "discriminator": discriminator.to_dict(), "teacher": teacher_config.to_dict()}
        self.students = nn.ModuleDict({d.name: build_generator(student) for d in self.directions}).to(device)
        self.taps: dict[str, tuple[FeatureTaps, FeatureTaps]] = {}
        maps = {}
        for d in self.directions:
            theirs, ours = tap_pairs(self.teachers[d.name], self.students[d.name])
            taps = (FeatureTaps(self.teachers[d.name], theirs), FeatureTaps(self.students[d.name], ours))
            self.taps[d.name] = taps
            maps[d.name] = nn.ModuleList(
                nn.Conv2d(s.shape[1], t.shape[1], 1) for t, s in zip(*self._probe(d, taps))
            )
        self.maps = nn.ModuleDict(maps).to(device)
        self.discriminators = nn.ModuleDict({d.target: build_discriminator(discriminator) for d in self.directions}).to(device)
        for domain, state in discriminator_weights.items():
            self.discriminators[domain].load_state_dict(state)
        for network in (*self.students.values(), *self.discriminators.values()):
            fast_layout(network, device)
        betas = (options.beta1, options.beta2)
        self.optimizers = {
            "generators": torch.optim.Adam([*self.students.parameters(), *self.maps.parameters()], lr=options.lr, betas=betas),
            "discriminators": torch.optim.Adam(self.discriminators.parameters(), lr=options.lr, betas=betas),
        }
        self.modules = {"generators": self.students, "maps": self.maps, "discriminators": self.discriminators}
        self.averaged = None
        if options.ema > 0:
            self.averaged = copy.deepcopy(self.students).requires_grad_(False)
            self.modules["generators_ema"] = self.averaged
        self.fixed = {d: bank.fixed(SAMPLE_COLUMNS) for d, bank in banks.items()}

    @torch.no_grad()
    def _probe(self, d: Direction, taps: tuple[FeatureTaps, FeatureTaps]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """One forward pass of teacher and student on a fixed image, for the widths of the tapped features."""
        image = self.banks[d.source].fixed(1)
        self.teachers[d.name](image)
        self.students[d.name](image)
        return taps[0].features(), taps[1].features()

    def train_step(self, step: int, total_steps: int) -> dict[str, torch.Tensor]:
        """One step of every student, then of every discriminator; returns the detached loss terms, each per the
        domain it translates into (recon_b: the a→b student's L1 to its teacher; feature_b, g_adv_b, d_real_b,
        d_fake_b likewise) and summed over the directions."""
        weights = self.options
        terms: dict[str, torch.Tensor] = {}
        made = {}
        self.discriminators.requires_grad_(False)
        with autocast(self.device, self.precision):
            loss_g = torch.zeros((), device=self.device)
            for d in self.directions:
                real = self.banks[d.source].batch(self.options.batch_size)
                teacher_taps, student_taps = self.taps[d.name]
                with torch.no_grad():
                    target = self.teachers[d.name](real)
                made[d.target] = output = self.students[d.name](real)
                recon = F.l1_loss(output, target)
                pairs = zip(self.maps[d.name], teacher_taps.features(), student_taps.features())
                feature = torch.stack([F.mse_loss(to_teacher(ours), theirs) for to_teacher, theirs, ours in pairs]).mean()
                terms[domain_term("recon", d.target)], terms[domain_term("feature", d.target)] = recon, feature
                loss_g = loss_g + weights.recon_weight * recon + weights.feature_weight * feature
                if weights.gan_weight > 0:
                    adversarial = lsgan_loss(self._judge(d.target, output), True)
                    terms[domain_term("g_adv", d.target)] = adversarial
                    loss_g = loss_g + weights.gan_weight * adversarial
        self.optimizers["generators"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimizers["generators"].step()
        if self.averaged is not None:
            update_average(self.averaged, self.students, ema_decay(step, self.options.ema))
        if weights.gan_weight > 0:
            self.discriminators.requires_grad_(True)
            with autocast(self.device, self.precision):
                loss_d = torch.zeros((), device=self.device)
                for domain, fake in made.items():
                    real = self.banks[domain].batch(self.options.batch_size)
                    terms[domain_term("d_real", domain)] = d_real = lsgan_loss(self._judge(domain, real), True)
                    terms[domain_term("d_fake", domain)] = d_fake = lsgan_loss(self._judge(domain, fake.detach()), False)
                    loss_d = loss_d + 0.5 * (d_real + d_fake)
            self.optimizers["discriminators"].zero_grad(set_to_none=True)
            loss_d.backward()
            self.optimizers["discriminators"].step()
        totals = domain_totals(terms, ("recon", "feature", "g_adv", "d_real", "d_fake"))
        return {name: value.detach().float() for name, value in {**terms, **totals}.items()}

    def _judge(self, domain: str, images: torch.Tensor) -> torch.Tensor:
        return self.discriminators[domain](diff_augment(images, self.diffaug) if self.diffaug else images)

    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        """Rows per direction: the real images, the teacher's translations, the student's (averaged weights if kept)."""
        students = self.students if self.averaged is None else self.averaged
        columns = min(len(images) for images in self.fixed.values())
        rows = []
        for d in self.directions:
            real = self.fixed[d.source][:columns]
            rows += [real, self.teachers[d.name](real), students[d.name](real)]
        return make_grid(to_uint8(torch.cat(rows)), nrow=columns, padding=2)


def teacher_directions(checkpoint: dict[str, Any], asked: str, source: Path) -> list[Direction]:
    """The directions to distil: those asked (`both` or `auto`: every one the teacher's checkpoint holds)."""
    held = {key.split(".", 1)[0] for key in checkpoint["models"]["generators"]}
    available = [d for d in DIRECTIONS if d.name in held]
    if asked in ("auto", "both"):
        if asked == "both" and len(available) < len(DIRECTIONS):
            raise UsageError(f"--direction both: {source} translates {available[0].name} only")
        return available
    wanted = Direction.parse(asked)
    if wanted not in available:
        raise UsageError(f"--direction {asked}: {source} does not translate {asked}")
    return [wanted]


def save_teacher(run: RunFolder, checkpoint: dict[str, Any], directions: list[Direction]) -> str:
    """Keep the teacher's inference weights for `directions` in the student's folder; returns their digest."""
    teachers = {d.name: generator_from_checkpoint(checkpoint, d) for d in directions}
    save_checkpoint(
        run.teacher_path, kind=checkpoint["kind"], step=int(checkpoint["step"]), arch={"generator": checkpoint["arch"]["generator"]},
        modules={"generators": nn.ModuleDict(teachers)},
    )
    return weights_digest(nn.ModuleDict(teachers))


def train_distill(options: DistillOptions) -> TrainResult:
    """Distil the run `options.teacher` into a student run in `options.out`. UsageError (before any work) for bad
    options or a teacher that cannot be distilled (not a CycleGAN, or without the asked direction)."""
    options.validate()
    check_new_run(options.out)
    teacher_run = RunFolder(Path(options.teacher).resolve())
    checkpoint = load_latest_checkpoint(teacher_run.root)
    kind = model_kind(checkpoint["kind"], teacher_run.root)
    if not kind.directions or kind.name == KIND:
        kinds = one_of(translating_kinds())
        raise UsageError(f"{teacher_run.root}: holds a {kind.name} run; vidgan distills runs that translate ({kinds})")
    teacher_config = teacher_run.read_config()
    directions = teacher_directions(checkpoint, options.direction, teacher_run.root)
    run = RunFolder(options.out)
    run.create()
    splits = load_split(teacher_run.split_path)
    if splits is not None:  # the teacher's held-out images stay held out
        save_split(run.split_path, splits, teacher_config["holdout"], teacher_config["seed"])
    teacher_options = kind.options_type.from_config(teacher_config)
    student = student_config(GeneratorConfig(**checkpoint["arch"]["generator"]), options)
    options = replace(options, teacher=teacher_run.root, width=student.channels)
    resolved = {
        "directions": [d.name for d in directions],
        "teacher_step": int(checkpoint["step"]),
        "teacher_digest": save_teacher(run, checkpoint, directions),
        "teacher_config": {k: v for k, v in teacher_config.items() if k != "versions"},
        "generator": student.to_dict(),
        "discriminator": checkpoint["arch"]["discriminator"],
        "working_scale": teacher_config["working_scale"],
        # what eval reads of a translating run: the image folders and the geometry the networks trained at
        "a_dir": str(teacher_options.a_dir), "b_dir": str(teacher_options.b_dir),
        "size": teacher_config["size"], "crop": teacher_config.get("crop"),
    }
    return start_training(options, build_task, resolved)


def build_task(config: dict[str, Any], device: torch.device) -> DistillTask:
    """The task a student run's config describes: its teachers from RUN/teacher.pt, the teacher run's training
    images, and the teacher's discriminators to start from (a new run; a resumed one loads its own)."""
    options = DistillOptions.from_config(config)
    run = RunFolder(options.out)
    teachers = load_teachers(run, config, device)
    teacher_config = config["teacher_config"]
    teacher_options = model_kind(teacher_config["kind"]).options_type.from_config(teacher_config)
    banks = training_banks(teacher_options, teacher_config, device, load_split(run.split_path))
    discriminator_weights = {}
    if Path(options.teacher).is_dir():
        checkpoint = load_latest_checkpoint(Path(options.teacher))
        state = checkpoint["models"]["discriminators"]
        for name in config["directions"]:
            target = Direction.parse(name).target
            weights = {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(f"{target}.")}
            if weights:  # a teacher without a discriminator of that domain leaves the student's to start afresh
                discriminator_weights[target] = weights
    diffaug = tuple(teacher_options.diffaug_policy.split(",")) if teacher_options.diffaug else ()
    return DistillTask(
        teachers, banks, GeneratorConfig(**config["generator"]), DiscriminatorConfig(**config["discriminator"]),
        discriminator_weights, options, diffaug=diffaug, device=device,
    )
