"""Running as one of several processes started by torchrun: the process group, ranks, and the few collectives vidgan uses.

Outside torchrun every helper here is a no-op (rank 0 of a world of 1), so the single-process code paths are
the distributed ones with nothing to share. torchrun itself handles failures: when one rank exits non-zero it
stops the others, and the process group's timeout turns a rank that hangs into an error instead of a stall.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from vidgan.core.errors import VidganError

# Training synchronises every step, so a rank silent this long is stuck: fail rather than wait forever.
STEP_TIMEOUT = timedelta(minutes=10)
_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher that sets its environment variables)."""
    return all(name in os.environ for name in _TORCHRUN_VARIABLES)


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else int(os.environ.get("RANK", 0)) if launched() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else int(os.environ.get("WORLD_SIZE", 1)) if launched() else 1


def local_rank() -> int:
    """This process's index on its own machine: which of the machine's GPUs it uses."""
    return int(os.environ.get("LOCAL_RANK", 0)) if launched() else 0


def is_main_process() -> bool:
    """Rank 0: the one process that writes run files and prints results."""
    return rank() == 0


def join(device: torch.device, timeout: timedelta = STEP_TIMEOUT) -> None:
    """Join torchrun's process group (NCCL for a CUDA device, gloo otherwise); left again when the process exits.

    A no-op outside torchrun, or when the group already exists (joined earlier, or by the calling program).
    """
    if not launched() or active():
        return
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo", timeout=timeout, device_id=device if cuda else None)
    atexit.register(_leave)


def _leave() -> None:
    if active():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every rank gets here."""
    if active():
        dist.barrier()


def shard(items: torch.Tensor, source: object) -> torch.Tensor:
    """This rank's share of `items` (every world_size-th, starting at its rank); `source` names them in errors."""
    count, share = len(items), items[rank() :: world_size()]
    if len(share) == 0:
        raise VidganError(f"{source}: {count} images cannot be shared among {world_size()} processes (need one each)")
    return share


def fork_rng() -> None:
    """Give every rank but 0 its own random stream, derived from the current shared one (rank 0 keeps it).

    So each rank draws its own batches and augmentations, while a single-process run stays as it was.
    """
    if rank() > 0:
        torch.manual_seed(int(torch.randint(2**62, (1,))) + rank())


def same_on_every_rank(value: int, what: str) -> None:
    """Stop with a clear error when ranks disagree on `value` (e.g. they read different checkpoints)."""
    values = gather(value)
    if len(set(values)) > 1:
        raise VidganError(f"processes disagree on the {what}: {values} (is the run folder shared by every machine?)")


def any_rank(*flags: bool) -> tuple[bool, ...]:
    """Each flag made true on every rank when it is true on any (so that all ranks take the same branches);
    one all-reduce for all of them."""
    if not active():
        return flags
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    values = torch.tensor([int(flag) for flag in flags], device=device)
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in values.tolist())


def average(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each value averaged over the ranks (one all-reduce for all of them)."""
    if not active() or not values:
        return values
    stacked = torch.stack([value.float() for value in values.values()])
    dist.all_reduce(stacked)
    return dict(zip(values, stacked / world_size()))


def gather(value: Any) -> list[Any]:
    """Every rank's `value`, in rank order (picklable objects)."""
    if not active():
        return [value]
    values: list[Any] = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


class _Named(nn.Module):
    """Calls one named member of a ModuleDict: DDP averages gradients only for calls through its forward."""

    def __init__(self, members: nn.ModuleDict) -> None:
        super().__init__()
        self.members = members

    def forward(self, name: str, *inputs: torch.Tensor) -> torch.Tensor:
        return self.members[name](*inputs)


def replicate(members: nn.ModuleDict) -> Callable[..., torch.Tensor]:
    """`call(name, x)` runs `members[name](x)`; under torchrun through DistributedDataParallel, so the backward pass
    averages the gradients of every member over the ranks and their weights stay identical.

    Weights are broadcast from rank 0 here; checkpoints keep saving `members` itself (no DDP prefix in names).
    """
    if not active():
        return lambda name, *inputs: members[name](*inputs)
    device = next(members.parameters()).device
    return DistributedDataParallel(_Named(members), device_ids=[device] if device.type == "cuda" else None)
