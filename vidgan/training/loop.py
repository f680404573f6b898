"""The training loop shared by every model: steps, progress bar, metrics, samples, checkpoints, resume, Ctrl-C.

A model plugs in as a `Trainable`: it owns its networks, optimizers and data and knows how to take one
optimisation step and draw a sample grid; this loop owns everything that happens around those steps,
including redrawing the run's plots (losses.png, progress.gif) whenever it saves a sample grid.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from vidgan.core import distributed
from vidgan.core.errors import Interrupted, VidganError, interrupts_deferred
from vidgan.core.progress import make_progress, warn
from vidgan.runs.checkpoints import (
    capture_rng,
    checkpoint_contents,
    load_latest_checkpoint,
    restore_rng,
    save_run_checkpoint,
    step_checkpoints,
)
from vidgan.runs.folder import RunFolder
from vidgan.training.plots import refresh_plots


class Trainable(Protocol):
    kind: str  # "cyclegan", "dcgan", …: stored in checkpoints so a run of one kind is never loaded as another
    arch: dict[str, Any]  # everything needed to rebuild the networks
    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def train_step(self, step: int, total_steps: int) -> dict[str, torch.Tensor]:
        """One optimisation step; returns the detached loss terms."""

    def sample_grid(self) -> torch.Tensor:
        """A 3×H×W uint8 image of samples from fixed inputs, comparable across steps."""

    # Optional: `on_sample(run, step)`, called after each sample grid is saved, for a model's own figures.


@contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Put modules in eval mode (batch-norm running statistics, no dropout) and restore their previous modes."""
    previous = [module.training for module in modules]
    for module in modules:
        module.eval()
    try:
        yield
    finally:
        for module, was_training in zip(modules, previous):
            module.train(was_training)


def ema_decay(step: int, decay: float) -> float:
    """The weight-averaging factor after `step` updates: `decay`, but lower early on ((1 + step) / (10 + step)) so
    the average forgets the random initial weights within tens of steps rather than thousands."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_average(average: nn.Module, model: nn.Module, decay: float) -> None:
    """Exponential moving average of weights: average ← decay · average + (1 − decay) · model (buffers copied)."""
    for averaged, current in zip(average.parameters(), model.parameters()):
        averaged.lerp_(current, 1.0 - decay)
    for averaged, current in zip(average.buffers(), model.buffers()):
        averaged.copy_(current)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    checkpoint: Path | None
    losses: dict[str, float]


def restore(task: Trainable, run: RunFolder, device: torch.device) -> int:
    """Load the run's newest good checkpoint into `task` (every rank the same one); returns the step it was taken at."""
    checkpoint = load_latest_checkpoint(run.root, map_location=device)
    if checkpoint["kind"] != task.kind:
        raise VidganError(f"{run.root}: holds a {checkpoint['kind']} run, not {task.kind}")
    with checkpoint_contents(run.root):
        for name, module in task.modules.items():
            module.load_state_dict(checkpoint["models"][name])
        for name, optimizer in task.optimizers.items():
            optimizer.load_state_dict(checkpoint["optimizers"][name])
        restore_rng(checkpoint["extra"]["rng"])
        distributed.same_on_every_rank(int(checkpoint["step"]), "checkpoint step to resume from")
        return int(checkpoint["step"])


def _format_losses(losses: dict[str, float]) -> str:
    return " ".join(f"{name} {value:.3f}" for name, value in losses.items())


def train_loop(
    task: Trainable,
    run: RunFolder,
    *,
    iters: int,
    sample_every: int,
    checkpoint_every: int,
    start_step: int = 0,
    log_every: int = 10,
    max_seconds: float | None = None,
    quiet: bool = False,
) -> TrainResult:
    """Run steps start_step+1 … iters (or until `max_seconds` of wall time), logging, sampling and checkpointing.

    Ctrl-C or SIGTERM lets the current step finish (a step cut in two would leave, say, G updated and D not),
    saves a checkpoint and raises Interrupted; a second one a moment later stops at once, saving nothing more.
    Under torchrun every rank runs this loop in step; logged losses are averaged over the ranks, and only
    rank 0 shows progress and writes metrics, samples and checkpoints.
    """
    main = distributed.is_main_process()
    distributed.fork_rng()
    step = start_step
    last_checkpoint: Path | None = None
    saved_step: int | None = None
    pending: dict[str, list[torch.Tensor]] = {}
    logged: dict[str, float] = {}

    def checkpoint() -> Path:
        nonlocal saved_step
        check_finite()  # never save weights from after a loss went NaN or inf
        path = save_run_checkpoint(
            run.root,
            step,
            kind=task.kind,
            arch=task.arch,
            modules=task.modules,
            optimizers=task.optimizers,
            extra={"rng": capture_rng()},
        )
        saved_step = step
        return path

    def check_finite() -> None:
        """Stop at the first NaN or inf loss since the last log, naming the term and the step it appeared at."""
        for name, values in pending.items():
            bad = ~torch.isfinite(torch.stack(values).float())
            if bad.any():
                first = int(bad.nonzero()[0, 0])
                saved = step_checkpoints(run.root)
                kept = f"; the last good checkpoint is {saved[-1]}" if saved else ""
                raise VidganError(
                    f"training stopped: loss {name} became {values[first].item()} at step {step - len(values) + first + 1}{kept}"
                )

    def flush_metrics() -> None:
        # Averaging on the device and converting once per log interval avoids a GPU sync every step.
        nonlocal logged
        if not pending:
            return
        check_finite()
        means = {name: torch.stack(values).float().mean() for name, values in pending.items()}
        logged = {name: value.item() for name, value in distributed.average(means).items()}
        pending.clear()
        if main:
            run.append_metrics(step, logged)

    def notice() -> None:
        if main:
            warn("stopping after the current step, which is saved first (Ctrl-C again stops at once without saving it)")

    started = time.perf_counter()
    with make_progress(quiet=quiet or not main) as progress, interrupts_deferred(notice) as interrupt:
        bar = progress.add_task("train", total=iters, completed=start_step, info="")
        try:
            while step < iters:
                losses = task.train_step(step, iters)
                step += 1
                for name, value in losses.items():
                    pending.setdefault(name, []).append(value)
                # Checked between steps only, and on every rank together (one collective for both), so all ranks
                # stop after the same whole step however their signals and clocks differ.
                stop_asked, out_of_time = distributed.any_rank(
                    interrupt.requested, max_seconds is not None and time.perf_counter() - started >= max_seconds
                )
                last = step == iters or out_of_time
                if step % log_every == 0 or last:
                    flush_metrics()
                    rate = (step - start_step) / max(time.perf_counter() - started, 1e-9)
                    progress.update(bar, info=f"{_format_losses(logged)}  {rate:.2f} it/s")
                if main and (step % sample_every == 0 or last):
                    run.save_sample(task.sample_grid(), step)
                    if hasattr(task, "on_sample"):
                        task.on_sample(run, step)
                    refresh_plots(run)
                if main and (step % checkpoint_every == 0 or last):
                    last_checkpoint = checkpoint()
                progress.update(bar, completed=step)
                if stop_asked and step < iters:  # asked during the last step: the run is complete anyway
                    flush_metrics()
                    if not main:
                        raise Interrupted(f"interrupted at step {step}; rank 0 saves the checkpoint")
                    if saved_step != step:
                        last_checkpoint = checkpoint()
                    raise Interrupted(
                        f"interrupted at step {step}; checkpoint saved to {last_checkpoint} (continue with --resume)"
                    )
                if out_of_time:
                    break
        except KeyboardInterrupt:  # asked twice: the step under way is dropped, the newest checkpoint stays
            saved = step_checkpoints(run.root)
            kept = f"--resume continues from {saved[-1]}" if saved else "no checkpoint was saved"
            raise Interrupted(f"stopped at once (Ctrl-C twice); {kept}") from None
    return TrainResult(run.root, step, last_checkpoint, logged)
