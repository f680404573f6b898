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
from typing import Any, NoReturn, Protocol

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
from vidgan.runs.plots import domain_pairs, refresh_plots


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


class LossLog:
    """The loss terms of the steps since the last log, kept on the device (a `.item()` per term and step would wait
    for the GPU every step), checked for NaN and inf, and averaged over those steps and over the ranks when logged."""

    def __init__(self, run: RunFolder, *, write: bool) -> None:
        self.run = run
        self.write = write  # append each log to metrics.jsonl (rank 0 only)
        self.pending: dict[str, list[torch.Tensor]] = {}
        self.logged: dict[str, float] = {}  # the averages last logged

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        """One step's detached loss terms."""
        for name, value in losses.items():
            self.pending.setdefault(name, []).append(value)

    def check_finite(self, step: int) -> None:
        """Raise VidganError at the earliest NaN or inf since the last log (the first such term where several went
        bad in that step), naming the term, the step it appeared at and the last good checkpoint; `step` is the
        step just taken."""
        found = []
        for order, (name, values) in enumerate(self.pending.items()):
            bad = ~torch.isfinite(torch.stack(values).float())
            if bad.any():
                first = int(bad.nonzero()[0, 0])
                found.append((step - len(values) + first + 1, order, name, values[first].item()))
        if found:
            at, _, name, value = min(found)
            saved = step_checkpoints(self.run.root)
            kept = f"; the last good checkpoint is {saved[-1]}" if saved else ""
            raise VidganError(f"training stopped: loss {name} became {value} at step {at}{kept}")

    def flush(self, step: int) -> None:
        """Log the pending terms' averages at `step` (after checking them) and start collecting anew."""
        if not self.pending:
            return
        self.check_finite(step)
        means = {name: torch.stack(values).float().mean() for name, values in self.pending.items()}
        self.logged = {name: value.item() for name, value in distributed.average(means).items()}
        self.pending.clear()
        if self.write:
            self.run.append_metrics(step, self.logged)


def _two_digits(value: float) -> str:
    """A loss for the progress bar: two significant digits, no leading zero (0.0613 → ".061", 1.234 → "1.2")."""
    text = f"{value:.0f}" if abs(value) >= 10 else f"{value:.2g}"
    return text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text


def format_losses(losses: dict[str, float]) -> str:
    """The progress bar's loss text. A term logged per domain shows as its domains' pair ("cycle .061/.058": a/b,
    whose sum is the total); any other term as "g 0.512"."""
    pairs = domain_pairs(losses)
    totals = {name: total for total, members in pairs.items() for name in (total, *members)}
    parts = {}
    for name, value in losses.items():
        total = totals.get(name)
        if total is None:
            parts[name] = f"{name} {value:.3f}"
        elif total not in parts:
            parts[total] = f"{total} " + "/".join(_two_digits(losses[member]) for member in pairs[total])
    return " ".join(parts.values())


class _Checkpoints:
    """Rank 0's checkpoints of the task, and which step it saved last (an interrupt saves only if that is not the
    step just taken)."""

    def __init__(self, task: Trainable, run: RunFolder, log: LossLog) -> None:
        self.task, self.run, self.log = task, run, log
        self.last: Path | None = None
        self.saved_step: int | None = None

    def save(self, step: int) -> Path:
        self.log.check_finite(step)  # never save weights from after a loss went NaN or inf
        self.last = save_run_checkpoint(
            self.run.root,
            step,
            kind=self.task.kind,
            arch=self.task.arch,
            modules=self.task.modules,
            optimizers=self.task.optimizers,
            extra={"rng": capture_rng()},
        )
        self.saved_step = step
        return self.last


def _save_sample(task: Trainable, run: RunFolder, step: int) -> None:
    """The sample grid at `step`, the model's own figures, and the run's plots redrawn."""
    run.save_sample(task.sample_grid(), step)
    if hasattr(task, "on_sample"):
        task.on_sample(run, step)
    refresh_plots(run)


def _stop(step: int, log: LossLog, checkpoints: _Checkpoints | None) -> NoReturn:
    """Ctrl-C or SIGTERM was asked: log the pending terms, have rank 0 (the one with `checkpoints`) save this step
    unless it just did, and raise Interrupted."""
    log.flush(step)
    if checkpoints is None:
        raise Interrupted(f"interrupted at step {step}; rank 0 saves the checkpoint")
    if checkpoints.saved_step != step:
        checkpoints.save(step)
    raise Interrupted(f"interrupted at step {step}; checkpoint saved to {checkpoints.last} (continue with --resume)")


def _stopped_at_once(run: RunFolder) -> Interrupted:
    """Asked twice: the step under way is dropped and the newest checkpoint stays."""
    saved = step_checkpoints(run.root)
    kept = f"--resume continues from {saved[-1]}" if saved else "no checkpoint was saved"
    return Interrupted(f"stopped at once (Ctrl-C twice); {kept}")


def _announce_stop() -> None:
    warn("stopping after the current step, which is saved first (Ctrl-C again stops at once without saving it)")


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
    log = LossLog(run, write=main)
    checkpoints = _Checkpoints(task, run, log) if main else None
    step = start_step
    started = time.perf_counter()
    notice = _announce_stop if main else None
    with make_progress(quiet=quiet or not main) as progress, interrupts_deferred(notice) as interrupt:
        bar = progress.add_task("train", total=iters, completed=start_step, info="")
        try:
            while step < iters:
                log.add(task.train_step(step, iters))
                step += 1
                # Checked between steps only, and on every rank together (one collective for both), so all ranks
                # stop after the same whole step however their signals and clocks differ.
                stop_asked, out_of_time = distributed.any_rank(
                    interrupt.requested, max_seconds is not None and time.perf_counter() - started >= max_seconds
                )
                last = step == iters or out_of_time
                if step % log_every == 0 or last:
                    log.flush(step)
                    rate = (step - start_step) / max(time.perf_counter() - started, 1e-9)
                    progress.update(bar, info=f"{format_losses(log.logged)}  {rate:.2f} it/s")
                if main and (step % sample_every == 0 or last):
                    _save_sample(task, run, step)
                if checkpoints is not None and (step % checkpoint_every == 0 or last):
                    checkpoints.save(step)
                progress.update(bar, completed=step)
                if stop_asked and step < iters:  # asked during the last step: the run is complete anyway
                    _stop(step, log, checkpoints)
                if out_of_time:
                    break
        except KeyboardInterrupt:
            raise _stopped_at_once(run) from None
    return TrainResult(run.root, step, None if checkpoints is None else checkpoints.last, log.logged)
