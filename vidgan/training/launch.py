"""Starting and resuming training runs of every model kind.

Each kind's record (vidgan.runs.kinds) names its trainer, which takes its options object (`train_cyclegan(
CycleGANOptions)`, …), and its `build_task(config, device) -> Trainable`, which rebuilds the task from a run config;
config.json records the run's `kind`, so `resume_training` rebuilds the right task from the run folder alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

from vidgan.core import distributed
from vidgan.core.devices import resolve_device
from vidgan.core.errors import UsageError, VidganError
from vidgan.core.options import check_values, flag_of
from vidgan.core.progress import console
from vidgan.io.images import detect_channels, detect_image_size
from vidgan.runs.checkpoints import LATEST, checkpoint_step, step_checkpoints
from vidgan.runs.folder import RunFolder
from vidgan.runs.images import load_training_images
from vidgan.runs.kinds import MODEL_KINDS, model_kind
from vidgan.runs.splits import IMAGES_DOMAIN, DomainSplit, load_split, save_split, split_domains
from vidgan.training.loop import Trainable, TrainResult, restore, train_loop
from vidgan.training.options import ImageOptions, TrainOptions, path_fields

TaskBuilder = Callable[[dict[str, Any], torch.device], Trainable]


def train(options: TrainOptions) -> TrainResult:
    """Start a new run of the model the options are for (CycleGANOptions: a CycleGAN, …) in `options.out`, with
    its kind's trainer (vidgan.runs.kinds), or start_run for a kind that names none."""
    kind = model_kind(options.kind)
    if kind.train is None:
        return start_run(options, kind.get("build_task"))
    return kind.get("train")(options)


def start_run(options: TrainOptions, build_task: TaskBuilder) -> TrainResult:
    """A new run with the options as they are: checked, refused where `options.out` holds a run, then trained."""
    options.validate()
    check_new_run(options.out)
    return start_training(options, build_task)


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


def check_new_run(out: Path) -> None:
    """Refuse a run folder that holds a run already (before any work starts)."""
    if RunFolder(out).has_checkpoint():
        raise UsageError(f"{out}: run folder already has checkpoints (use --resume, or another --out)")


def training_split(options: TrainOptions, folders: dict[str, Path]) -> dict[str, DomainSplit] | None:
    """A new run's split of its image folders, made from its options and recorded in RUN/split.json, or a resumed
    run's recorded one; None when the run trains on every image (--holdout 0, or a run from before held-out splits)."""
    if not options.holdout:
        return None
    run = RunFolder(options.out)
    if run.has_checkpoint():
        splits = load_split(run.split_path)
        if splits is None:
            raise VidganError(f"{run.split_path}: missing, so the run's held-out images are unknown (cannot resume)")
        return splits
    splits = split_domains(folders, options.holdout, options.seed)
    if distributed.is_main_process():  # every rank makes the same split; one writes it
        save_split(run.split_path, splits, options.holdout, options.seed)
    return splits


def image_run_training_images(options: ImageOptions) -> torch.Tensor:
    """The images a dcgan, mlp-gan or vae run trains on: its folder less the held-out share."""
    splits = training_split(options, {IMAGES_DOMAIN: options.data})
    return load_training_images(options.data, None if splits is None else splits[IMAGES_DOMAIN], options.size, options.channels_in)


def start_image_run(options: ImageOptions, build_task: TaskBuilder) -> TrainResult:
    """A new dcgan, mlp-gan or vae run on the image folder `options.data`, with the size and channels of its
    images where the options leave them open."""
    options.validate()
    check_new_run(options.out)
    data = Path(options.data).resolve()
    options = replace(options, data=data).resolved(detect_image_size(data), detect_channels(data))
    return start_training(options, build_task)


def start_training(options: TrainOptions, build_task: TaskBuilder, resolved: dict[str, Any] | None = None) -> TrainResult:
    """Create the run folder `options.out`, record the (checked and resolved) options with the `resolved` values
    that are no options (the networks' configs, …) in its config.json, and train a new task from step 0."""
    run = RunFolder(options.out)
    config = {**options.to_config(), "kind": options.kind, **(resolved or {})}
    task, _ = _build(build_task, config, options.device)
    if distributed.is_main_process():
        run.create()
        run.write_config(config)
    return _train(task, run, options, start_step=0)


def resume_training(out: Path, given: Mapping[str, Any] | None = None, *, model: str | None = None) -> TrainResult:
    """Continue a run of any kind from its newest good checkpoint, with its own options.

    `given`: options by field name, as the command that resumes gives them (the run's first command with --resume
    added, say). Those a run may take anew (field metadata "per_run": False: --iters, to train on, --minutes,
    --device, --quiet) apply from now on; any other must equal the run's recorded value (paths: the same folder),
    else UsageError naming the option, the run's value and the given one. `model`, when given, must be the run's
    kind. Says which step and checkpoint it continues from; a run that has reached its steps already is left as
    it is (the result's checkpoint is then None)."""
    given = dict(given or {})
    run = RunFolder(out)
    config = run.read_config()
    run.check_data(config)
    kind = config["kind"]
    if model is not None and model != kind:
        raise UsageError(f"{out}: holds a {kind} run, not {model} (leave out --model to resume it)")
    record = model_kind(kind, run.root)
    options_type = record.options_type
    check_values(options_type, given)
    anew = _check_as_recorded(options_type, config, given, run.root)
    config.update(out=str(run.root), iters=anew.pop("iters", config["iters"]))  # out: where the run is now
    options = replace(options_type.from_config(config), **anew)
    options.validate()
    task, torch_device = _build(record.get("build_task"), config, options.device)
    start = restore(task, run, torch_device)
    main = distributed.is_main_process()
    if start >= options.iters:
        if main:
            message = f"{run.root} is complete at step {start} (--iters {options.iters}); give --iters above {start} to train on"
            console.print(message, markup=False, highlight=False, soft_wrap=True)
        return TrainResult(run.root, start, None, {})
    if main:
        if "iters" in given:
            run.write_config({k: v for k, v in config.items() if k != "versions"})
        run.truncate_metrics(start)
        console.print(_resuming(run, start), markup=False, highlight=False, soft_wrap=True)
    return _train(task, run, options, start_step=start)


def _check_as_recorded(options_type: type[TrainOptions], config: dict[str, Any], given: dict[str, Any], run: Path) -> dict[str, Any]:
    """The given options a resumed run takes anew; UsageError for any other that differs from the run's record."""
    paths = path_fields(options_type)
    foreign = [name for name in given if name not in {f.name for f in fields(options_type)}]
    if foreign:
        name = next(flag_of(f) for other in MODEL_KINDS.values() for f in fields(other.options_type) if f.name == foreign[0])
        raise UsageError(f"{name}: {run} holds a {options_type.kind} run, which takes no {name}")
    anew = {}
    for f in fields(options_type):
        if f.name not in given:
            continue
        value, recorded = given[f.name], config.get(f.name)
        if not f.metadata.get("per_run", True):
            anew[f.name] = value
        elif not (_same_folder(value, recorded) if f.name in paths else _recorded_form(value) == recorded):
            name = flag_of(f)
            raise UsageError(
                f"{name}: {run} was started with {name} {_shown(recorded)}, not {_shown(value)}; --resume continues a run "
                "with the options it started with (only --iters, --minutes, --device and --quiet may change)"
            )
    return anew


def _same_folder(given: Any, recorded: Any) -> bool:
    return recorded is not None and Path(given).resolve() == Path(recorded).resolve()


def _recorded_form(value: Any) -> Any:
    """A value as config.json records it (JSON: tuples as lists)."""
    return json.loads(json.dumps(value, default=str))


def _shown(value: Any) -> str:
    return "(none)" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _resuming(run: RunFolder, step: int) -> str:
    """The line that says where a resumed run continues: its step and checkpoint, and any newer checkpoint that
    could not be read (load_latest_checkpoint takes the newest step file that loads, then latest.pt)."""
    saved = {checkpoint_step(path): path for path in step_checkpoints(run.root)}
    source = saved.get(step, run.checkpoints_dir / LATEST)
    skipped = [path.name for s, path in saved.items() if s > step]
    unreadable = f" ({', '.join(skipped)} could not be read)" if skipped else ""
    return f"resuming at step {step} from {source}{unreadable}"


def _train(task: Trainable, run: RunFolder, options: TrainOptions, *, start_step: int) -> TrainResult:
    return train_loop(
        task,
        run,
        iters=options.iters,
        sample_every=options.sample_every,
        checkpoint_every=options.checkpoint_every,
        start_step=start_step,
        max_seconds=None if options.minutes is None else options.minutes * 60,  # per invocation
        quiet=options.quiet,
    )


def _build(build_task: TaskBuilder, config: dict[str, Any], device: str) -> tuple[Trainable, torch.device]:
    kind = config["kind"]
    if distributed.world_size() > 1 and not model_kind(kind).distributed:
        under_ddp = ", ".join(name for name, record in MODEL_KINDS.items() if record.distributed)
        raise UsageError(f"vidgan train {kind} trains in one process only; the kinds that train under torchrun: {under_ddp}")
    torch_device = resolve_device(device)
    distributed.join(torch_device)
    torch.manual_seed(config["seed"])
    return build_task(config, torch_device), torch_device

