"""`vidgan eval` of a run that translates (a CycleGAN, or any kind whose record in vidgan.runs.kinds has
directions): translation scores, C2ST, cycle and identity error, colour, structure and temporal error.

A domain classifier (real a vs real b, vidgan.eval.judges) scores translations, and fresh classifiers per direction
try to tell translations from real target images (C2ST). Every figure stands beside its baseline: real target
images and the untranslated input. One direction is scored at a time by `score_direction`; the cycle error needs
both directions, so a run that translates a→b only has none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from vidgan.core.devices import resolve_device
from vidgan.core.directions import DOMAINS, Direction
from vidgan.core.progress import make_progress, warn
from vidgan.eval.judges import BATCH, FEW_IMAGES, Progress, c2st_classifiers, holdout_accuracy, predict, two_sample_test
from vidgan.eval.metrics import (
    colour_distance,
    edge_ssim_per_image,
    l1_per_image,
    mse_per_image,
    psnr,
    ssim_grey_per_image,
)
from vidgan.eval.options import ClassifierSettings, EvalOptions
from vidgan.eval.temporal import temporal_errors
from vidgan.io.batches import load_frames, load_image_files, to_float, to_uint8
from vidgan.io.images import list_images
from vidgan.io.pairs import PAIRS, PairFiles
from vidgan.models.classifier import BinaryClassifier
from vidgan.render.runtimes import runtime_generator
from vidgan.runs.checkpoints import load_latest_checkpoint
from vidgan.runs.folder import RunFolder
from vidgan.runs.kinds import ModelKind, model_kind
from vidgan.runs.splits import load_split

# A generator as the runtimes give it (vidgan.render.runtimes): the module, or its export run by an ONNX runtime.
Generator = Callable[[torch.Tensor], torch.Tensor]
RELIABLE_ACCURACY = 0.8  # below this the domain classifier can't tell the domains apart and its scores mean little


@dataclass
class ImageSets:
    train: dict[str, torch.Tensor]  # the run's training images (the domain classifier learns from these)
    evaluation: dict[str, torch.Tensor]  # what is translated and scored
    kind: str  # "held-out", "folders" or "training"
    # per domain, the later frame of each evaluation image's pair (vidgan.io.pairs), where every one of them has one
    later: dict[str, torch.Tensor | None]


def _image_loader(config: dict[str, Any]) -> Callable[[list[Path], Path], torch.Tensor]:
    """How the run's evaluation images are loaded: size×size squares, or for a run trained on --crop windows of
    whole frames, the centre crop×crop window of each frame at the run's working scale (the scale it trained at)."""
    size, crop = config["size"], config.get("crop")
    if crop is None:
        return lambda paths, where: load_image_files(paths, size, where)

    def centre_windows(paths: list[Path], where: Path) -> torch.Tensor:
        frames = load_frames(paths, config["working_scale"], where)
        top, left = (frames.shape[2] - crop) // 2, (frames.shape[3] - crop) // 2
        return frames[:, :, top : top + crop, left : left + crop].contiguous()

    return centre_windows


def image_sets(run: RunFolder, config: dict[str, Any], folders: dict[str, Path] | None, device: torch.device) -> ImageSets:
    """The run's training images and what it is evaluated on: `folders` (a, b) where given, else its held-out
    images, else (with a warning) its training images."""
    load = _image_loader(config)
    split = load_split(run.split_path)
    if split is None:
        train_paths = {d: (list_images(config[f"{d}_dir"]), Path(config[f"{d}_dir"])) for d in ("a", "b")}
    else:
        train_paths = {d: (s.train_paths(), s.folder) for d, s in split.items()}
    kind = "training"
    if folders is not None:
        kind, chosen = "folders", {d: (list_images(f), Path(f)) for d, f in folders.items()}
    elif split is not None and all(s.held_out for s in split.values()):
        kind, chosen = "held-out", {d: (s.held_out_paths(), s.folder) for d, s in split.items()}
    else:
        warn(f"{run.root}: run has no held-out images (trained with --holdout 0?); evaluating on its training images")
        chosen = train_paths
    train = {d: load(paths, folder).to(device) for d, (paths, folder) in train_paths.items()}
    evaluation = train if chosen is train_paths else {d: load(paths, folder).to(device) for d, (paths, folder) in chosen.items()}
    later = {d: _later_frames(paths, folder, load, device) for d, (paths, folder) in chosen.items()}
    return ImageSets(train, evaluation, kind, later)


def _later_frames(
    paths: list[Path], folder: Path, load: Callable[[list[Path], Path], torch.Tensor], device: torch.device
) -> torch.Tensor | None:
    """The later frames of the images' pairs (`vidgan extract --pair-gap`), loaded as the images are; None unless
    every image has its pair."""
    pairs = [PairFiles.of(path.parent, path.name) for path in paths]
    if not pairs or not all(pair.exist() for pair in pairs):
        return None
    return load([pair.later for pair in pairs], folder / PAIRS).to(device)


@torch.no_grad()
def translate_images(generator: Generator, images: torch.Tensor) -> torch.Tensor:
    """N×3×H×W uint8 images through the generator, batch by batch: N×3×H×W uint8."""
    return torch.cat([to_uint8(generator(to_float(images[i : i + BATCH]))) for i in range(0, len(images), BATCH)])


@torch.no_grad()
def _paired(metric: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean of a per-image metric over two uint8 sets, batch by batch."""
    values = [metric(to_float(x[i : i + BATCH]), to_float(y[i : i + BATCH])) for i in range(0, len(x), BATCH)]
    return torch.cat(values).mean().item()


def score_direction(
    direction: Direction,
    generators: dict[Direction, Generator],
    images: dict[str, torch.Tensor],
    classifier: BinaryClassifier,
    settings: ClassifierSettings,
    on_step: Progress = lambda share: None,
    later: dict[str, torch.Tensor | None] | None = None,
) -> dict[str, float | str | None]:
    """The scores of one direction on the evaluation images of each domain (uint8 sets keyed "a", "b"), each
    beside its baseline; `classifier` labels domain b 1 (vidgan.eval.judges.holdout_accuracy(a, b)). "c2st" is
    None when a set has fewer than 2 images. The temporal error is measured on the source images' frame pairs
    where `later` holds them ("temporal_pairs": "frames"), else on the images and slightly moved copies
    ("motions"). The cycle figures are None where `generators` lacks the reverse direction. Edge SSIM
    (vidgan.eval.metrics.edge_ssim_per_image) is the structure figure of every model, one-way ones included, beside
    it for unrelated image pairs (each source image against a target image)."""
    source, target = images[direction.source], images[direction.target]
    translated = translate_images(generators[direction], source)
    reverse = generators.get(direction.reverse)
    cycled = None if reverse is None else translate_images(reverse, translated)
    target_label = DOMAINS.index(direction.target)
    later_frames = (later or {}).get(direction.source)
    translate = partial(translate_images, generators[direction])
    temporal_error, input_temporal_error = temporal_errors(translate, source, later_frames)
    unrelated = target[torch.arange(len(source)) % len(target)]

    def share_judged_target(judged: torch.Tensor) -> float:
        return (predict(classifier, judged) == target_label).float().mean().item()

    return {
        "translation_score": share_judged_target(translated),
        "real_target_score": share_judged_target(target),
        "untranslated_score": share_judged_target(source),
        "cycle_l1": None if cycled is None else _paired(l1_per_image, cycled, source),
        "cycle_psnr": None if cycled is None else psnr(_paired(mse_per_image, cycled, source)),
        "identity_l1": _paired(l1_per_image, translate_images(generators[direction], target), target),
        "colour_distance": colour_distance(translated, target),
        "untranslated_colour_distance": colour_distance(source, target),
        "ssim_grey": _paired(ssim_grey_per_image, source, translated),
        "edge_ssim": _paired(edge_ssim_per_image, source, translated),
        "unrelated_edge_ssim": _paired(edge_ssim_per_image, source, unrelated),
        "temporal_error": temporal_error,
        "input_temporal_error": input_temporal_error,
        "temporal_pairs": "motions" if later_frames is None else "frames",
        "c2st": two_sample_test(target, translated, settings, on_step),
    }


def run_directions(kind: ModelKind, config: dict[str, Any]) -> list[Direction]:
    """The directions a run translates: its kind's, or those of them its config records (a distilled run's)."""
    recorded = config.get("directions")
    return [d for d in kind.directions if recorded is None or d.name in recorded]


def evaluate_translation_run(run: RunFolder, config: dict[str, Any], options: EvalOptions) -> dict[str, Any]:
    """Score the run's newest checkpoint in each direction its kind translates on its held-out images (or the
    folders options.a and options.b); returns what eval.json holds. Runs that kept a moving average of their
    weights (--ema: a checkpoint model named *_ema) are judged by it unless options.averaged is off;
    options.runtime runs the generators (vidgan.render.runtimes)."""
    settings = options.classifier
    device = resolve_device(options.device)
    checkpoint = load_latest_checkpoint(run.root, map_location=device)
    kind = model_kind(checkpoint["kind"], run.root)
    generators = {}
    for d in run_directions(kind, config):
        generator = kind.get("load_generator")(checkpoint, d, device, options.averaged)
        generators[d] = runtime_generator(generator, run.root, d, device, options.runtime)
    averaged = options.averaged and any(name.endswith("_ema") for name in checkpoint["models"])
    weights = "averaged" if averaged else "trained"
    folders = None if options.a is None else {"a": options.a, "b": options.b}
    sets = image_sets(run, config, folders, device)
    counts = {d: len(images) for d, images in sets.evaluation.items()}
    if min(counts.values()) < FEW_IMAGES:
        warn(f"only {min(counts.values())} evaluation images in one domain: the scores below are coarse and noisy")
    with make_progress(quiet=options.quiet) as progress:
        total = 1 + c2st_classifiers(settings) * len(generators)
        bar = progress.add_task("eval: classifiers", total=total, info="domain classifier")

        def step(share: float) -> None:
            progress.advance(bar, share)

        classifier, accuracy = holdout_accuracy(sets.train["a"], sets.train["b"], settings, step)
        if accuracy < RELIABLE_ACCURACY:
            warn(f"the domain classifier tells real a from real b only {accuracy:.0%} of the time: translation scores mean little")
        directions = {}
        for direction in generators:
            progress.update(bar, info=f"{direction.name}: translating, C2ST")
            directions[direction.name] = score_direction(direction, generators, sets.evaluation, classifier, settings, step, sets.later)
    if min(counts.values()) < 2:
        warn("C2ST needs at least 2 evaluation images in each domain (one to train on, one to judge): not measured")
    return {
        "run": str(run.root),
        "kind": kind.name,
        "step": int(checkpoint["step"]),
        "generator_weights": weights,  # "averaged" (the run's moving average, --ema) or "trained"
        "images": {"set": sets.kind, **counts},
        "classifier": {
            "balanced_accuracy": accuracy,
            "reliable": accuracy >= RELIABLE_ACCURACY,
            "train_images": {d: len(images) for d, images in sets.train.items()},
            "steps": settings.steps,
            "c2st_repeats": settings.c2st_repeats,
            "patience": settings.patience,
        },
        "directions": directions,
    }


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
    ("edge_ssim", "edges kept: SSIM of input vs output edge maps (Sobel of grey; 1 = same edges)", "{:.3f}"),
    ("unrelated_edge_ssim", "  baseline: unrelated image pairs (input vs a target image)", "{:.3f}"),
    ("temporal_error", "temporal warp error: translations of frame pairs, or of images and moved copies (lower is better)", "{:.6f}"),
    ("input_temporal_error", "  baseline: the input images' own", "{:.6f}"),
    ("temporal_pairs", "  pairs: frames (extract --pair-gap) or motions (moved copies)", "{}"),
)


ROUND_TRIP = ("cycle_l1", "cycle_psnr")  # measured only where a run translates both ways


def table_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """(label, a→b[, b→a]) strings for every row of the eval table ("n/a" for figures an older eval did not record);
    a one-way run's (CUT, FastCUT) has no round-trip rows."""
    directions = results["directions"]
    one_way = len(directions) == 1
    return [
        (label, *(_shown(fmt, directions[d].get(key)) for d in directions))
        for key, label, fmt in TABLE_ROWS
        if not (one_way and key in ROUND_TRIP)
    ]


def _shown(fmt: str, value: float | str | None) -> str:
    return "n/a" if value is None else fmt.format(value)


def eval_summary(results: dict[str, Any]) -> str:
    """One line: what was evaluated and how well the domain classifier separates the domains."""
    images, classifier = results["images"], results["classifier"]
    verdict = "" if classifier["reliable"] else " (too low: the translation scores mean little)"
    return (
        f"step {results['step']} ({results.get('generator_weights', 'trained')} weights), "
        f"{images['set']} images (a: {images['a']}, b: {images['b']}); "
        f"domain classifier balanced accuracy {classifier['balanced_accuracy']:.1%}{verdict}"
    )


def translation_table(results: dict[str, Any]) -> tuple[str, tuple[str, ...], list[tuple[str, ...]]]:
    """The title line, column headers and rows of a translating run's eval table (terminal and HTML report)."""
    header = ("metric", *(direction.replace("2", "→") for direction in results["directions"]))
    return eval_summary(results), header, table_rows(results)
