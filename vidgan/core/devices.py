"""Choosing the compute device (--device auto|cpu|cuda[:N]) and how to compute on it: precision, memory layout."""

from __future__ import annotations

import torch
from torch import nn

from vidgan.core import distributed
from vidgan.core.errors import UsageError


def resolve_device(name: str = "auto") -> torch.device:
    """auto = a CUDA GPU when there is one, else the CPU. The GPU is this process's own under torchrun
    (cuda:LOCAL_RANK, one per process), else the first; cuda:N is taken as given."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not (name == "auto" or name.startswith("cuda")):
        raise UsageError(f"--device must be auto, cpu or cuda, got {name!r}")
    if not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but no CUDA GPU is available (use --device cpu or auto)")
    if name not in ("auto", "cuda"):
        return torch.device(name)
    index = distributed.local_rank()
    if index >= torch.cuda.device_count():
        raise UsageError(
            f"process {index} on this machine has no GPU of its own ({torch.cuda.device_count()} GPUs): "
            "give torchrun --nproc_per_node at most the number of GPUs"
        )
    return torch.device("cuda", index)


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The dtype training computes in for --precision `name` (auto, fp32 or bf16; the training options check it):
    auto = bfloat16 mixed precision on CUDA, float32 elsewhere.

    CPUs without bfloat16 units (most, this project's test machines included) run bf16 slower than fp32,
    so it is only used there when asked for.
    """
    if name == "bf16" or (name == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return torch.float32


def autocast(device: torch.device, dtype: torch.dtype) -> torch.autocast:
    """Mixed precision for the forward pass: convolutions in `dtype`, reductions and losses kept in float32."""
    return torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)


def inference_dtype(device: torch.device, half: bool) -> torch.dtype:
    """--half: bfloat16 (or float16 on GPUs without it) on CUDA; refused on the CPU, where it is slower."""
    if not half:
        return torch.float32
    if device.type != "cuda":
        raise UsageError("--half needs a CUDA GPU (on the CPU half precision is slower than float32); leave it off")
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def fast_layout(module: nn.Module, device: torch.device) -> nn.Module:
    """channels_last on CUDA, where tensor-core convolutions want it; the CPU keeps the default layout."""
    return module.to(memory_format=torch.channels_last) if device.type == "cuda" else module
