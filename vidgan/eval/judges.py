"""The judging classifiers of `vidgan eval`: small CNNs trained here from scratch (no pretrained feature network
can be had offline), and the classifier two-sample test (C2ST, Lopez-Paz & Oquab 2017).

Classes are always drawn in balanced batches and accuracies are balanced (the mean of the per-class accuracies),
so unequal set sizes cannot pass for skill. Image sets are uint8 N×3×H×W tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F

from vidgan.eval.metrics import balanced_accuracy
from vidgan.eval.options import ClassifierSettings
from vidgan.io.batches import augment, to_float
from vidgan.models.classifier import BinaryClassifier, ClassifierConfig

Progress = Callable[[float], None]  # told each share of a classifier's training done

FEW_IMAGES = 30  # fewer evaluation images than this per side make the figures noisy
BATCH = 64  # images per forward pass when judging or embedding a set


def fit_classifier(
    negatives: torch.Tensor,
    positives: torch.Tensor,
    settings: ClassifierSettings,
    *,
    seed: int,
    on_step: Progress = lambda share: None,
) -> BinaryClassifier:
    """Train a fresh classifier on two uint8 image sets (label 0 and 1), each batch half from each set, for
    `settings.steps` steps, or fewer: it stops once `settings.patience` batches in a row were told apart without
    a mistake (the training images are separated; further steps only memorise them). `on_step(share)` is told
    each share of the classifier's training done (they add up to 1)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    device = negatives.device
    model = BinaryClassifier(ClassifierConfig()).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, betas=(0.5, 0.999))
    half = max(1, settings.batch_size // 2)
    labels = torch.cat([torch.zeros(half), torch.ones(half)]).to(device)
    separated = 0  # batches in a row told apart without a mistake
    for step in range(1, settings.steps + 1):
        picks = [images[torch.randint(len(images), (half,), generator=generator).to(device)] for images in (negatives, positives)]
        batch = augment(to_float(torch.cat(picks)), "deluxe", generator)
        logits = model(batch)
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        on_step(1 / settings.steps)
        separated = separated + 1 if bool(((logits > 0) == (labels > 0)).all()) else 0
        if settings.patience is not None and separated >= settings.patience:
            on_step((settings.steps - step) / settings.steps)
            break
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
    on_step: Progress = lambda share: None,
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
    on_step: Progress = lambda share: None,
) -> float | None:
    """C2ST: balanced accuracy of fresh classifiers telling `generated` from `real`, cross-validated over
    `c2st_folds` folds (fewer when a set has fewer images) and averaged over `c2st_repeats` seeds; 0.5 means
    indistinguishable, 1.0 means every image was told apart. None when a set has fewer than 2 images (no
    classifier can be judged on images it did not train on); `on_step` is then told the skipped classifiers."""
    if min(len(real), len(generated)) < 2:
        on_step(c2st_classifiers(settings))
        return None
    seeds = [settings.seed + 1000 * r for r in range(settings.c2st_repeats)]
    return sum(_cross_validated(real, generated, replace(settings, seed=s), on_step) for s in seeds) / len(seeds)


def c2st_classifiers(settings: ClassifierSettings) -> int:
    """How many classifiers `two_sample_test` trains at most (fewer folds on sets of fewer images)."""
    return settings.c2st_folds * settings.c2st_repeats


def _cross_validated(real: torch.Tensor, generated: torch.Tensor, settings: ClassifierSettings, on_step: Progress) -> float:
    count = min(settings.c2st_folds, len(real), len(generated))  # every fold holds images of both sets
    folds = [_shuffled(len(images), settings.seed + label).to(images.device) % count for label, images in enumerate((real, generated))]
    on_step(settings.c2st_folds - count)  # the folds a small set left out
    predicted, labels = [], []
    for fold in range(count):
        train = [images[f != fold] for images, f in zip((real, generated), folds)]
        test = [images[f == fold] for images, f in zip((real, generated), folds)]
        model = fit_classifier(*train, settings, seed=settings.seed + fold, on_step=on_step)
        for label, images in enumerate(test):
            predicted.append(predict(model, images))
            labels.append(torch.full((len(images),), label, dtype=torch.long, device=images.device))
    return balanced_accuracy(torch.cat(predicted), torch.cat(labels))
