"""`vidgan eval` and `vidgan eval-video`: measure quality offline, always beside baselines.

No pretrained feature network can be had offline, so `vidgan eval` judges a CycleGAN run with small CNNs
trained here from scratch on the run's own images: a domain classifier (real a vs real b) scores
translations, and a fresh classifier per direction tries to tell translations from real target images (the
classifier two-sample test, C2ST). Classes are always drawn in balanced batches and accuracies are balanced
(the mean of the per-class accuracies). Runs that make images from noise (dcgan, mlp-gan, vae) are measured
by vidgan.eval.samples with the same classifiers. `vidgan eval-video` measures flicker with
vidgan.render.temporal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import zip_longest
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.table import Table

from vidgan.core.devices import resolve_device
from vidgan.core.directions import DIRECTIONS
from vidgan.core.errors import UsageError, VidganError
from vidgan.core.fsutil import write_text_atomic
from vidgan.core.progress import make_progress, warn
from vidgan.eval.metrics import (
    balanced_accuracy,
    colour_distance,
    l1_per_image,
    mse_per_image,
    psnr,
    ssim_grey_per_image,
)
from vidgan.io.sequences import open_clip
from vidgan.models.classifier import BinaryClassifier, ClassifierConfig
from vidgan.render.temporal import MotionTracker, WarpErrorMeter
from vidgan.runs.checkpoints import load_latest_checkpoint
from vidgan.runs.folder import RunFolder
from vidgan.runs.generators import CYCLEGAN_KIND as KIND
from vidgan.runs.generators import generator_from_checkpoint
from vidgan.runs.splits import load_split
from vidgan.training.data import (
    augment,
    load_image_files,
    load_image_folder,
    to_float,
    to_uint8,
)

RELIABLE_ACCURACY = 0.8  # below this the domain classifier can't tell the domains apart and its scores mean little
FEW_IMAGES = 30  # fewer evaluation images than this per side make the figures noisy
BATCH = 64


@dataclass(frozen=True)
class ClassifierSettings:
    """How the judging classifiers are trained: balanced batches (half each class), Adam, mirror+crop augmentation."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    validation_share: float = 0.2  # of the domain classifier's training images
    c2st_folds: int = 2  # every image is judged once by a classifier that did not train on it
    # C2ST is averaged over this many differently seeded classifiers (and fold splits): on a few dozen images one
    # seed alone moved it by up to 0.14 (README, quality push).
    c2st_repeats: int = 3
    seed: int = 0


def fit_classifier(
    negatives: torch.Tensor,
    positives: torch.Tensor,
    settings: ClassifierSettings,
    *,
    seed: int,
    on_step: Callable[[], None] = lambda: None,
) -> BinaryClassifier:
    """Train a fresh classifier on two uint8 image sets (label 0 and 1), each batch half from each set."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    device = negatives.device
    model = BinaryClassifier(ClassifierConfig()).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, betas=(0.5, 0.999))
    half = max(1, settings.batch_size // 2)
    labels = torch.cat([torch.zeros(half), torch.ones(half)]).to(device)
    for _ in range(settings.steps):
        picks = [images[torch.randint(len(images), (half,), generator=generator).to(device)] for images in (negatives, positives)]
        batch = augment(to_float(torch.cat(picks)), "deluxe", generator)
        loss = F.binary_cross_entropy_with_logits(model(batch), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        on_step()
    return model.eval()


@torch.no_grad()
def predict(model: BinaryClassifier, images: torch.Tensor) -> torch.Tensor:
    """0/1 predictions for a uint8 image set."""
    return torch.cat([(model(to_float(images[i : i + BATCH])) > 0).long() for i in range(0, len(images), BATCH)])


def _shuffled(count: int, seed: int) -> torch.Tensor:
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed))


def holdout_accuracy(
    negatives: torch.Tensor,
    positives: torch.Tensor,
    settings: ClassifierSettings,
    on_step: Callable[[], None] = lambda: None,
) -> tuple[BinaryClassifier, float]:
    """Train on all but a validation share of each set; return the classifier and its balanced validation accuracy."""
    train, validation = [], []
    for label, images in enumerate((negatives, positives)):
        order = _shuffled(len(images), settings.seed + label).to(images.device)
        cut = max(1, round(len(images) * settings.validation_share))
        validation.append(images[order[:cut]])
        train.append(images[order[cut:]] if cut < len(images) else images)
    model = fit_classifier(*train, settings, seed=settings.seed, on_step=on_step)
    return model, _judge(model, *validation)


def _judge(model: BinaryClassifier, negatives: torch.Tensor, positives: torch.Tensor) -> float:
    predicted = torch.cat([predict(model, negatives), predict(model, positives)])
    labels = torch.cat([torch.zeros(len(negatives)), torch.ones(len(positives))]).long().to(predicted.device)
    return balanced_accuracy(predicted, labels)


def two_sample_test(
    real: torch.Tensor,
    generated: torch.Tensor,
    settings: ClassifierSettings,
    on_step: Callable[[], None] = lambda: None,
) -> float:
    """C2ST: balanced accuracy of fresh classifiers telling `generated` from `real`, cross-validated over
    `c2st_folds` folds and averaged over `c2st_repeats` seeds; 0.5 means indistinguishable, 1.0 means every image
    was told apart."""
    seeds = [settings.seed + 1000 * r for r in range(settings.c2st_repeats)]
    return sum(_cross_validated(real, generated, replace(settings, seed=s), on_step) for s in seeds) / len(seeds)


def _cross_validated(real: torch.Tensor, generated: torch.Tensor, settings: ClassifierSettings, on_step: Callable[[], None]) -> float:
    folds = [_shuffled(len(images), settings.seed + label).to(images.device) % settings.c2st_folds for label, images in enumerate((real, generated))]
    predicted, labels = [], []
    for fold in range(settings.c2st_folds):
        train = [images[f != fold] for images, f in zip((real, generated), folds)]
        test = [images[f == fold] for images, f in zip((real, generated), folds)]
        if min(len(t) for t in train) == 0:
            continue  # too few images for this fold
        model = fit_classifier(*train, settings, seed=settings.seed + fold, on_step=on_step)
        for label, images in enumerate(test):
            if len(images):
                predicted.append(predict(model, images))
                labels.append(torch.full((len(images),), label, dtype=torch.long, device=images.device))
    return balanced_accuracy(torch.cat(predicted), torch.cat(labels))


@dataclass
class ImageSets:
    train: dict[str, torch.Tensor]  # the run's training images (the domain classifier learns from these)
    evaluation: dict[str, torch.Tensor]  # what is translated and scored
    kind: str  # "held-out", "folders" or "training"


def _image_sets(run: RunFolder, config: dict[str, Any], folders: dict[str, Path] | None, device: torch.device) -> ImageSets:
    size = config["size"]
    split = load_split(run.split_path)
    if split is None:
        train = {d: load_image_folder(config[f"{d}_dir"], size).to(device) for d in ("a", "b")}
    else:
        train = {d: load_image_files(s.train_paths(), size, s.folder).to(device) for d, s in split.items()}
    if folders is not None:
        return ImageSets(train, {d: load_image_folder(f, size).to(device) for d, f in folders.items()}, "folders")
    if split is not None and all(s.held_out for s in split.values()):
        held_out = {d: load_image_files(s.held_out_paths(), size, s.folder).to(device) for d, s in split.items()}
        return ImageSets(train, held_out, "held-out")
    warn(f"{run.root}: run has no held-out images (trained with --holdout 0?); evaluating on its training images")
    return ImageSets(train, train, "training")


@torch.no_grad()
def _translate(generator: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([to_uint8(generator(to_float(images[i : i + BATCH]))) for i in range(0, len(images), BATCH)])


@torch.no_grad()
def _paired(metric: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean of a per-image metric over two uint8 sets, batch by batch."""
    values = [metric(to_float(x[i : i + BATCH]), to_float(y[i : i + BATCH])) for i in range(0, len(x), BATCH)]
    return torch.cat(values).mean().item()


def evaluate_run(
    run_dir: Path,
    *,
    a: Path | None = None,
    b: Path | None = None,
    samples: int | None = None,
    settings: ClassifierSettings = ClassifierSettings(),
    device: str = "auto",
    averaged: bool = True,
    quiet: bool = False,
) -> dict[str, Any]:
    """Evaluate a run; writes RUN/eval.json and returns it. A CycleGAN run translates its held-out images (or the
    folders a and b); a dcgan, mlp-gan or vae run is measured by `samples` generated images (evaluate_samples).

    Runs trained with --ema are judged by their averaged generator weights unless `averaged` is off."""
    if (a is None) != (b is None):
        raise UsageError("give both --a DIR and --b DIR, or neither (to use the run's held-out images)")
    if settings.steps < 1 or settings.c2st_folds < 2 or settings.c2st_repeats < 1:
        raise UsageError("classifier steps must be at least 1, C2ST folds at least 2 and C2ST repeats at least 1")
    run = RunFolder(run_dir)
    config = run.read_config()
    kind = config.get("kind", KIND)
    if kind != KIND:
        if a is not None:
            raise UsageError(f"--a/--b are for CycleGAN runs; {run_dir} holds a {kind} run, measured against its own images")
        if settings.c2st_repeats != ClassifierSettings.c2st_repeats:
            raise UsageError(f"--c2st-repeats is for CycleGAN runs; {run_dir} holds a {kind} run")
        from vidgan.eval.samples import (
            evaluate_sampler_run,  # imported here: it builds on this module
        )

        return evaluate_sampler_run(run, config, samples=samples, settings=settings, device=device, quiet=quiet)
    if samples is not None:
        raise UsageError(f"--samples is for dcgan, mlp-gan and vae runs; {run_dir} holds a CycleGAN run")
    torch_device = resolve_device(device)
    checkpoint = load_latest_checkpoint(run.root, map_location=torch_device)
    generators = {
        d.name: generator_from_checkpoint(checkpoint, d, torch_device, averaged=averaged) for d in DIRECTIONS
    }
    weights = "averaged" if averaged and "generators_ema" in checkpoint["models"] else "trained"
    sets = _image_sets(run, config, None if a is None else {"a": Path(a), "b": Path(b)}, torch_device)

    counts = {d: len(images) for d, images in sets.evaluation.items()}
    if min(counts.values()) < FEW_IMAGES:
        warn(f"only {min(counts.values())} evaluation images in one domain: the scores below are coarse and noisy")
    with make_progress(quiet=quiet) as progress:
        total = settings.steps * (1 + settings.c2st_folds * settings.c2st_repeats * len(DIRECTIONS))
        bar = progress.add_task("eval", total=total, info="domain classifier")

        def step() -> None:
            progress.advance(bar)

        classifier, accuracy = holdout_accuracy(sets.train["a"], sets.train["b"], settings, step)
        if accuracy < RELIABLE_ACCURACY:
            warn(f"the domain classifier tells real a from real b only {accuracy:.0%} of the time: translation scores mean little")
        directions = {}
        for direction in DIRECTIONS:
            name, s, t = direction.name, direction.source, direction.target
            progress.update(bar, info=f"{name}: translating, C2ST")
            source, target = sets.evaluation[s], sets.evaluation[t]
            translated = _translate(generators[name], source)
            cycled = _translate(generators[direction.reverse.name], translated)
            target_label = 1 if t == "b" else 0

            def share_judged_target(images: torch.Tensor) -> float:
                return (predict(classifier, images) == target_label).float().mean().item()

            directions[name] = {
                "translation_score": share_judged_target(translated),
                "real_target_score": share_judged_target(target),
                "untranslated_score": share_judged_target(source),
                "cycle_l1": _paired(l1_per_image, cycled, source),
                "cycle_psnr": psnr(_paired(mse_per_image, cycled, source)),
                "identity_l1": _paired(l1_per_image, _translate(generators[name], target), target),
                "colour_distance": colour_distance(translated, target),
                "untranslated_colour_distance": colour_distance(source, target),
                "ssim_grey": _paired(ssim_grey_per_image, source, translated),
                "c2st": two_sample_test(target, translated, settings, step),
            }
    results = {
        "run": str(run.root),
        "kind": KIND,
        "step": int(checkpoint["step"]),
        "generator_weights": weights,  # "averaged" (the run's moving average, --ema) or "trained"
        "images": {"set": sets.kind, **counts},
        "classifier": {
            "balanced_accuracy": accuracy,
            "reliable": accuracy >= RELIABLE_ACCURACY,
            "train_images": {d: len(images) for d, images in sets.train.items()},
            "steps": settings.steps,
            "c2st_repeats": settings.c2st_repeats,
        },
        "directions": directions,
    }
    write_text_atomic(run.eval_path, json.dumps(results, indent=2) + "\n")
    return results


# (key, label, format): the rows of the eval table, shared by the terminal table and the HTML report.
TABLE_ROWS = (
    ("translation_score", "translation score: share judged as the target domain (higher is better)", "{:.1%}"),
    ("real_target_score", "  baseline: real target images", "{:.1%}"),
    ("untranslated_score", "  baseline: untranslated input", "{:.1%}"),
    ("c2st", "C2ST: balanced accuracy telling translations from real (0.5 = indistinguishable)", "{:.3f}"),
    ("cycle_l1", "cycle L1, images in [-1, 1] (lower is better)", "{:.3f}"),
    ("cycle_psnr", "cycle PSNR dB (higher is better)", "{:.1f}"),
    ("identity_l1", "identity L1 on target-domain input (lower is better)", "{:.3f}"),
    ("colour_distance", "LAB mean/std distance to the target domain (lower is better)", "{:.2f}"),
    ("untranslated_colour_distance", "  baseline: untranslated input", "{:.2f}"),
    ("ssim_grey", "structure kept: SSIM of grey input vs output (1 = same)", "{:.3f}"),
)


def table_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """(label, a→b, b→a) strings for every row of the eval table."""
    directions = results["directions"]
    return [(label, *(fmt.format(directions[d][key]) for d in directions)) for key, label, fmt in TABLE_ROWS]


def eval_summary(results: dict[str, Any]) -> str:
    """One line: what was evaluated and how well the domain classifier separates the domains."""
    images, classifier = results["images"], results["classifier"]
    verdict = "" if classifier["reliable"] else " (too low: the translation scores mean little)"
    return (
        f"step {results['step']} ({results.get('generator_weights', 'trained')} weights), {images['set']} images (a: {images['a']}, b: {images['b']}); "
        f"domain classifier balanced accuracy {classifier['balanced_accuracy']:.1%}{verdict}"
    )


def eval_table_parts(results: dict[str, Any]) -> tuple[str, tuple[str, ...], list[tuple[str, ...]]]:
    """The title line, column headers and rows of any run's eval table (for the terminal and the HTML report)."""
    if results.get("kind", KIND) != KIND:
        from vidgan.eval.samples import (
            sampler_table,  # imported here: it builds on this module
        )

        return sampler_table(results)
    header = ("metric", *(direction.replace("2", "→") for direction in results["directions"]))
    return eval_summary(results), header, table_rows(results)


def eval_table(results: dict[str, Any]) -> Table:
    title, header, rows = eval_table_parts(results)
    table = Table(title=title, title_justify="left")
    table.add_column(header[0])
    for name in header[1:]:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(*row)
    return table


@dataclass
class VideoWarpResult:
    output_error: float | None  # warp error of the output under the source's motion (vidgan.render.temporal)
    source_error: float | None  # the source clip's own: its natural change, the baseline
    frames: int


def evaluate_video(output: Path, source: Path, *, quiet: bool = False) -> VideoWarpResult:
    """Temporal warp error of a rendered clip (video or image sequence) beside its source's, in one streaming pass."""
    output_clip, source_clip = open_clip(Path(output)), open_clip(Path(source))
    tracker = MotionTracker()
    meters = {"output": WarpErrorMeter(), "source": WarpErrorMeter()}
    frames = 0
    with make_progress(quiet=quiet) as progress:
        bar = progress.add_task("warp error", total=source_clip.frame_count, info=source_clip.path.name)
        for output_frame, source_frame in zip_longest(output_clip.frames(), source_clip.frames()):
            if output_frame is None or source_frame is None:
                shorter = output_clip if output_frame is None else source_clip
                raise VidganError(f"{shorter.path}: has fewer frames ({frames}) than the clip it is compared with")
            motion = tracker(source_frame.rgb)
            meters["output"].add(output_frame.rgb, motion)
            meters["source"].add(source_frame.rgb, motion)
            frames += 1
            progress.advance(bar)
    return VideoWarpResult(meters["output"].value, meters["source"].value, frames)
