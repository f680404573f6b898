"""Extract training images from clips: out_dir/<domain>/*.png plus out_dir/manifest.json.

Square size×size images (the largest centred square, or the whole frame stretched), or with `scale` whole frames,
aspect kept, with their short side at `scale` px: the working scale `vidgan train --crop C` trains at and
`vidgan render` then renders at. `scale` replaces `size` and `crop` (it neither squares nor crops).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from rich.markup import escape

from vidgan.core.background import BackgroundWriter
from vidgan.core.errors import Interrupted, UsageError, VidganError, interrupts_deferred
from vidgan.core.fsutil import atomic_path, write_text_atomic
from vidgan.core.options import NOT_NEGATIVE, POSITIVE, check_number
from vidgan.core.progress import make_progress, warn
from vidgan.io.images import square_resize, square_scale
from vidgan.io.video import VideoInfo, iter_frames, probe_video

CROPS = ("center", "none")
MIN_SIZE = 16
DEFAULT_SIZE = 128
_DOMAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_STEM_MAX = 40
_IMAGE_NAME = re.compile(r"c\d{2}_[A-Za-z0-9_-]+_f\d{6}\.png")  # the only names extract writes
MANIFEST = "manifest.json"
STAGING = ".vidgan-partial"  # frames of an unfinished extraction


@dataclass
class ExtractResult:
    """Where the images went and how many each domain got."""

    out_dir: Path
    counts: dict[str, int]


def _validate(every: int, size: int, crop: str, start: float | None, end: float | None) -> None:
    if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
        raise UsageError(f"--every must be a whole number of 1 or more, got {every!r}")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < MIN_SIZE:
        raise UsageError(f"--size must be a whole number of {MIN_SIZE} or more, got {size!r}")
    if crop not in CROPS:
        raise UsageError(f"--crop must be one of {', '.join(CROPS)}, got {crop!r}")
    check_number("--start", start, NOT_NEGATIVE)  # seconds
    check_number("--end", end, POSITIVE)
    if start is not None and end is not None and start >= end:
        raise UsageError(f"--start ({start}) must be before --end ({end})")


def _framing(scale: int | None, size: int | None, crop: str | None) -> tuple[int, str]:
    """(size, crop) of square images, or with `scale` (whole frames, short side `scale` px) (scale, "center"),
    which square_scale maps to the whole frame scaled with its aspect kept. UsageError for --scale with --size or
    --crop, or below MIN_SIZE."""
    if scale is None:
        return (DEFAULT_SIZE if size is None else size), ("center" if crop is None else crop)
    if size is not None or crop is not None:
        raise UsageError("--scale keeps whole frames (aspect kept, nothing cropped), short side S px: leave out --size and --crop")
    if isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or scale < MIN_SIZE:
        raise UsageError(f"--scale must be a whole number of {MIN_SIZE} or more, got {scale!r}")
    return scale, "center"


def safe_stem(path: Path) -> str:
    """The clip's name reduced to [A-Za-z0-9_-] so image names can never leave their folder."""
    stem = _UNSAFE.sub("_", path.stem).strip("_")[:_STEM_MAX]
    return stem or "clip"


def _estimate_kept(info: VideoInfo, every: int, start: float | None, end: float | None) -> int | None:
    """How many frames extraction will keep from a clip, for the progress bar; None when the length is unknown."""
    count = info.frame_count
    if count is None and info.duration is not None:
        count = round(info.duration * info.fps)
    if count is None:
        return None
    first = math.ceil((start or 0) * info.fps)
    stop = count if end is None else min(count, math.ceil(end * info.fps))
    return max(0, math.ceil(stop / every) - math.ceil(first / every))


def _write_png(path: Path, rgb: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise VidganError(f"{path}: could not encode the image as PNG")
    with atomic_path(path) as temp:
        temp.write_bytes(data.tobytes())


def _check_inputs(
    domains: dict[str, list[Path]], out_dir: Path, start: float | None
) -> dict[str, list[tuple[Path, VideoInfo]]]:
    """Probe every clip before anything is written, so one bad clip stops the run at once."""
    out_root = out_dir.resolve()
    if out_root.exists() and not out_root.is_dir():
        raise VidganError(f"{out_dir}: exists and is not a folder")
    if not domains:
        raise UsageError("no domains given")
    plan: dict[str, list[tuple[Path, VideoInfo]]] = {}
    for domain, clips in domains.items():
        if not _DOMAIN_NAME.fullmatch(domain):
            raise UsageError(f"domain name {domain!r} may only use letters, digits, '_' and '-'")
        if not clips:
            raise VidganError(f"domain {domain}: no clips given")
        plan[domain] = []
        for clip in map(Path, clips):
            info = probe_video(clip)
            if clip.resolve().is_relative_to(out_root):
                raise VidganError(f"{clip}: is inside the output folder {out_dir}; move it or pick another output")
            if start is not None and info.duration is not None and start >= info.duration:
                raise VidganError(f"{clip}: --start {start:g}s is past its end ({info.duration:.2f}s)")
            plan[domain].append((clip, info))
    return plan


def _check_earlier_output(out_dir: Path, domains: Iterable[str], overwrite: bool) -> None:
    """An earlier extraction (its manifest, or PNGs where this one would write) is replaced only with --overwrite."""
    if overwrite:
        return
    if (out_dir / MANIFEST).exists():
        raise UsageError(f"{out_dir}: already holds extracted frames ({MANIFEST}); pass --overwrite to replace them")
    for domain in domains:
        if any((out_dir / domain).glob("*.png")):
            raise UsageError(f"{out_dir / domain}: already holds PNG images; pass --overwrite to replace them")


def _publish(staging: Path, out_dir: Path, written: dict[str, set[str]], manifest: dict[str, object]) -> None:
    """Move the finished frames from `staging` into place, replacing an earlier extraction's frames; manifest last."""
    try:
        (out_dir / MANIFEST).unlink(missing_ok=True)
        for domain, names in written.items():
            domain_dir = out_dir / domain
            domain_dir.mkdir(parents=True, exist_ok=True)
            for old in domain_dir.glob("*.png"):
                if _IMAGE_NAME.fullmatch(old.name) and old.name not in names:
                    old.unlink()
            for name in names:
                os.replace(staging / domain / name, domain_dir / name)
            stale = [p for p in domain_dir.glob("*.png") if p.name not in names]
            if stale:
                warn(f"{domain_dir}: {len(stale)} PNG files not made by this extraction are not in {MANIFEST}")
    except OSError as exc:
        raise VidganError(f"{out_dir}: cannot move the extracted frames into place ({exc.strerror or exc})") from exc
    write_text_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=1) + "\n")



def _clip_frames(
    clip: Path, clip_index: int, domain: str, every: int, size: int, crop: str, start: float | None, end: float | None
) -> Iterator[tuple[str, dict[str, object]]]:
    """The kept frames of one clip: (file name, manifest record with the frame's pixels under "rgb"). Each frame is
    scaled from its own size, so one whose resolution differs keeps its aspect. VidganError when none is kept."""
    stem, source, kept = safe_stem(clip), str(clip.resolve()), 0
    for frame in iter_frames(clip, every=every, start=start, end=end, resize=partial(square_scale, size=size, crop=crop)):
        name = f"c{clip_index:02d}_{stem}_f{frame.index:06d}.png"
        record = {"file": f"{domain}/{name}", "domain": domain, "source": source, "clip_index": clip_index}
        yield name, {**record, "frame_index": frame.index, "time": round(frame.time, 6), "rgb": frame.rgb}
        kept += 1
    if kept == 0:
        raise VidganError(f"{clip}: no frames to extract in the chosen time range")

def extract_frames(
    domains: dict[str, list[Path]],
    out_dir: Path,
    *,
    every: int = 15,
    size: int | None = None,
    crop: str | None = None,
    scale: int | None = None,
    start: float | None = None,
    end: float | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> ExtractResult:
    """Save every `every`-th frame of each clip as a size×size PNG (default 128, crop "center"), or with `scale` whole
    with its short side at `scale` px, under out_dir/<domain>/, and list them in manifest.json.

    Frames go to a hidden staging folder first and move into place only when every clip is done, so an
    interrupted or failed extraction leaves no partial image folder that training could mistake for a finished one.
    """
    whole = scale is not None
    size, crop = _framing(scale, size, crop)
    _validate(every, size, crop, start, end)
    out_dir = Path(out_dir)
    plan = _check_inputs(domains, out_dir, start)
    _check_earlier_output(out_dir, plan, overwrite)
    staging = out_dir / STAGING
    shutil.rmtree(staging, ignore_errors=True)  # left by a run that was killed
    created = not out_dir.exists()

    images: list[dict[str, object]] = []
    written: dict[str, set[str]] = {}
    # Resizing, PNG encoding and writing run on a thread of their own while the next frames decode.
    # iter_frames decodes each frame at square_scale's size; square frames are then cut to their square.
    shape = (lambda rgb: rgb) if whole else partial(square_resize, size=size, crop=crop)
    writer = BackgroundWriter(lambda item: _write_png(item[0], shape(item[1])), maxsize=8)
    try:
        with make_progress(quiet=quiet) as progress, interrupts_deferred() as stop:
            for domain, clips in plan.items():
                domain_dir = staging / domain
                try:
                    domain_dir.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise VidganError(f"{domain_dir}: cannot create the folder ({exc.strerror or exc})") from exc
                estimates = [_estimate_kept(info, every, start, end) for _, info in clips]
                total = None if None in estimates else sum(estimates)
                task = progress.add_task(f"domain {domain}", total=total, info="")
                written[domain] = set()
                for clip_index, (clip, info) in enumerate(clips):
                    # The info column renders markup, so a "[" in a file name must not be read as a style tag.
                    progress.update(task, info=escape(f"{clip.name} @ {float(info.fps):.2f} fps"))
                    for name, record in _clip_frames(clip, clip_index, domain, every, size, crop, start, end):
                        if stop.requested:  # Ctrl-C or SIGTERM, taken here rather than inside the writer's queue
                            raise Interrupted(f"interrupted; nothing was written to {out_dir}")
                        writer.submit((domain_dir / name, record.pop("rgb")))
                        written[domain].add(name)
                        images.append(record)
                        progress.advance(task)
                progress.update(task, total=len(written[domain]), completed=len(written[domain]))
        writer.finish()  # a write error (disk full) surfaces here, before the manifest lists the images
        framing = {"scale": scale, "size": None, "crop": None} if whole else {"scale": None, "size": size, "crop": crop}
        manifest = {"every": every, **framing, "images": images}
        _publish(staging, out_dir, written, manifest)
    except BaseException:
        writer.finish(check=False)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(out_dir.iterdir()):
            out_dir.rmdir()  # a failed first extraction leaves no empty folder behind
    return ExtractResult(out_dir=out_dir, counts={domain: len(names) for domain, names in written.items()})
