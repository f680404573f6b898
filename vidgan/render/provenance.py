"""What rendered an image-sequence output, recorded beside its frames, so that `render --resume` keeps only frames
that the same render would make.

Each output folder (the output, its side-by-side, its matte folder) holds RECORD, a JSON object: the input, the
model source, a digest of the generator's weights (so a run trained further, or another checkpoint, counts as
another model), the direction, and every option that changes pixels. A resumed render compares its own record
with the folder's and refuses the first difference in one line; a folder with kept frames but no record (an
older vidgan's, or frames from elsewhere) is refused too, as nothing says what made them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vidgan.core.errors import UsageError
from vidgan.core.fsutil import write_text_atomic
from vidgan.io.sequences import INCOMPLETE_MARKER
from vidgan.render.options import RenderOptions

RECORD = ".vidgan_render.json"
# The options whose values change an output's pixels (not where it goes, how fast, or how it reports).
PIXEL_OPTIONS = (
    "arch", "codec", "fit", "scale", "detail", "alpha", "tile", "roi", "roi_track", "feather", "colorspace",
    "temporal_smooth", "half", "runtime",
)


def _plain(value: Any) -> Any:
    """An option's value as JSON keeps it (paths and boxes as their text)."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def render_record(clip: Path, source: Path, weights: str, direction: str, codec: str, options: RenderOptions) -> dict[str, Any]:
    """What makes one output's pixels: input, model source, weights digest, direction, and PIXEL_OPTIONS (codec as
    planned, so a default codec counts as the one it picked)."""
    values = {name: _plain(getattr(options, name)) for name in PIXEL_OPTIONS} | {"codec": codec}
    # In the order differences are named: the weights differ whenever the direction or the source does.
    return {
        "direction": direction,
        "input": str(Path(clip).resolve()),
        "source": str(Path(source).resolve()),
        **values,
        "weights": weights,
    }


def _has_frames(folder: Path) -> bool:
    return folder.is_dir() and any(p.name not in (RECORD, INCOMPLETE_MARKER) for p in folder.iterdir())


def _difference(kept: dict[str, Any], now: dict[str, Any]) -> str | None:
    """The first difference between two records, as "the kept frames were … this render …", or None."""
    for key, value in now.items():
        before = kept.get(key)
        if before == value:
            continue
        if key == "weights":
            return (
                f"the kept frames were rendered with other weights (digest {before[:16]}, now {value[:16]}: the run was trained"
                " further or another checkpoint is given)"
            )
        if key in ("input", "source"):
            return f"the kept frames were rendered from the {key} {before}, this render reads {value}"
        flag = f"--{key.replace('_', '-')}"
        return f"the kept frames were rendered with {flag} {before}, this render asks for {value}"
    return None


def check_kept(folder: Path, record: dict[str, Any]) -> None:
    """For `render --resume`: UsageError unless the frames already in `folder` (if any) were rendered as `record`
    says this render will be."""
    if not _has_frames(folder):
        return
    try:
        kept = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = None
    if not isinstance(kept, dict):
        difference = f"its frames carry no record ({RECORD}) of what rendered them"
    else:
        difference = _difference(kept, record)
    if difference is not None:
        raise UsageError(f"{folder}: {difference}; render into another folder or without --resume")


def write_record(folder: Path, record: dict[str, Any]) -> None:
    """Write `record` into the output folder (made if missing), before its first frame."""
    write_text_atomic(folder / RECORD, json.dumps(record, indent=1) + "\n")
