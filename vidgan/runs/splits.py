"""Held-out splits: which images of each domain a run trains on and which it keeps back for `vidgan eval`.

Frames extracted from video (a folder listed in its parent's `manifest.json`) are split by contiguous time
blocks of each clip, with a guard of dropped frames around each block, so a held-out frame never has a
near-duplicate neighbour in training. Plain image folders are split by a seeded shuffle of their sorted names.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidgan.core.errors import UsageError, VidganError
from vidgan.core.fsutil import write_text_atomic
from vidgan.core.progress import warn
from vidgan.io.images import list_images
from vidgan.io.pairs import MANIFEST

MAX_HOLDOUT = 0.5  # the largest share of a domain's images a run may hold out
# the split.json domain of a run trained on one image folder (dcgan, mlp-gan, vae)
IMAGES_DOMAIN = "data"
GUARD_SECONDS = 1.0  # frames this close in time to a held-out block are used by neither side


@dataclass
class DomainSplit:
    """One domain's image files: trained on, held out, and dropped as guards between the two."""

    folder: Path
    method: str  # "time-blocks" or "shuffled"
    train: list[str]
    held_out: list[str] = field(default_factory=list)
    guard: list[str] = field(default_factory=list)

    def train_paths(self) -> list[Path]:
        return [self.folder / name for name in self.train]

    def held_out_paths(self) -> list[Path]:
        return [self.folder / name for name in self.held_out]


def check_holdout(holdout: float) -> None:
    if not 0.0 <= holdout <= MAX_HOLDOUT:
        raise UsageError(f"--holdout must be between 0 and {MAX_HOLDOUT}, got {holdout}")


def split_domain(folder: Path, holdout: float, seed: int) -> DomainSplit:
    """Split one image folder: by time blocks when the extract manifest describes it, else by seeded shuffle."""
    check_holdout(holdout)
    folder = Path(folder)
    names = [p.name for p in list_images(folder)]
    clips = _clips_from_manifest(folder, names)
    if clips is None:
        return _shuffled_split(folder, names, holdout, seed)
    return _time_block_split(folder, clips, holdout, seed)


def _shuffled_split(folder: Path, names: list[str], holdout: float, seed: int) -> DomainSplit:
    order = list(names)
    random.Random(f"{seed}:{folder.name}").shuffle(order)
    count = min(round(len(names) * holdout), len(names) - 1)
    held = set(order[:count])
    return DomainSplit(folder, "shuffled", [n for n in names if n not in held], [n for n in names if n in held])


def _clips_from_manifest(folder: Path, names: list[str]) -> list[list[tuple[float, str]]] | None:
    """The folder's images grouped by clip as (time, name) in time order; None when no manifest covers them all."""
    path = folder.parent / MANIFEST
    if not path.is_file():
        return None
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["images"]
        by_file = {e["file"]: e for e in entries}
    except (OSError, ValueError, KeyError, TypeError):
        warn(f"{path}: unreadable extract manifest; splitting {folder.name}/ by shuffled names instead of time")
        return None
    clips: dict[tuple[Any, Any], list[tuple[float, str]]] = {}
    for name in names:
        entry = by_file.get(f"{folder.name}/{name}")
        if entry is None:
            warn(f"{path}: does not list {folder.name}/{name}; splitting {folder.name}/ by shuffled names instead of time")
            return None
        clips.setdefault((entry.get("clip_index"), entry.get("source")), []).append((float(entry["time"]), name))
    return [sorted(frames) for _, frames in sorted(clips.items(), key=lambda item: str(item[0]))]


def _guard_frames(times: list[float]) -> int:
    """How many frames on each side of a held-out block fall within GUARD_SECONDS (at least one)."""
    gaps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
    spacing = gaps[len(gaps) // 2] if gaps else GUARD_SECONDS
    return max(1, round(GUARD_SECONDS / spacing))


def _time_block_split(folder: Path, clips: list[list[tuple[float, str]]], holdout: float, seed: int) -> DomainSplit:
    split = DomainSplit(folder, "time-blocks", [])
    seen = 0
    rng = random.Random(f"{seed}:{folder.name}")
    for clip in clips:
        names = [name for _, name in clip]
        guard = _guard_frames([time for time, _ in clip])
        seen += len(names)
        # Spread the held-out total over the clips so short clips still add up to the asked-for share.
        count = round(seen * holdout) - len(split.held_out)
        count = max(0, min(count, len(names) - 2 * guard - 1))  # leave training frames beyond both guards
        start = rng.randint(0, len(names) - count) if count else 0
        stop = start + count
        for i, name in enumerate(names):
            if start <= i < stop:
                split.held_out.append(name)
            elif count and start - guard <= i < stop + guard:
                split.guard.append(name)
            else:
                split.train.append(name)
    return split


def split_domains(folders: dict[str, Path], holdout: float, seed: int) -> dict[str, DomainSplit]:
    return {domain: split_domain(folder, holdout, seed) for domain, folder in folders.items()}


def save_split(path: Path, splits: dict[str, DomainSplit], holdout: float, seed: int) -> None:
    record = {
        "holdout": holdout,
        "seed": seed,
        "domains": {
            domain: {
                "folder": str(s.folder.resolve()),
                "method": s.method,
                "train": s.train,
                "held_out": s.held_out,
                "guard": s.guard,
            }
            for domain, s in splits.items()
        },
    }
    write_text_atomic(path, json.dumps(record, indent=1) + "\n")


def load_split(path: Path) -> dict[str, DomainSplit] | None:
    """The split a run recorded; None for runs from before splits existed."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return {
            domain: DomainSplit(Path(d["folder"]), d["method"], d["train"], d["held_out"], d["guard"])
            for domain, d in record["domains"].items()
        }
    except (OSError, ValueError, KeyError, TypeError):
        raise VidganError(f"{path}: corrupt split record") from None
