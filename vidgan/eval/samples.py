"""`vidgan eval` for runs that make images from noise (dcgan, mlp-gan, vae): realism, diversity, memorisation.

No pretrained feature network can be had offline, so both networks here are the small classifier of `vidgan eval`
trained from scratch. Realism is the classifier two-sample test (C2ST): the balanced validation accuracy of a
classifier telling the run's real training images from its samples (0.5 = indistinguishable). Diversity and
memorisation are distances in the feature space of a second classifier, trained on the real training images
alone to tell them upright from quarter-turned (a task that needs no labels and makes it look at the content),
and again in plain pixel space, so that no figure hangs on one learned network. The C2ST classifier's own
features are not used: trained to separate samples from real images, it squeezes the samples together and far
from every real image, which reads as collapse and as the opposite of memorisation whatever the samples are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vidgan.core.devices import resolve_device
from vidgan.core.errors import VidganError
from vidgan.core.progress import make_progress, warn
from vidgan.eval.judges import BATCH, FEW_IMAGES, Progress, fit_classifier, holdout_accuracy
from vidgan.eval.metrics import mean_pairwise_distance
from vidgan.eval.options import SAMPLES, ClassifierSettings, EvalOptions
from vidgan.io.batches import load_image_files, to_float
from vidgan.models.classifier import BinaryClassifier
from vidgan.render.sample import decode, sampler_from_checkpoint
from vidgan.runs.checkpoints import load_latest_checkpoint
from vidgan.runs.folder import RunFolder
from vidgan.runs.images import load_training_images
from vidgan.runs.splits import IMAGES_DOMAIN, load_split

PIXEL_SIZE = 32  # pixel-space distances compare images area-averaged down to at most this side
MIN_CLASSIFIER_SIZE = 16  # the classifier's four stride-2 stages need at least this side
COLLAPSE_RATIO = 0.6  # samples spread less than 0.6 times as far apart as real images: possible mode collapse
MEMORISATION_RATIO = 0.5  # samples sit less than half as far from their nearest training image as held-out images
NEAR_COPY_QUANTILE = 0.05  # a near copy is nearer to a training image than 95% of held-out images are…
NEAR_COPY_SHARE = 0.25  # …which about 5% of an honest model's samples are; more than this share is flagged
SPACES = ("features", "pixels")

# (key, meaning, format): eval.json stores each figure per space with its meaning; the table shows the meaning
# as the row's label.
FIGURES = (
    ("c2st", "C2ST: balanced accuracy telling samples from real training images (0.5 = indistinguishable)", "{:.3f}"),
    ("diversity_samples", "diversity: mean distance between two samples", "{:.3f}"),
    ("diversity_real", "  baseline: the same between two real images", "{:.3f}"),
    ("diversity_ratio", f"  samples / real (1 = as varied as real; below {COLLAPSE_RATIO}: possible mode collapse)", "{:.2f}"),
    ("nearest_train_samples", "memorisation: median distance from a sample to its nearest training image", "{:.3f}"),
    ("nearest_train_real", "  baseline: the same from a held-out real image", "{:.3f}"),
    ("nearest_train_ratio", f"  samples / held-out (below {MEMORISATION_RATIO}: nearer to training than new images: memorising)", "{:.2f}"),
    (
        "near_copy_share",
        f"  near copies: samples nearer to training than 95% of held-out images (~5% expected; > {NEAR_COPY_SHARE:.0%} flagged)",
        "{:.1%}",
    ),
)


@dataclass
class RealImages:
    train: torch.Tensor  # uint8 N×C×H×W: what the run trained on
    held_out: torch.Tensor | None  # kept out of training; None when the run has too few (or none)


def comparable(images: torch.Tensor) -> torch.Tensor:
    """uint8 images as the classifier takes them: RGB (grey repeated into three channels), at least 16 px."""
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    if images.shape[-1] < MIN_CLASSIFIER_SIZE:
        images = F.interpolate(images.float(), size=MIN_CLASSIFIER_SIZE, mode="nearest").to(torch.uint8)
    return images.contiguous()


@torch.no_grad()
def pixel_vectors(images: torch.Tensor) -> torch.Tensor:
    """N × D pixels, area-averaged to at most PIXEL_SIZE px and scaled by 1/√D, so that distances between rows
    are root-mean-square pixel differences in [-1, 1] units."""
    parts = []
    for batch in images.split(BATCH):
        x = to_float(batch)
        if x.shape[-1] > PIXEL_SIZE:
            x = F.adaptive_avg_pool2d(x, PIXEL_SIZE)
        parts.append(x.flatten(1))
    vectors = torch.cat(parts)
    return vectors / vectors.shape[1] ** 0.5


@torch.no_grad()
def feature_vectors(classifier: BinaryClassifier, images: torch.Tensor) -> torch.Tensor:
    """N × D penultimate-layer features of a classifier (its pooled convolution outputs)."""
    return torch.cat([classifier.features(to_float(batch)) for batch in images.split(BATCH)])


def _ratio(value: float, baseline: float) -> float | None:
    return value / baseline if baseline > 0 else None


def _diversity(samples: torch.Tensor, real: torch.Tensor) -> dict[str, float | None]:
    spread = {"diversity_samples": mean_pairwise_distance(samples), "diversity_real": mean_pairwise_distance(real)}
    return {**spread, "diversity_ratio": _ratio(spread["diversity_samples"], spread["diversity_real"])}


def _distances(queries: torch.Tensor, images: torch.Tensor, mirrored: torch.Tensor) -> torch.Tensor:
    """Queries × images: the distance to each image as it is or mirrored, whichever is nearer (training mirrors
    images, so a mirrored copy is a copy too)."""
    return torch.minimum(torch.cdist(queries, images), torch.cdist(queries, mirrored))


def _memorisation(sample_to_train: torch.Tensor, held_out_to_train: torch.Tensor) -> dict[str, float | None]:
    sample_nearest, held_out_nearest = sample_to_train.amin(dim=1), held_out_to_train.amin(dim=1)
    medians = {
        "nearest_train_samples": sample_nearest.quantile(0.5).item(),
        "nearest_train_real": held_out_nearest.quantile(0.5).item(),
    }
    near_copies = sample_nearest < held_out_nearest.quantile(NEAR_COPY_QUANTILE)
    return {
        **medians,
        "nearest_train_ratio": _ratio(medians["nearest_train_samples"], medians["nearest_train_real"]),
        "near_copy_share": near_copies.float().mean().item(),
    }


def measure_generator(
    generate: Callable[[int, int], torch.Tensor],
    real: RealImages,
    *,
    settings: ClassifierSettings,
    count: int = SAMPLES,
    on_step: Progress = lambda share: None,
) -> dict[str, Any]:
    """Realism, diversity and memorisation of `generate(count, seed)` (uint8 images) beside real images' baselines:
    {"images", "figures" (each per space, with its meaning), "collapse_suspected", "memorisation_suspected"}."""
    train = comparable(real.train)
    held_out = None if real.held_out is None else comparable(real.held_out)
    samples = comparable(generate(count, settings.seed))
    _, c2st = holdout_accuracy(train, samples, settings, on_step)
    quarter_turned = torch.cat([train.rot90(turns, (2, 3)) for turns in (1, 2, 3)])
    feature_network = fit_classifier(train, quarter_turned, settings, seed=settings.seed, on_step=on_step)
    baseline = train if held_out is None else held_out
    embeddings = {"features": lambda images: feature_vectors(feature_network, images), "pixels": pixel_vectors}
    values: dict[str, dict[str, float | None]] = {key: {space: None for space in SPACES} for key, _, _ in FIGURES}
    values["c2st"]["features"] = c2st
    for space, embed in embeddings.items():
        embedded_samples = embed(samples)
        measured = _diversity(embedded_samples, embed(baseline))
        if held_out is not None:
            embedded_train = embed(train), embed(train.flip(3))
            measured.update(_memorisation(_distances(embedded_samples, *embedded_train), _distances(embed(held_out), *embedded_train)))
        for key, value in measured.items():
            values[key][space] = value
    real_set = "training" if held_out is None else "held-out"
    return {
        "images": {"samples": count, "train": len(train), "real": len(baseline), "real_set": real_set},
        "figures": {key: {**values[key], "meaning": meaning.strip()} for key, meaning, _ in FIGURES},
        **_verdicts(values, memorisation_measured=held_out is not None),
    }


def _verdicts(values: dict[str, dict[str, float | None]], *, memorisation_measured: bool) -> dict[str, bool | None]:
    """Whether the figures suggest mode collapse (in either space: noise on collapsed samples can keep them apart
    in one) or memorisation (in both: blur alone brings samples near every image in pixel space); warns."""
    collapse = any(ratio is not None and ratio < COLLAPSE_RATIO for ratio in values["diversity_ratio"].values())
    memorising = None
    if memorisation_measured:
        ratios, shares = values["nearest_train_ratio"], values["near_copy_share"]
        memorising = all(
            (ratios[space] is not None and ratios[space] < MEMORISATION_RATIO) or shares[space] > NEAR_COPY_SHARE for space in SPACES
        )
    if collapse:
        warn(f"possible mode collapse: the samples are {_per_space(values['diversity_ratio'])} as varied as real images")
    if memorising:
        warn(
            f"possible memorisation: samples sit {_per_space(values['nearest_train_ratio'])} as far from training images "
            f"as held-out images do; near copies {_per_space(values['near_copy_share'], '{:.0%}')}"
        )
    return {"collapse_suspected": collapse, "memorisation_suspected": memorising}


def _per_space(values: dict[str, float | None], fmt: str = "{:.2f}×") -> str:
    return " and ".join(f"{fmt.format(value)} (in {space[:-1]} space)" for space, value in values.items() if value is not None)


def _real_images(run: RunFolder, config: dict[str, Any], device: torch.device) -> RealImages:
    folder, size, channels = Path(config["data"]), config["size"], config.get("channels_in", 3)
    split = load_split(run.split_path)
    domain = None if split is None else split.get(IMAGES_DOMAIN)
    train = load_training_images(folder, domain, size, channels).to(device)
    if len(train) < 2:
        raise VidganError(f"{folder}: the run trained on {len(train)} image; eval compares sets of at least 2")
    if domain is None or len(domain.held_out) < 2:
        warn(
            f"{run.root}: run has fewer than 2 held-out images (trained with --holdout 0, or before image models kept "
            "one?): diversity is compared with training images, and memorisation is not measured"
        )
        return RealImages(train, None)
    held_out = load_image_files(domain.held_out_paths(), size, domain.folder, channels).to(device)
    if len(held_out) < FEW_IMAGES:
        warn(f"only {len(held_out)} held-out images: the memorisation and diversity baselines are coarse and noisy")
    return RealImages(train, held_out)


def evaluate_sampler_run(run: RunFolder, config: dict[str, Any], options: EvalOptions) -> dict[str, Any]:
    """Measure a dcgan, mlp-gan or vae run's newest checkpoint by options.samples generated images (default
    SAMPLES); returns what eval.json holds."""
    count = SAMPLES if options.samples is None else options.samples
    settings = options.classifier
    device = resolve_device(options.device)
    checkpoint = load_latest_checkpoint(run.root, map_location=device)
    sampler = sampler_from_checkpoint(checkpoint, run.root, device)
    real = _real_images(run, config, device)

    def generate(count: int, seed: int) -> torch.Tensor:
        return decode(sampler, torch.randn(count, sampler.config.noise_dim, generator=torch.Generator().manual_seed(seed)))

    with make_progress(quiet=options.quiet) as progress:
        bar = progress.add_task("eval: classifiers", total=2, info="C2ST, then the feature network")
        measured = measure_generator(generate, real, count=count, settings=settings, on_step=lambda share: progress.advance(bar, share))
    return {"run": str(run.root), "kind": checkpoint["kind"], "step": int(checkpoint["step"]), **measured}


def sampler_table(results: dict[str, Any]) -> tuple[str, tuple[str, ...], list[tuple[str, ...]]]:
    """The title line, column headers and rows of a sampler run's eval table (terminal and HTML report)."""
    images, figures = results["images"], results["figures"]
    title = (
        f"{results['kind']} step {results['step']}: {images['samples']} samples against {images['train']} training "
        f"and {images['real']} {images['real_set']} real images"
    )
    verdicts = {"collapse_suspected": "possible mode collapse", "memorisation_suspected": "possible memorisation"}
    flagged = [verdict for key, verdict in verdicts.items() if results[key]]
    title += f"; {', '.join(flagged)}" if flagged else ""

    def cell(value: float | None, fmt: str) -> str:
        return "—" if value is None else fmt.format(value)

    rows = [(meaning, *(cell(figures[key][space], fmt) for space in SPACES)) for key, meaning, fmt in FIGURES]
    return title, ("figure", "CNN features", "pixels (RMS, [-1, 1])"), rows
