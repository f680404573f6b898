"""Starting and resuming training runs of every model kind.

Each model's pipeline module builds its run config and exposes `build_task(config, device) -> Trainable`;
config.json records the run's `kind`, so `resume_training` rebuilds the right task from the run folder alone.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from vidgan import distributed
from vidgan.devices import resolve_device
from vidgan.errors import UsageError, VidganError
from vidgan.runs import RunFolder
from vidgan.training import Trainable, TrainResult, restore, train_loop

# kind (as stored in config.json and checkpoints) → the pipeline module that trains and loads it, and the
# function in it that starts a new run of that kind
PIPELINES = {
    "cyclegan": ("vidgan.pipelines.cyclegan", "train_cyclegan"),
    "dcgan": ("vidgan.pipelines.gan", "train_dcgan"),
    "mlp-gan": ("vidgan.pipelines.gan", "train_mlp_gan"),
    "vae": ("vidgan.pipelines.vae", "train_vae"),
}
MODELS = tuple(PIPELINES)
# the kinds whose tasks average their gradients over torchrun's processes (DDP); the others train in one process
DISTRIBUTED_KINDS = ("cyclegan",)

TaskBuilder = Callable[[dict[str, Any], torch.device], Trainable]


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
        from vidgan.pipelines.cyclegan import resolve_domains

        return trainer(*resolve_domains(data, a, b), out, **given)
    if a is not None or b is not None:
        raise UsageError(f"--a/--b are for --model cyclegan; --model {model} trains on one image folder given as DATA")
    if data is None:
        raise UsageError(f"--model {model} needs an image folder: vidgan train --model {model} DIR --out RUN")
    return trainer(data, out, **given)


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
