"""Starting and resuming training runs of every model kind.

Each model's pipeline module builds its run config and exposes `build_task(config, device) -> Trainable`;
config.json records the run's `kind`, so `resume_training` rebuilds the right task from the run folder alone.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from vidgan.core import distributed
from vidgan.core.devices import resolve_device
from vidgan.core.errors import UsageError, VidganError
from vidgan.io.images import detect_image_size, resolve_channels
from vidgan.models.dcgan import SIZES as POWER_OF_TWO_SIZES
from vidgan.runs.folder import RunFolder
from vidgan.runs.splits import (
    DomainSplit,
    check_holdout,
    load_split,
    save_split,
    split_domains,
)
from vidgan.training.data import load_training_images
from vidgan.training.loop import Trainable, TrainResult, restore, train_loop

# kind (as stored in config.json and checkpoints) → the pipeline module that trains and loads it, and the
# function in it that starts a new run of that kind
PIPELINES = {
    "cyclegan": ("vidgan.training.cyclegan", "train_cyclegan"),
    "dcgan": ("vidgan.training.gan", "train_dcgan"),
    "mlp-gan": ("vidgan.training.gan", "train_mlp_gan"),
    "vae": ("vidgan.training.vae", "train_vae"),
}
MODELS = tuple(PIPELINES)
# the kinds whose tasks average their gradients over torchrun's processes (DDP); the others train in one process
DISTRIBUTED_KINDS = ("cyclegan",)

TaskBuilder = Callable[[dict[str, Any], torch.device], Trainable]
Trainer = Callable[..., TrainResult]
# the split.json domain of a run trained on one image folder (dcgan, mlp-gan, vae)
IMAGES_DOMAIN = "data"


@dataclass(frozen=True)
class ImageModelOptions:
    """The options every one-folder model (dcgan, mlp-gan, vae) takes, with the same defaults for all."""

    channels_in: int | None = None  # 1 (grey) or 3 (RGB); None: detected from the images
    beta2: float = 0.999
    iters: int = 5000
    seed: int = 0
    device: str = "auto"
    sample_every: int = 500
    checkpoint_every: int = 1000
    holdout: float = 0.1  # share of the images kept out of training for `vidgan eval`
    minutes: float | None = None
    quiet: bool = False


def takes_options(options_type: type[ImageModelOptions]) -> Callable[[Trainer], Trainer]:
    """Declare the fields of `options_type` as keyword parameters of a trainer that receives them as **options, so
    that help() and inspect.signature (which train_model checks options against) list every option it takes."""

    def declare(trainer: Trainer) -> Trainer:
        signature = inspect.signature(trainer)
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        shared = [
            inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
            for f in fields(options_type)
        ]
        trainer.__signature__ = signature.replace(parameters=own + shared)  # type: ignore[attr-defined]
        return trainer

    return declare


def pipeline_for(kind: str, source: Path) -> ModuleType:
    """The pipeline module of a model kind; `source` names the run or checkpoint in the error."""
    if kind not in PIPELINES:
        raise VidganError(f"{source}: holds an unknown kind of model ({kind!r})")
    return importlib.import_module(PIPELINES[kind][0])


def _trainer(model: str) -> Callable[..., TrainResult]:
    module, function = PIPELINES[model]
    return getattr(importlib.import_module(module), function)


def train_model(
    model: str, out: Path, *, data: Path | None = None, a: Path | None = None, b: Path | None = None, **options: Any
) -> TrainResult:
    """Start a new run of `model`. Options left as None take the model's defaults; an option given to a model
    that has no use for it is refused (so a mistyped command never silently trains something else)."""
    if model not in PIPELINES:
        raise UsageError(f"--model must be one of {', '.join(MODELS)}, got {model!r}")
    trainer = _trainer(model)
    given = {name: value for name, value in options.items() if value is not None}
    for name in given:
        if name not in inspect.signature(trainer).parameters:
            users = [m for m in MODELS if name in inspect.signature(_trainer(m)).parameters]
            raise UsageError(f"--{name.replace('_', '-')} is an option of --model {' / '.join(users)}, not of {model}")
    if model == "cyclegan":
        from vidgan.training.cyclegan import resolve_domains

        return trainer(*resolve_domains(data, a, b), out, **given)
    if a is not None or b is not None:
        raise UsageError(f"--a/--b are for --model cyclegan; --model {model} trains on one image folder given as DATA")
    if data is None:
        raise UsageError(f"--model {model} needs an image folder: vidgan train --model {model} DIR --out RUN")
    return trainer(data, out, **given)


def power_of_two_size(size: int | None, data: Path, model: str) -> int:
    """--size of a dcgan or vae run: as asked, else the images' own side when it is 64 or 128, else 64."""
    size = size or detect_image_size(data) or 64
    if size not in POWER_OF_TWO_SIZES:
        raise UsageError(f"--size must be one of {', '.join(map(str, POWER_OF_TWO_SIZES))} for {model}, got {size}")
    return size


def start_image_run(
    kind: str, data: Path, out: Path, model_options: dict[str, Any], shared: ImageModelOptions, build_task: TaskBuilder
) -> TrainResult:
    """A new dcgan, mlp-gan or vae run on the image folder `data`: its model's own options plus the shared ones."""
    check_holdout(shared.holdout)
    config = {**model_options, **asdict(shared), "kind": kind, "data": str(Path(data).resolve()), "out": str(out)}
    config["channels_in"] = resolve_channels(shared.channels_in, Path(data))
    return start_training(config, build_task, device=shared.device, quiet=shared.quiet)


def training_split(config: dict[str, Any], folders: dict[str, Path]) -> dict[str, DomainSplit] | None:
    """A new run's split of its image folders, made from its config and recorded in RUN/split.json, or a resumed
    run's recorded one; None when the run trains on every image (--holdout 0, or a run from before held-out splits)."""
    if not config.get("holdout"):
        return None
    run = RunFolder(Path(config["out"]))
    if run.has_checkpoint():
        splits = load_split(run.split_path)
        if splits is None:
            raise VidganError(f"{run.split_path}: missing, so the run's held-out images are unknown (cannot resume)")
        return splits
    splits = split_domains(folders, config["holdout"], config["seed"])
    if distributed.is_main_process():  # every rank makes the same split; one writes it
        save_split(run.split_path, splits, config["holdout"], config["seed"])
    return splits


def image_run_training_images(config: dict[str, Any]) -> torch.Tensor:
    """The images a dcgan, mlp-gan or vae run trains on: its folder less the held-out share."""
    folder = Path(config["data"])
    splits = training_split(config, {IMAGES_DOMAIN: folder})
    return load_training_images(folder, None if splits is None else splits[IMAGES_DOMAIN], config["size"], config["channels_in"])


def check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def start_training(config: dict[str, Any], build_task: TaskBuilder, *, device: str, quiet: bool) -> TrainResult:
    """Create the run folder `config["out"]`, record the config, and train a new task from step 0."""
    run = RunFolder(Path(config["out"]))
    if run.has_checkpoint():
        raise UsageError(f"{run.root}: run folder already has checkpoints (use --resume, or another --out)")
    check_positive(
        iters=config["iters"],
        batch_size=config["batch_size"],
        sample_every=config["sample_every"],
        checkpoint_every=config["checkpoint_every"],
    )
    if config.get("minutes") is not None and config["minutes"] <= 0:
        raise UsageError(f"--minutes must be more than 0, got {config['minutes']}")
    task, _ = _build(build_task, config, device)
    if distributed.is_main_process():
        run.create()
        run.write_config(config)
    return _train(task, run, config, start_step=0, quiet=quiet)


def resume_training(
    out: Path, *, iters: int | None = None, device: str = "auto", quiet: bool = False, model: str | None = None
) -> TrainResult:
    """Continue a run of any kind from its newest good checkpoint, with its own options (and optionally more steps).

    `model`, when given, must be the run's kind."""
    run = RunFolder(out)
    config = run.read_config()
    kind = config.get("kind", "cyclegan")  # early runs had no kind
    if model is not None and model != kind:
        raise UsageError(f"{out}: holds a {kind} run, not {model} (leave out --model to resume it)")
    build_task = pipeline_for(kind, run.root).build_task
    config["out"] = str(run.root)  # where the run is now, for task builders that read its files
    if iters is not None:
        check_positive(iters=iters)
        config["iters"] = iters
        if distributed.is_main_process():
            run.write_config({k: v for k, v in config.items() if k != "versions"})
    task, torch_device = _build(build_task, config, device)
    start = restore(task, run, torch_device)
    if distributed.is_main_process():
        run.truncate_metrics(start)
    return _train(task, run, config, start_step=start, quiet=quiet)


def _train(task: Trainable, run: RunFolder, config: dict[str, Any], *, start_step: int, quiet: bool) -> TrainResult:
    return train_loop(
        task,
        run,
        iters=config["iters"],
        sample_every=config["sample_every"],
        checkpoint_every=config["checkpoint_every"],
        start_step=start_step,
        max_seconds=None if config.get("minutes") is None else config["minutes"] * 60,  # per invocation
        quiet=quiet,
    )


def _build(build_task: TaskBuilder, config: dict[str, Any], device: str) -> tuple[Trainable, torch.device]:
    kind = config.get("kind", "cyclegan")
    if distributed.world_size() > 1 and kind not in DISTRIBUTED_KINDS:
        raise UsageError(f"--model {kind} trains in one process; under torchrun only {', '.join(DISTRIBUTED_KINDS)} does")
    torch_device = resolve_device(device)
    distributed.join(torch_device)
    torch.manual_seed(config["seed"])
    return build_task(config, torch_device), torch_device
