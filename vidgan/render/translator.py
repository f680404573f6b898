"""The translation step of `vidgan render` and `vidgan translate`: full-resolution frames in, translated frames out.

A FrameTranslator frames each frame for the generator (vidgan.render.framing), runs the generator on the framed
images in batches, and puts the results back into the frames. `load_translators` builds one per direction from a
vidgan run or checkpoint, or a reference CycleGAN state dict.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidgan.core.devices import fast_layout
from vidgan.core.directions import Direction
from vidgan.core.errors import VidganError
from vidgan.io.video import Frame
from vidgan.models.reference import build_reference_generator
from vidgan.render.boxes import read_box_track
from vidgan.render.framing import Fit, Region, WholeFrame
from vidgan.render.options import RenderOptions
from vidgan.runs.checkpoints import load_state_dict_file
from vidgan.runs.generators import load_generator
from vidgan.training.data import to_float, to_uint8


class FrameTranslator:
    """Translates batches of full-resolution frames: framing → generator → framing back.

    Each step is a method of its own: `framing.shrink` makes the images the generator sees, `generate` runs it,
    `framing.restore` puts its output back at the frame's resolution.
    """

    def __init__(
        self, generator: nn.Module, framing: WholeFrame | Region, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> None:
        self.generator = generator
        self.framing = framing
        self.device = device
        self.dtype = dtype  # the generator's weights are in this dtype (float32, or half precision with --half)

    def __call__(self, frames: list[Frame]) -> list[np.ndarray]:
        """H×W×3 uint8 RGB translations of the frames, each at its frame's size."""
        outputs = self.generate([self.framing.shrink(frame) for frame in frames])
        return [self.framing.restore(frame, image) for frame, image in zip(frames, outputs)]

    @torch.inference_mode()
    def generate(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """The generator's output for each h×w×3 uint8 image, same size; images of one size run as one batch
        (a tracked region that changes size gives several)."""
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, image in enumerate(images):
            by_shape[image.shape].append(i)
        outputs: list[np.ndarray | None] = [None] * len(images)
        for indices in by_shape.values():
            batch = torch.from_numpy(np.stack([images[i] for i in indices])).to(self.device).permute(0, 3, 1, 2)
            translated = self.generator(to_float(batch).to(self.dtype)).float()
            translated = to_uint8(translated).permute(0, 2, 3, 1).cpu().numpy()
            for i, image in zip(indices, translated):
                outputs[i] = image
        return outputs


def default_batch_size(device: torch.device) -> int:
    """Larger batches pay off on a GPU; on the CPU a few frames already use the cores fully."""
    return 16 if device.type == "cuda" else 4


def load_render_generator(source: Path, direction: Direction, arch: str | None, device: torch.device) -> nn.Module:
    """A vidgan generator (run folder or checkpoint), or with `arch` (one of REFERENCE_ARCHS) a reference CycleGAN
    state dict file."""
    if arch is None:
        return load_generator(source, direction, device)
    try:
        generator = build_reference_generator(arch, load_state_dict_file(Path(source)))
    except ValueError as error:
        raise VidganError(f"{source}: {error}") from None
    return generator.to(device).eval().requires_grad_(False)


def _framing(fit: Fit, options: RenderOptions) -> WholeFrame | Region:
    if options.roi_track is not None:
        return Region(fit, read_box_track(options.roi_track), options.feather)
    if options.roi is not None:
        roi = options.roi
        return Region(fit, lambda _frame: roi, options.feather)
    return WholeFrame(fit)


def load_translators(
    source: Path, options: RenderOptions, device: torch.device, dtype: torch.dtype
) -> dict[Direction, FrameTranslator]:
    """A translator per direction of `options`, with the generators of `source` in `dtype` on `device`; the
    framing (fit, region) is sized for the first direction's generator (both of a run share one architecture)."""
    generators = {
        d: fast_layout(load_render_generator(source, d, options.arch, device), device).to(dtype)
        for d in options.directions
    }
    first = generators[options.directions[0]]
    framing = _framing(Fit(options.fit, first.config.size, first.stride), options)
    return {d: FrameTranslator(g, framing, device, dtype) for d, g in generators.items()}
