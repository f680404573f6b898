"""Checkpoints: weights, optimizer and RNG state plus the architecture config, loadable without running code.

A checkpoint is a `torch.save` dict of tensors, numbers, strings, lists and dicts only, read back with
`torch.load(weights_only=True)`, which refuses any pickle that would construct arbitrary objects.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidgan.core.errors import VidganError
from vidgan.core.fsutil import atomic_path
from vidgan.core.progress import warn
from vidgan.runs.folder import RunFolder

FORMAT = "vidgan-checkpoint/1"
LATEST = "latest.pt"
_STEP_FILE = re.compile(r"step_(\d+)\.pt$")


def save_checkpoint(
    path: Path,
    *,
    kind: str,
    step: int,
    arch: dict[str, Any],
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write one checkpoint atomically (temporary file, then rename)."""
    payload = {
        "format": FORMAT,
        "kind": kind,
        "step": step,
        "arch": arch,
        "models": {name: module.state_dict() for name, module in modules.items()},
        "optimizers": {name: opt.state_dict() for name, opt in (optimizers or {}).items()},
        "extra": extra or {},
    }
    # Serialise in memory first: torch.save reports a failed write (disk full) as an opaque RuntimeError,
    # while a plain file write raises an OSError that atomic_path turns into a clear message.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as temp:
        temp.write_bytes(buffer.getbuffer())
    return Path(path)


def save_run_checkpoint(run_dir: Path, step: int, keep: int = 3, **contents: Any) -> Path:
    """Save `checkpoints/step_NNNNNNN.pt`, point `latest.pt` at it, and keep only the newest `keep` step files."""
    folder = RunFolder(run_dir).checkpoints_dir
    path = save_checkpoint(folder / f"step_{step:07d}.pt", step=step, **contents)
    with atomic_path(folder / LATEST) as temp:
        temp.unlink()
        try:
            os.link(path, temp)  # no second copy of the weights on disk
        except OSError:
            import shutil

            shutil.copyfile(path, temp)
    for old in step_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def checkpoint_step(path: Path) -> int | None:
    """The step of a step-numbered checkpoint file (step_0000400.pt → 400); None for other files (latest.pt)."""
    match = _STEP_FILE.search(Path(path).name)
    return int(match.group(1)) if match else None


def step_checkpoints(run_dir: Path) -> list[Path]:
    """The run's step-numbered checkpoints, oldest first."""
    folder = RunFolder(run_dir).checkpoints_dir
    if not folder.is_dir():
        return []
    found = [(step, p) for p in folder.iterdir() if (step := checkpoint_step(p)) is not None]
    return [p for _, p in sorted(found)]


def _load_weights_only(path: Path, map_location: str | torch.device) -> Any:
    """torch.load that runs no pickled code; any failure (missing, truncated, pickled code) is one-line VidganError."""
    if not path.is_file():
        raise VidganError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols are not the user's business
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        reason = _refusal_reason(error)
        if "GLOBAL" in reason or zipfile.is_zipfile(path):
            raise VidganError(f"{path}: refused to load, it holds code or objects besides weights ({reason})") from None
        raise VidganError(f"{path}: not a readable checkpoint (truncated, or not a PyTorch file)") from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, KeyError, IndexError) as error:
        # torch.save writes a zip archive with its index at the very end: without one the file is cut short or foreign.
        if not zipfile.is_zipfile(path):
            raise VidganError(f"{path}: not a readable checkpoint (truncated, or not a PyTorch file)") from None
        raise VidganError(f"{path}: not a readable checkpoint (truncated or corrupt: {type(error).__name__})") from None


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a vidgan checkpoint safely; failures, including another program's file, are one-line VidganErrors."""
    path = Path(path)
    payload = _load_weights_only(path, map_location)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise VidganError(f"{path}: not a vidgan checkpoint")
    return payload


def load_state_dict_file(path: Path, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a bare state dict (name → tensor, as other PyTorch programs save weights) without running pickled code."""
    path = Path(path)
    payload = _load_weights_only(path, map_location)
    if not isinstance(payload, dict) or not payload or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise VidganError(f"{path}: not a state dict of weights (expected names mapped to tensors)")
    return dict(payload)


def _refusal_reason(error: pickle.UnpicklingError) -> str:
    """The line of torch's long weights-only message that says what was refused (e.g. the blocked global)."""
    lines = [line.strip() for line in str(error).splitlines()]
    found = [line for line in lines if "GLOBAL" in line or line.startswith("Unsupported")]
    return found[0].rstrip(".") if found else "unsupported pickle content"


@contextlib.contextmanager
def checkpoint_contents(source: Path) -> Iterator[None]:
    """Report checkpoint contents that do not fit the model built from them (other size or architecture,
    missing or unexpected entries) as one line naming `source`, instead of torch's many-line error."""
    try:
        yield
    except RuntimeError as error:  # load_state_dict: shape mismatch, missing or unexpected keys
        details = [line.strip() for line in str(error).splitlines() if line.strip()]
        first = details[1] if len(details) > 1 else details[0] if details else type(error).__name__
        raise VidganError(f"{source}: the checkpoint's weights do not fit the model ({first})") from None
    except (KeyError, TypeError, ValueError) as error:
        raise VidganError(
            f"{source}: the checkpoint does not match this model ({type(error).__name__}: {error})"
        ) from None


def load_latest_checkpoint(run_dir: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The newest checkpoint of a run that loads; a corrupt newest one is reported and an older one used."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise VidganError(f"{run_dir}: no such run folder")
    # Step files first: a crash between writing one and relinking latest.pt leaves latest.pt one behind.
    candidates = step_checkpoints(run_dir)[::-1]
    latest = RunFolder(run_dir).checkpoints_dir / LATEST
    if latest.is_file():
        candidates.append(latest)
    if not candidates:
        raise VidganError(f"{run_dir}: run folder has no checkpoint (train first, or give --checkpoint)")
    for path in candidates:
        try:
            return load_checkpoint(path, map_location)
        except VidganError as error:
            warn(f"{error}; trying an older checkpoint")
    raise VidganError(f"{run_dir}: none of its checkpoints could be loaded")


def capture_rng() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
