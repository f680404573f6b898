"""Extract training images from clips (video files or image sequences): out_dir/<domain>/*.png plus
out_dir/manifest.json.

Square size×size images (the largest centred square, or the whole frame stretched), or with `scale` whole frames,
aspect kept, with their short side at `scale` px: the working scale `vidgan train --crop C` trains at and
`vidgan render` then renders at. `scale` replaces `size` and `crop` (it neither squares nor crops).

With `pair_gap` N, each kept frame t also gets frame t+N of its clip and the optical flow between the two in
out_dir/<domain>/pairs/ (vidgan.io.pairs), for `vidgan train --temporal-form frames`.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from functools import partial
from pathlib import Path

import numpy as np
from rich.markup import escape
from rich.progress import Progress

from vidgan.core.background import BackgroundWriter
from vidgan.core.errors import Interrupted, StopRequest, UsageError, VidganError, interrupts_deferred
from vidgan.core.fsutil import write_text_atomic
from vidgan.core.options import NOT_NEGATIVE, POSITIVE, Spelling, check_number, option
from vidgan.core.progress import make_progress, warn
from vidgan.io.images import resize_image, square_resize, square_scale, write_png
from vidgan.io.motion import estimate_motion
from vidgan.io.pairs import MANIFEST, PAIRS, PairFiles, write_pair
from vidgan.io.ranges import FrameRange, parse_frames
from vidgan.io.sequences import ImageSequence, is_image_sequence, iter_sequence_frames, open_clip
from vidgan.io.video import Frame, VideoInfo, iter_frames, probe_video

CROPS = ("center", "none")
MIN_SIZE = 16
DEFAULT_SIZE = 128
_DOMAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_STEM_MAX = 40
_IMAGE_NAME = re.compile(r"c\d{2}_[A-Za-z0-9_-]+_f\d{6}\.png")  # the only names extract writes
_PAIR_NAME = re.compile(r"c\d{2}_[A-Za-z0-9_-]+_f\d{6}(\.png|\.flo|_reliable\.png)")  # and in <domain>/pairs/
STAGING = ".vidgan-partial"  # frames of an unfinished extraction


@dataclass
class ExtractResult:
    """Where the images went and how many each domain got."""

    out_dir: Path
    counts: dict[str, int]
    pairs: dict[str, int] = field(default_factory=dict)  # per domain, how many of its images have a pair


@dataclass(frozen=True)
class ExtractOptions:
    """What `vidgan extract` takes (extract_frames's arguments for the two domains a and b); `validate` checks the
    numbers (whole numbers, their ranges) as extract_frames does."""

    out: Path = option(help="Output folder: OUT/a/*.png, OUT/b/*.png, OUT/manifest.json.")
    a: list[Path] = option(
        help="Clip for domain a: a video file or an image sequence (folder, or shot_%04d.png); repeat for several.",
        flags=("--a",),
    )
    b: list[Path] = option(help="Clip for domain b (repeat for several).", flags=("--b",))
    every: int = option(15, "Keep frames 0, N, 2N, … of each clip (decode order).")
    pair_gap: int = option(
        0,
        "Also keep each kept frame's frame N later in its clip and the optical flow between them, in OUT/a/pairs/ "
        "and OUT/b/pairs/, for `vidgan train --temporal-form frames` (0: off).",
    )
    size: int | None = option(None, f"Side of the square images written (default {DEFAULT_SIZE}).")
    crop: str | None = option(None, "center: largest centred square (default); none: stretch.", choices=CROPS)
    scale: int | None = option(
        None,
        "Write whole frames (aspect kept, no square crop) with their short side at S px, for `vidgan train --crop C`; "
        "replaces --size and --crop.",
    )
    start: float | None = option(None, "Start time in seconds.")
    end: float | None = option(None, "End time in seconds.")
    frames: FrameRange | None = option(
        None,
        "Only frames A-B, both included (a video's counted from 0, an image sequence's by file number).",
        spelling=Spelling(parse_frames),
        metavar="A-B",
    )
    overwrite: bool = option(False, "Replace the frames of an earlier extraction into OUT.", flags=("--overwrite",))
    quiet: bool = option(False, "No progress bars.", flags=("--quiet", "-q"))

    def validate(self) -> None:
        """Raise UsageError naming the first option that cannot work (as extract_frames does), before any clip is
        read."""
        size, crop = _framing(self.scale, self.size, self.crop)
        _validate(_Sampling(self.every, self.pair_gap, self.start, self.end, self.frames), size, crop)


def extract(options: ExtractOptions) -> ExtractResult:
    """`vidgan extract`: every `options.every`-th frame of the clips of a and b into `options.out` (extract_frames)."""
    options.validate()
    settings = {f.name: getattr(options, f.name) for f in fields(options) if f.name not in ("out", "a", "b")}
    return extract_frames({"a": options.a, "b": options.b}, options.out, **settings)


@dataclass(frozen=True)
class _Sampling:
    """Which frames of each clip extraction keeps: every `every`-th from `start` to `end` (seconds; None: the
    clip's start or end) or within `frames`, and with `pair_gap` > 0 each kept frame's frame `pair_gap` later for its pair."""

    every: int
    pair_gap: int
    start: float | None
    end: float | None
    frames: FrameRange | None = None  # only these frames: a video's positions from 0, a sequence's file numbers

    def kept(self, index: int) -> bool:
        return index % self.every == 0

    def in_range(self, number: int) -> bool:
        """Whether the frame numbered `number` (a video's position, a sequence file's number) is within --frames."""
        return self.frames is None or self.frames.first <= number <= self.frames.last

    def decoded(self, index: int) -> bool:
        """Whether frame `index` is a kept frame or the later frame of one's pair."""
        return self.kept(index) or (self.pair_gap > 0 and index >= self.pair_gap and self.kept(index - self.pair_gap))


@dataclass(frozen=True)
class _Input:
    """One clip to extract from: a video file, or an image sequence (`sequence`) shown at `info.fps`."""

    path: Path
    info: VideoInfo
    stem: str  # its images' names start with it: [A-Za-z0-9_-] only
    sequence: ImageSequence | None = None


def _whole_number(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise UsageError(f"{name} must be a whole number of {low} or more, got {value!r}")


def _validate(sampling: _Sampling, size: int, crop: str) -> None:
    _whole_number("--every", sampling.every, 1)
    _whole_number("--pair-gap", sampling.pair_gap, 0)
    _whole_number("--size", size, MIN_SIZE)
    if crop not in CROPS:
        raise UsageError(f"--crop must be one of {', '.join(CROPS)}, got {crop!r}")
    start, end = sampling.start, sampling.end
    check_number("--start", start, NOT_NEGATIVE)  # seconds
    check_number("--end", end, POSITIVE)
    if start is not None and end is not None and start >= end:
        raise UsageError(f"--start ({start}) must be before --end ({end})")
    if sampling.frames is not None and (start is not None or end is not None):
        raise UsageError("give --frames or --start/--end, not both")


def _framing(scale: int | None, size: int | None, crop: str | None) -> tuple[int, str]:
    """(size, crop) of square images, or with `scale` (whole frames, short side `scale` px) (scale, "center"),
    which square_scale maps to the whole frame scaled with its aspect kept. UsageError for --scale with --size or
    --crop, or below MIN_SIZE."""
    if scale is None:
        return (DEFAULT_SIZE if size is None else size), ("center" if crop is None else crop)
    if size is not None or crop is not None:
        raise UsageError("--scale keeps whole frames (aspect kept, nothing cropped), short side S px: leave out --size and --crop")
    _whole_number("--scale", scale, MIN_SIZE)
    return scale, "center"


def safe_stem(path: Path) -> str:
    """The clip's name reduced to [A-Za-z0-9_-] so image names can never leave their folder."""
    return _safe_name(path.stem)


def _safe_name(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("_")[:_STEM_MAX] or "clip"


def _estimate_kept(info: VideoInfo, sampling: _Sampling) -> int | None:
    """How many frames extraction will keep from a clip, for the progress bar; None when the length is unknown."""
    count = info.frame_count
    if count is None and info.duration is not None:
        count = round(info.duration * info.fps)
    if count is None:
        return None
    first = math.ceil((sampling.start or 0) * info.fps)
    stop = count if sampling.end is None else min(count, math.ceil(sampling.end * info.fps))
    if sampling.frames is not None:  # a sequence's numbers are not positions: then an estimate, as the times are
        first, stop = sampling.frames.first, min(count, sampling.frames.last + 1)
    return max(0, math.ceil(stop / sampling.every) - math.ceil(first / sampling.every))


def _probe(clip: Path) -> _Input:
    """A video file probed, or an image sequence (a folder or printf pattern) listed, shown at open_clip's rate."""
    if not is_image_sequence(clip):
        return _Input(clip, probe_video(clip), safe_stem(clip))
    opened = open_clip(clip)
    count = len(opened.sequence.files)
    info = VideoInfo(clip, opened.width, opened.height, opened.fps, opened.time_base, count, float(count / opened.fps), False)
    return _Input(clip, info, _safe_name(opened.stem), opened.sequence)


def _check_inputs(domains: dict[str, list[Path]], out_dir: Path, start: float | None) -> dict[str, list[_Input]]:
    """Probe every clip before anything is written, so one bad clip stops the run at once."""
    out_root = out_dir.resolve()
    if out_root.exists() and not out_root.is_dir():
        raise VidganError(f"{out_dir}: exists and is not a folder")
    if not domains:
        raise UsageError("no domains given")
    plan: dict[str, list[_Input]] = {}
    for domain, clips in domains.items():
        if not _DOMAIN_NAME.fullmatch(domain):
            raise UsageError(f"domain name {domain!r} may only use letters, digits, '_' and '-'")
        if not clips:
            raise VidganError(f"domain {domain}: no clips given")
        plan[domain] = []
        for clip in map(Path, clips):
            source = _probe(clip)
            if clip.resolve().is_relative_to(out_root):
                raise VidganError(f"{clip}: is inside the output folder {out_dir}; move it or pick another output")
            duration = source.info.duration
            if start is not None and duration is not None and start >= duration:
                raise VidganError(f"{clip}: --start {start:g}s is past its end ({duration:.2f}s)")
            plan[domain].append(source)
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


def _publish(
    staging: Path, out_dir: Path, written: dict[str, set[str]], paired: dict[str, set[str]], manifest: dict[str, object]
) -> None:
    """Move the finished frames (and pair files) from `staging` into place, replacing an earlier extraction's;
    manifest last."""
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
            _publish_pairs(staging / domain, domain_dir, paired[domain])
    except OSError as exc:
        raise VidganError(f"{out_dir}: cannot move the extracted frames into place ({exc.strerror or exc})") from exc
    write_text_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=1) + "\n")


def _publish_pairs(staging: Path, domain_dir: Path, paired: set[str]) -> None:
    """The pair files of the images `paired` moved from staging into domain_dir/pairs/; an earlier extraction's pair
    files there go (the folder too, once empty), so training never takes stale pairs for this extraction's."""
    pairs_dir = domain_dir / PAIRS
    names = {file for image in paired for file in PairFiles.of(domain_dir, image).names()}
    if pairs_dir.is_dir():
        for old in pairs_dir.iterdir():
            if _PAIR_NAME.fullmatch(old.name) and old.name not in names:
                old.unlink()
    if names:
        pairs_dir.mkdir(exist_ok=True)
    for name in names:
        os.replace(staging / PAIRS / name, pairs_dir / name)
    if pairs_dir.is_dir() and not any(pairs_dir.iterdir()):
        pairs_dir.rmdir()


def _sequence_frames(
    sequence: ImageSequence, fps: Fraction, sampling: _Sampling, resize: Callable[[int, int], tuple[int, int]]
) -> Iterator[Frame]:
    """The frames of an image sequence that `sampling` decodes, as iter_frames yields a video's: index = the
    position in the sequence (0 = its first file), time = index / fps."""
    start, end = sampling.start, sampling.end
    wanted = [
        (i, path)
        for i, (number, path) in enumerate(sequence.files)
        if sampling.decoded(i) and sampling.in_range(number) and (start is None or i / fps >= start) and (end is None or i / fps < end)
    ]
    if not wanted:
        return
    for frame in iter_sequence_frames(replace(sequence, files=tuple(wanted)), fps):
        height, width = frame.rgb.shape[:2]
        yield Frame(frame.index, float(frame.index / fps), frame.index, resize_image(frame.rgb, resize(width, height)))


def _decoded_frames(source: _Input, sampling: _Sampling, resize: Callable[[int, int], tuple[int, int]]) -> Iterator[Frame]:
    """The frames of one clip that `sampling` decodes, in order, each scaled to `resize` of its own size."""
    if source.sequence is not None:
        return _sequence_frames(source.sequence, source.info.fps, sampling, resize)
    def keep(index: int) -> bool:
        return sampling.decoded(index) and sampling.in_range(index)

    return iter_frames(source.path, keep=keep, start=sampling.start, end=sampling.end, resize=resize)


def _clip_frames(
    source: _Input, clip_index: int, domain: str, sampling: _Sampling, size: int, crop: str
) -> Iterator[tuple[str, dict[str, object], np.ndarray | None]]:
    """The kept frames of one clip: (file name, manifest record with the frame's pixels under "rgb", the pixels of
    its pair's later frame or None). A frame whose later frame the clip (or its time range) lacks, or has at
    another resolution, comes without. Each frame is scaled from its own size, so one whose resolution differs
    keeps its aspect. VidganError when none is kept."""
    path, kept = str(source.path.resolve()), 0
    waiting: dict[int, tuple[str, dict[str, object]]] = {}  # kept frames whose later frame is still to come
    for frame in _decoded_frames(source, sampling, partial(square_scale, size=size, crop=crop)):
        earlier = waiting.pop(frame.index - sampling.pair_gap, None)
        if earlier is not None:
            name, record = earlier
            if frame.rgb.shape == record["rgb"].shape:
                record["pair"] = {"frame_index": frame.index, "time": round(frame.time, 6), **_pair_record(domain, name)}
                yield name, record, frame.rgb
            else:
                yield name, record, None
        if sampling.kept(frame.index):
            name = f"c{clip_index:02d}_{source.stem}_f{frame.index:06d}.png"
            record = {"file": f"{domain}/{name}", "domain": domain, "source": path, "clip_index": clip_index}
            record = {**record, "frame_index": frame.index, "time": round(frame.time, 6), "rgb": frame.rgb}
            kept += 1
            if sampling.pair_gap:
                waiting[frame.index] = name, record
            else:
                yield name, record, None
    for name, record in waiting.values():
        yield name, record, None
    if kept == 0:
        raise VidganError(f"{source.path}: no frames to extract in the chosen time range")


def _pair_record(domain: str, name: str) -> dict[str, str]:
    """The manifest's names of the pair files of the image `name`, relative to the output folder."""
    files = PairFiles.of(Path(domain), name)
    return {"file": files.later.as_posix(), "flow": files.flow.as_posix(), "reliable": files.reliable.as_posix()}


def _write(item: tuple[Path, np.ndarray, np.ndarray | None], shape: Callable[[np.ndarray], np.ndarray]) -> None:
    """Write one kept frame (shaped), and with a later frame its pair: that frame shaped alike and the optical flow
    between the two at that size."""
    path, rgb, later = item
    rgb = shape(rgb)
    write_png(path, rgb)
    if later is not None:
        later = shape(later)
        write_pair(PairFiles.of(path.parent, path.name), later, estimate_motion(rgb, later))


@dataclass
class _Staging:
    """An extraction's staging folder, the writer that fills it, and what it has been handed so far: the
    manifest's records, and per domain the names of the images and of those with a pair."""

    folder: Path
    writer: BackgroundWriter
    images: list[dict[str, object]] = field(default_factory=list)
    written: dict[str, set[str]] = field(default_factory=dict)
    paired: dict[str, set[str]] = field(default_factory=dict)


def _stage_domain(
    staged: _Staging, domain: str, clips: list[_Input], sampling: _Sampling, size: int, crop: str, progress: Progress, stop: StopRequest
) -> None:
    """Hand the kept frames of one domain's clips (at `size`, `crop`: _clip_frames) to the writer for
    staged.folder/<domain>/, with a progress bar; Interrupted once `stop` is requested (Ctrl-C, SIGTERM)."""
    domain_dir = staged.folder / domain
    try:
        domain_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VidganError(f"{domain_dir}: cannot create the folder ({exc.strerror or exc})") from exc
    estimates = [_estimate_kept(source.info, sampling) for source in clips]
    task = progress.add_task(f"domain {domain}", total=None if None in estimates else sum(estimates), info="")
    written, paired = staged.written.setdefault(domain, set()), staged.paired.setdefault(domain, set())
    for clip_index, source in enumerate(clips):
        # The info column renders markup, so a "[" in a file name must not be read as a style tag.
        progress.update(task, info=escape(f"{source.path.name} @ {float(source.info.fps):.2f} fps"))
        for name, record, later in _clip_frames(source, clip_index, domain, sampling, size, crop):
            if stop.requested:  # Ctrl-C or SIGTERM, taken here rather than inside the writer's queue
                raise Interrupted(f"interrupted; nothing was written to {staged.folder.parent}")
            staged.writer.submit((domain_dir / name, record.pop("rgb"), later))
            written.add(name)
            if later is not None:
                paired.add(name)
            staged.images.append(record)
            progress.advance(task)
    progress.update(task, total=len(written), completed=len(written))


def extract_frames(
    domains: dict[str, list[Path]],
    out_dir: Path,
    *,
    every: int = 15,
    pair_gap: int = 0,
    size: int | None = None,
    crop: str | None = None,
    scale: int | None = None,
    start: float | None = None,
    end: float | None = None,
    frames: FrameRange | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> ExtractResult:
    """Save every `every`-th frame of each clip (a video file, or an image sequence: a folder or printf pattern) as
    a size×size PNG (default 128, crop "center"), or with `scale` whole with its short side at `scale` px, under
    out_dir/<domain>/, and list them in manifest.json. With `pair_gap` N > 0, each kept frame's frame N later
    in the same clip and the optical flow between them go to out_dir/<domain>/pairs/ (vidgan.io.pairs).
    `frames` (vidgan.io.ranges) takes only a video's frames A-B (from 0) or a sequence's files numbered A-B.

    Frames go to a hidden staging folder first and move into place only when every clip is done, so an
    interrupted or failed extraction leaves no partial image folder that training could mistake for a finished one.
    """
    whole = scale is not None
    size, crop = _framing(scale, size, crop)
    sampling = _Sampling(every, pair_gap, start, end, frames)
    _validate(sampling, size, crop)
    out_dir = Path(out_dir)
    plan = _check_inputs(domains, out_dir, start)
    _check_earlier_output(out_dir, plan, overwrite)
    staging = out_dir / STAGING
    shutil.rmtree(staging, ignore_errors=True)  # left by a run that was killed
    created = not out_dir.exists()

    # Resizing, PNG encoding, optical flow and writing run on a thread of their own while the next frames decode.
    # Frames are decoded at square_scale's size; square frames are then cut to their square.
    shape = (lambda rgb: rgb) if whole else partial(square_resize, size=size, crop=crop)
    staged = _Staging(staging, BackgroundWriter(partial(_write, shape=shape), maxsize=8))
    try:
        with make_progress(quiet=quiet) as progress, interrupts_deferred() as stop:
            for domain, clips in plan.items():
                _stage_domain(staged, domain, clips, sampling, size, crop, progress, stop)
        staged.writer.finish()  # a write error (disk full) surfaces here, before the manifest lists the images
        framing = {"scale": scale, "size": None, "crop": None} if whole else {"scale": None, "size": size, "crop": crop}
        manifest = {"every": every, "pair_gap": pair_gap, **framing, "images": staged.images}
        _publish(staging, out_dir, staged.written, staged.paired, manifest)
    except BaseException:
        staged.writer.finish(check=False)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(out_dir.iterdir()):
            out_dir.rmdir()  # a failed first extraction leaves no empty folder behind
    counts = {domain: len(names) for domain, names in staged.written.items()}
    return ExtractResult(out_dir=out_dir, counts=counts, pairs={domain: len(names) for domain, names in staged.paired.items()})
