"""The generator contract: what render, tiles, export, the ONNX runtimes and eval may rely on in a translating
generator, whichever model kind made it (vidgan.runs.kinds) or reference CycleGAN weights (vidgan.models.reference).

A Generator is a torch nn.Module that
- maps N×3×H×W float images in [-1, 1] (RGB) to N×3×H×W float images in [-1, 1], for any N and any H, W that
  are multiples of `stride` (render pads frames to them; export's wrapper does so inside the graph);
- has `stride`: the int factor input sides must be multiples of (2 ** its stride-2 stages);
- has `config`: its architecture, with `size` (the side in px it trained at: render's default working scale) and
  `to_dict()` (JSON-able values; `type(config)(**config.to_dict()) == config`), which the ONNX cache keys on;
- is deterministic in eval mode (no dropout or batch statistics at inference), so exports match it.
Besides these, the runtimes use only nn.Module's own methods (parameters, modules, state_dict, to, eval, hooks).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from vidgan.core.errors import VidganError


class GeneratorSettings(Protocol):
    """A generator's architecture record."""

    @property
    def size(self) -> int: ...

    def to_dict(self) -> dict[str, Any]: ...


@runtime_checkable
class Generator(Protocol):
    """A translating generator (see the module docstring): N×3×H×W in [-1, 1] → the same shape and range."""

    @property
    def config(self) -> GeneratorSettings: ...

    @property
    def stride(self) -> int: ...

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

    def parameters(self, recurse: bool = True) -> Any: ...

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]: ...


def check_generator(generator: object, source: object) -> Generator:
    """`generator` itself when it meets the contract's attributes (stride, config.size, config.to_dict); else a
    VidganError naming `source` (the run or checkpoint) and what is missing."""
    config = getattr(generator, "config", None)
    missing = [
        name
        for name, present in (
            ("stride", isinstance(getattr(generator, "stride", None), int)),
            ("config.size", isinstance(getattr(config, "size", None), int)),
            ("config.to_dict()", callable(getattr(config, "to_dict", None))),
        )
        if not present
    ]
    if missing or not isinstance(generator, Generator):
        lacks = ", ".join(missing) or "the methods of an nn.Module"
        raise VidganError(f"{source}: its generator ({type(generator).__name__}) lacks {lacks} (see vidgan.models.protocol)")
    return generator
