"""The images a run trains on and is judged by: the training share of a folder's held-out split (vidgan.runs.splits),
as N×C×H×W uint8 batches (vidgan.io.batches)."""

from __future__ import annotations

from pathlib import Path

import torch

from vidgan.io.batches import load_frames, load_image_files, load_image_folder
from vidgan.io.images import list_images
from vidgan.runs.splits import DomainSplit


def load_training_images(
    folder: Path, split: DomainSplit | None, size: int, channels: int = 3, *, working_scale: int | None = None
) -> torch.Tensor:
    """The images a run trains on from one folder: the training share of its split, or all of them (no split);
    size×size squares, or with `working_scale` whole frames at that scale (see load_frames)."""
    if working_scale is not None:
        paths, where = (list_images(folder), folder) if split is None else (split.train_paths(), split.folder)
        return load_frames(paths, working_scale, where)
    if split is None:
        return load_image_folder(folder, size, channels)
    return load_image_files(split.train_paths(), size, split.folder, channels)
