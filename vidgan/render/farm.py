"""One shot rendered as the tasks of a render farm: `render … --segment K/N --parts DIR` renders part K of N,
in any process, order or machine that sees the files; `vidgan join DIR` then writes the one-pass output.

A part is the segment K of N that torchrun's rank K−1 renders (vidgan.render.segments: the same split, warm-up
and timestamps), so the joined output is the one pass's. The parts folder holds:

  plan.json          what every part and the join agree on: the source, the outputs and their formats, the number
                     of parts and each part's frames and timestamps. Written atomically by whichever part runs
                     first; every other part checks that it plans the same (one shot per folder).
  partKofN/          the part's outputs, one per output of the clip in plan order: a video file J.SUFFIX (no
                     tracks: the join muxes the source's once) or a folder J/ of frames named as in one pass.
  partKofN.json      written last, atomically, once the part is complete: a rerun (a farm retries tasks) skips it.

The join copies the video parts' packets (segments.join_video) and links the sequences' frames by name; it refuses
a part missing or there twice, naming it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from vidgan.core.errors import UsageError, VidganError
from vidgan.core.fsutil import temp_path_for, write_text_atomic
from vidgan.core.options import option
from vidgan.io.ranges import whole_span
from vidgan.io.sequences import INCOMPLETE_MARKER, INCOMPLETE_NOTE, open_clip
from vidgan.render.formats import FrameWriter, output_format
from vidgan.render.options import RenderOptions
from vidgan.render.outputs import ClipPlan, Output, open_writer
from vidgan.render.segments import Segment, VideoParts, join_video, plan_segments, warm_up_frames

PLAN = "plan.json"
FORMAT_VERSION = 1


def part_name(number: int, count: int) -> str:
    """partKofN: part K (1-based) of N."""
    return f"part{number}of{count}"


def _outputs(plan: ClipPlan) -> list[Output]:
    """Every output of the planned clip, in plan order: per direction its output, side-by-side and matte folder."""
    return [output for target in plan.targets for _, output in plan.outputs(target)]


def farm_segments(plan: ClipPlan, options: RenderOptions, batch_size: int) -> list[Segment]:
    """The clip's segments as `--segments N` (and torchrun with N processes) cut it: N of them, fewer for a clip of
    fewer batches. VidganError for a video whose packets lack timestamps (it cannot be cut)."""
    span = plan.span or whole_span(plan.clip)
    if span is None:
        raise VidganError(f"{plan.clip.path}: its packets have no timestamps, so it cannot be cut into parts; render it in one pass")
    return plan_segments(plan.clip, options.segment[1], warm_up_frames(options.temporal_smooth), batch_size, span)


def _plan_record(plan: ClipPlan, options: RenderOptions, segments: list[Segment]) -> dict:
    """plan.json: `where` (absolute paths, which may differ between machines) and `plan`, which every part must
    share: the parts' frames and timestamps, the outputs' names and formats, and what the join needs."""
    clip = plan.clip
    outputs = _outputs(plan)
    return {
        "vidgan_parts": FORMAT_VERSION,
        "where": {
            "source": str(clip.path.absolute()),
            "out": None if options.out is None else str(options.out.absolute()),
            "outputs": [str(output.path.absolute()) for output in outputs],
        },
        "plan": {
            "source": clip.path.name,
            "fps": str(clip.fps),
            "colorspace": options.colorspace,
            "time_base": str(clip.time_base),
            "tracks": options.audio and clip.sequence is None,
            "tracks_span": list(plan.tracks_span),
            "outputs": [{"name": output.path.name, "format": output.format.name} for output in outputs],
            "tasks": options.segment[1],
            "parts": [
                {"start": s.start, "first": s.first, "stop": s.stop, "end": s.end, "stamps": list(s.stamps)} for s in segments
            ],
        },
    }


def claim(folder: Path, record: dict) -> None:
    """Write plan.json into `folder` unless a part did already (created whole or not at all: a hard link of a
    complete file, which fails where the name exists); then check the folder's plan is this part's. VidganError
    when another render planned it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PLAN
    if not path.exists():
        temp = temp_path_for(path)
        try:
            temp.write_text(json.dumps(record, indent=1), encoding="utf-8")
            os.link(temp, path)
        except FileExistsError:
            pass  # another part was first
        except OSError:  # a file system without hard links: replaced whole; a different plan is caught below
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    recorded = read_plan(folder)
    if recorded["plan"] != record["plan"]:
        differs = next(key for key in record["plan"] if recorded["plan"].get(key) != record["plan"][key])
        raise VidganError(
            f"{path}: planned by another render (its {differs} differs from this one's); give each shot, with the same"
            " options and --batch-size on every machine, its own --parts folder"
        )


def read_plan(folder: Path) -> dict:
    """The plan.json of a parts folder; VidganError when there is none or it is not one."""
    path = folder / PLAN
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VidganError(f"{folder}: holds no {PLAN}; it is not the --parts folder of `vidgan render --segment`") from None
    except (OSError, ValueError) as exc:
        raise VidganError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(record, dict) or record.get("vidgan_parts") != FORMAT_VERSION:
        raise VidganError(f"{path}: not a plan of vidgan's parts (version {FORMAT_VERSION})")
    return record


def part_writer(folder: Path, plan: ClipPlan, segment: Segment) -> Callable[[Output, ClipPlan, RenderOptions], FrameWriter]:
    """open_writer for one part: output J goes to partKofN/J.SUFFIX (a video, without tracks) or partKofN/J/
    (frames named as in one pass, an older attempt's removed)."""
    where = folder / part_name(segment.number + 1, segment.count)
    numbers = {output.path: j for j, output in enumerate(_outputs(plan))}

    def open_part(output: Output, plan: ClipPlan, options: RenderOptions) -> FrameWriter:
        name = str(numbers[output.path]) + ("" if output.format.sequence else output.path.suffix)
        return open_writer(replace(output, path=where / name), plan, replace(options, audio=False, resume=False))

    return open_part


def start_part(folder: Path, plan: ClipPlan, options: RenderOptions, segments: list[Segment]) -> Segment | str:
    """Before part K is rendered: the folder's plan claimed or checked; the segment to render, or why there is
    nothing to (a part already complete, or a K past the clip's parts)."""
    claim(folder, _plan_record(plan, options, segments))
    number, tasks = options.segment
    if number > len(segments):
        return f"part {number} of {tasks}: the clip makes only {len(segments)} parts of whole batches; nothing to render"
    name = part_name(number, len(segments))
    if (folder / f"{name}.json").exists():
        return f"{folder / name}: part {number} of {tasks} is already rendered; skipped"
    shutil.rmtree(folder / name, ignore_errors=True)  # what a failed attempt left
    return segments[number - 1]


def finish_part(folder: Path, segment: Segment, frames: int) -> Path:
    """Record part K as complete (after all its outputs are closed); returns its folder."""
    name = part_name(segment.number + 1, segment.count)
    record = {"part": segment.number + 1, "count": segment.count, "frames": frames}
    write_text_atomic(folder / f"{name}.json", json.dumps(record))
    return folder / name


@dataclass(frozen=True)
class JoinOptions:
    """How `vidgan join` (join_parts) makes the one-pass output of a folder of parts."""

    parts: Path = option(help="The --parts folder of `vidgan render --segment K/N`.", argument=True)
    # of the planned output's kind: its suffix, or a folder for a sequence (_output_paths refuses another)
    out: Path | None = option(None, "The output (default: the one the render planned); its outputs are named after it.")
    overwrite: bool = option(False, "Replace existing outputs.", flags=("--overwrite",))

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", Path(self.parts))
        if self.out is not None:
            object.__setattr__(self, "out", Path(self.out))

    def validate(self) -> None:
        """UsageError for a --parts that is not a folder."""
        if not self.parts.is_dir():
            raise UsageError(f"{self.parts}: not a folder of parts")


@dataclass(frozen=True)
class JoinResult:
    outputs: list[Path]
    frames: int


def _complete_parts(folder: Path, count: int, tasks: int) -> list[Path]:
    """The folders of parts 1 … count, in order. VidganError naming a part that is missing, or there twice."""
    found: dict[int, Path] = {}  # part number → its record
    for path in sorted(folder.glob("part*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            number, counted = record["part"], record["count"]
        except (OSError, ValueError, KeyError, TypeError):
            raise VidganError(f"{path}: not the record of a complete part") from None
        if counted != count:
            raise VidganError(f"{path}: part {number} of {counted}, where {folder / PLAN} plans {count} parts")
        if number in found:
            raise VidganError(f"{folder}: part {number} of {count} is there twice ({found[number].name} and {path.name})")
        found[number] = path
    missing = [number for number in range(1, count + 1) if number not in found]
    if missing:
        listed = ", ".join(str(number) for number in missing)
        again = " ".join(f"--segment {number}/{tasks}" for number in missing)
        raise VidganError(f"{folder}: part {listed} of {count} missing or unfinished (render {again} into it)")
    return [folder / part_name(number, count) for number in range(1, count + 1)]


def _output_paths(where: dict, out: Path | None) -> list[Path]:
    """The outputs' paths: as planned, or moved to --out, which names the planned --out's outputs (side-by-sides,
    mattes, both directions) as a render with it would name them: each planned name's --out stem replaced."""
    planned = [Path(path) for path in where["outputs"]]
    if out is None:
        return planned
    if where["out"] is None:
        if len(planned) > 1:
            raise UsageError("--out: the render had no --out and plans several outputs; join them where it planned them")
        planned_out = planned[0]
    else:
        planned_out = Path(where["out"])
    if out.suffix.lower() != planned_out.suffix.lower():
        raise UsageError(f"{out}: the parts are {planned_out.suffix or 'an image sequence (a folder)'}; --out must be too")
    return [out.with_name(out.stem + path.name[len(planned_out.stem) :]) for path in planned]


def _join_sequence(target: Path, parts: list[Path]) -> int:
    """Hard-link (else copy) every part's frames into the folder `target` by name; returns how many."""
    frames = {}
    for part in parts:
        for frame in sorted(part.iterdir()):
            if frame.name == INCOMPLETE_MARKER:
                continue
            if frame.name in frames:
                raise VidganError(f"{frame}: frame {frame.name} is also in {frames[frame.name].parent}")
            frames[frame.name] = frame
    target.mkdir(parents=True, exist_ok=True)
    (target / INCOMPLETE_MARKER).write_text(INCOMPLETE_NOTE, encoding="utf-8")
    suffixes = {Path(name).suffix for name in frames}
    for stale in target.iterdir():  # an older render's frames, so that none is left among the new
        if stale.suffix in suffixes and stale.name not in frames:
            stale.unlink()
    for name, frame in frames.items():
        temp = temp_path_for(target / name)
        temp.unlink()
        try:
            os.link(frame, temp)
        except OSError:  # another file system, or one without hard links
            shutil.copy2(frame, temp)
        os.replace(temp, target / name)
    (target / INCOMPLETE_MARKER).unlink()
    return len(frames)


def join_parts(options: JoinOptions) -> JoinResult:
    """Join the complete parts in `options.parts` into the outputs a one-pass render writes: video parts by copying
    packets with the source's audio and subtitles muxed once (cut to the frame range), image sequences by name.
    Raises VidganError naming a missing or doubled part, UsageError for an output there without --overwrite."""
    options.validate()
    folder = options.parts
    record = read_plan(folder)
    plan, where = record["plan"], record["where"]
    parts = _complete_parts(folder, len(plan["parts"]), plan["tasks"])
    paths = _output_paths(where, options.out)
    for path in paths:
        there = path.exists() and (not path.is_dir() or any(path.iterdir()))
        if there and not options.overwrite:
            raise UsageError(f"{path}: already exists (pass --overwrite to replace it)")
    fps, time_base = Fraction(plan["fps"]), Fraction(plan["time_base"])
    source = Path(where["source"])
    frames = 0
    for j, (output, path) in enumerate(zip(plan["outputs"], paths)):
        fmt = output_format(output["format"])
        if fmt.sequence:
            frames = _join_sequence(path, [part / str(j) for part in parts])
            continue
        clip = open_clip(source, fps, plan["colorspace"])  # the picture tags a video declares
        planned = [tuple(p["stamps"][p["first"] - p["start"] : p["stop"] - p["start"]]) for p in plan["parts"]]
        videos = VideoParts([part / f"{j}{path.suffix}" for part in parts], fps, planned, time_base)
        path.parent.mkdir(parents=True, exist_ok=True)
        join_video(path, videos, source if plan["tracks"] else None, clip.tags, tuple(plan["tracks_span"]))
        frames = sum(len(stamps) for stamps in planned)
    return JoinResult(paths, frames)
