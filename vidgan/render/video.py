"""Render: run trained generators over whole clips, frame by frame, and write what a VFX artist can use.

Inputs are video files or image sequences; outputs H.264, ProRes 422 HQ or 4444, FFV1, or PNG, TIFF or OpenEXR
sequences at the source's resolution, frame numbers, timestamps, audio, bit depth and alpha (vidgan.io.plates).
Decoding, translation and encoding overlap: frames are decoded on one thread, translated in batches on the calling
thread, and smoothed, measured and encoded on another, with bounded queues between them so memory stays flat
however long the clip is.

render_video plans every output (vidgan.render.outputs), loads a translator per direction
(vidgan.render.translator), then renders clip after clip with a ClipRenderer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from vidgan.core import distributed
from vidgan.core.background import BackgroundWriter, in_background
from vidgan.core.devices import inference_dtype, resolve_device
from vidgan.core.directions import Direction
from vidgan.core.errors import Interrupted, StopRequest, UsageError, interrupts_deferred
from vidgan.core.progress import make_progress, warn
from vidgan.io.images import to_8bit
from vidgan.io.video import Frame
from vidgan.render.farm import farm_segments, finish_part, start_part
from vidgan.render.farm import part_writer as farm_writer
from vidgan.render.formats import FrameWriter
from vidgan.render.options import RenderOptions
from vidgan.render.outputs import ClipPlan, Output, dropped_tracks, open_writer, plan_outputs, what_was_kept
from vidgan.render.provenance import check_kept, render_record, write_record
from vidgan.render.segments import (
    Segment,
    join,
    part_writer,
    plan_segments,
    prepare,
    segment_frames,
    segments_per_clip,
    warm_up_frames,
    whole_clip,
)
from vidgan.render.temporal import MotionTracker, TemporalSmoother, WarpErrorMeter
from vidgan.render.translator import FrameTranslator, default_batch_size, load_translators, render_threads

if TYPE_CHECKING:
    import torch

# Under torchrun, a rank that finishes its share early waits this long for the others' results.
SHARE_TIMEOUT = timedelta(hours=24)


@dataclass
class RenderedClip:
    """What became of one input: an output (and side-by-side) per direction, and how much each flickers."""

    source: Path
    outputs: dict[str, Path]  # direction name → output file or PNG folder
    compares: dict[str, Path]  # direction name → side-by-side, when asked for
    mattes: dict[str, Path]  # direction name → folder of change mattes, when asked for
    frames: int
    resumed: int  # frames kept from an interrupted earlier render (--resume)
    warp_errors: dict[str, float | None]  # direction name → the output's warp error (vidgan.render.temporal)
    source_warp_error: float | None  # the source clip's own, the baseline
    pairs: int = 0  # frame pairs the warp errors average over


@dataclass
class RenderResult:
    clips: list[RenderedClip]
    seconds: float
    notes: list[str] = field(default_factory=list)  # why a --segment part rendered nothing (done before, past the end)

    @property
    def frames(self) -> int:
        return sum(clip.frames for clip in self.clips)

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def _batches(frames: Iterable[Frame], size: int, cut: int = 0) -> Iterator[list[Frame]]:
    """Lists of `size` frames (the last may be shorter); one also ends after the first `cut` frames, so that the
    frames after them are batched as in a pass from there."""
    batch: list[Frame] = []
    for count, frame in enumerate(frames, 1):
        batch.append(frame)
        if len(batch) == size or count == cut:
            yield batch
            batch = []
    if batch:
        yield batch


def _labelled(rgb: np.ndarray, text: str) -> np.ndarray:
    """A copy of rgb with `text` in its top-left corner, white on a dark outline, sized to the frame."""
    labelled = rgb.copy()
    scale = max(0.35, rgb.shape[0] / 720)
    origin = (max(2, round(8 * scale)), max(10, round(28 * scale)))
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(labelled, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)
    return labelled


# One decoded frame and, per direction, its output, its change matte (None unless asked for), and whether that
# output was kept from an earlier render.
_Translated = tuple[Frame, dict[Direction, tuple[np.ndarray, np.ndarray | None, bool]]]


class ClipRenderer:
    """Renders one planned clip: decode (thread) → translate in batches → smooth, measure and encode (thread),
    keeping each frame's timestamp. Holds the clip's writers, its flicker meters and its smoothers.

    Optical flow is the costly part of smoothing and measuring (a fifth of a second per 1080p frame on a CPU), so
    it is estimated only for frames that smoothing or a measured pair needs; meters see only the two frames of
    each measured pair (every `warp_error_every`-th).

    With a `segment` (vidgan.render.segments) it renders only that range of the clip into the segment's writers
    (`opener`'s, else those of a torchrun segment); its warm-up frames go through smoothing and metering but are
    not written.
    """

    def __init__(
        self,
        plan: ClipPlan,
        translators: dict[Direction, FrameTranslator],
        options: RenderOptions,
        batch_size: int,
        segment: Segment | None = None,
        opener: Callable[[Output, ClipPlan, RenderOptions], FrameWriter] | None = None,
    ) -> None:
        self.plan = plan
        self.segment = segment or whole_clip(plan.clip)
        self.translators = translators
        self.options = options
        self.batch_size = batch_size
        self.opener = opener or (open_writer if self.segment.count == 1 else part_writer(self.segment))
        self.writers: dict[Direction, FrameWriter] = {}
        self.compares: dict[Direction, FrameWriter] = {}
        self.mattes: dict[Direction, FrameWriter] = {}
        self.tracker = MotionTracker()
        self.source_meter = WarpErrorMeter()
        self.meters = {t.direction: WarpErrorMeter() for t in plan.targets}
        self.smoothers = {t.direction: TemporalSmoother(options.temporal_smooth) for t in plan.targets}
        self.frames = 0  # decoded and translated, warm-up frames included
        self.resumed = 0  # outputs kept from an earlier render, over all directions
        self.finished = 0  # smoothed, measured and encoded

    def render(self, advance: Callable[[int, float], None], stop: StopRequest) -> RenderedClip:
        """Render every frame, calling `advance(frames, fps)` after each batch. Ctrl-C or SIGTERM (`stop`) is taken
        between batches, where no queue between the threads is half-updated, and raises Interrupted."""
        clip = self.plan.clip
        if self.segment.number == 0 and (dropped := dropped_tracks(self.plan, self.options)) is not None:
            warn(dropped)
        started = time.perf_counter()
        encoder = BackgroundWriter(self._finish, maxsize=2 * self.batch_size)
        try:
            self._open_writers()
            frames = in_background(segment_frames(clip, self.segment, deep=self.plan.deep), 2 * self.batch_size)
            # Batches on the clip's grid (whole batches from its first frame), as in one pass: warm-up frames before
            # the segment's first grid batch are batched apart.
            for batch in _batches(frames, self.batch_size, cut=-self.segment.start % self.batch_size):
                if stop.requested:
                    raise KeyboardInterrupt  # cleaned up and reported below, as one that could not wait
                for item in self._translate(batch):
                    encoder.submit(item)
                self.frames += len(batch)
                advance(len(batch), self.frames / (time.perf_counter() - started))
            encoder.finish()
            # Only complete files are moved to their final names.
            for writer in self._all_writers():
                writer.close()
        except BaseException as error:
            encoder.finish(check=False)
            for writer in self._all_writers():
                writer.abort()
            if isinstance(error, KeyboardInterrupt):
                raise Interrupted(what_was_kept(self.plan, self._all_writers())) from None
            raise
        return self._result()

    def _open_writers(self) -> None:
        roles = {"output": self.writers, "compare": self.compares, "matte": self.mattes}
        for target in self.plan.targets:
            for role, output in self.plan.outputs(target):
                roles[role][target.direction] = self.opener(output, self.plan, self.options)

    def _all_writers(self) -> list[FrameWriter]:
        return [*self.writers.values(), *self.compares.values(), *self.mattes.values()]

    def _translate(self, batch: list[Frame]) -> list[_Translated]:
        """Each frame of the batch with its output per direction; with --resume, outputs already written are
        read back instead of translated again."""
        results: dict[Direction, list[tuple[np.ndarray, np.ndarray | None, bool]]] = {}
        positions = range(self.segment.start + self.frames, self.segment.start + self.frames + len(batch))
        # Filling frames are translated whatever another render left: they keep the last batch whole.
        looked_up = [self.options.resume and not self.segment.fills(p) for p in positions]
        for direction, translate in self.translators.items():
            earlier = [self.writers[direction].existing(f) if look else None for f, look in zip(batch, looked_up)]
            fresh = iter(translate([f for f, e in zip(batch, earlier) if e is None]))
            results[direction] = [(*next(fresh), False) if e is None else (e, None, True) for e in earlier]
            self.resumed += sum(e is not None and self.segment.writes(p) for p, e in zip(positions, earlier))
        return [(frame, {d: results[d][i] for d in self.translators}) for i, frame in enumerate(batch)]

    def _measured(self, position: int) -> bool:
        """Whether the pair (frame position − 1, frame position) counts towards the warp error."""
        every = self.options.warp_error_every
        return every > 0 and position > 0 and position % every == 0

    def _finish(self, item: _Translated) -> None:
        """Runs on the encoder thread, in frame order: motion, smoothing and flicker measures are sequential.

        Outputs of frames with a Plate are float32 at full depth; side-by-sides and flicker meters take their
        8-bit view."""
        frame, results = item
        position, self.finished = self.segment.start + self.finished, self.finished + 1
        if self.segment.fills(position):
            return  # nothing after it is written or measured: no motion, smoothing or meter needed
        written = self.segment.writes(position)
        measure = written and self._measured(position)
        metered = measure or self._measured(position + 1)
        motion = self.tracker(frame.rgb, estimate=measure or self.options.temporal_smooth > 0)
        if metered:
            self.source_meter.add(frame.rgb, motion if measure else None)
        for direction, (rgb, matte, done_before) in results.items():
            if done_before:
                self.smoothers[direction].follow(rgb)
            else:
                rgb = self.smoothers[direction](rgb, motion)
                if written:
                    self._write(direction, frame, rgb, matte)
            if metered:
                self.meters[direction].add(to_8bit(rgb), motion if measure else None)

    def _write(self, direction: Direction, frame: Frame, rgb: np.ndarray, matte: np.ndarray | None) -> None:
        """One finished output frame, with its side-by-side and change matte where asked for."""
        if direction in self.compares:  # before the output, so a resumed output always has its side-by-side
            side_by_side = [_labelled(frame.rgb, "source"), _labelled(to_8bit(rgb), direction.name)]
            self.compares[direction].write_frame(replace(frame, plate=None), np.concatenate(side_by_side, axis=1))
        self.writers[direction].write_frame(frame, rgb, matte if self.options.alpha == "matte" else None)
        if direction in self.mattes:
            self.mattes[direction].write_frame(frame, matte)

    def _result(self) -> RenderedClip:
        targets = self.plan.targets
        return RenderedClip(
            source=self.plan.clip.path,
            outputs={t.direction.name: t.path for t in targets},
            compares={t.direction.name: t.compare for t in targets if t.compare is not None},
            mattes={t.direction.name: t.matte for t in targets if t.matte is not None},
            frames=self.segment.written(self.frames),
            resumed=self.resumed // len(self.translators),
            warp_errors={d.name: meter.value for d, meter in self.meters.items()},
            source_warp_error=self.source_meter.value,
            pairs=self.source_meter.pairs,
        )


# What one process renders at a time: a whole clip (segment None), or one segment of it.
_Unit = tuple[ClipPlan, Segment | None]


def _render_share(
    share: list[_Unit], translators: dict[Direction, FrameTranslator], options: RenderOptions, batch_size: int
) -> list[RenderedClip]:
    """Render clips or segments one after the other, with a bar for each and one for all of them (on rank 0 only)."""
    rendered = []
    counts = [plan.clip.frame_count if segment is None else segment.decoded for plan, segment in share]
    with make_progress(quiet=options.quiet or not distributed.is_main_process()) as progress, interrupts_deferred() as stop:
        overall = None
        if len(share) > 1:
            overall = progress.add_task(f"{len(share)} clips", total=sum(counts) if all(counts) else None, info="")
        for (plan, segment), count in zip(share, counts):
            part = "" if segment is None else f" part {segment.number + 1}/{segment.count}"
            bar = progress.add_task(f"{plan.clip.stem}{part} {options.direction_label}", total=count, info="")

            def advance(frames: int, fps_now: float, bar: int = bar) -> None:
                progress.update(bar, advance=frames, info=f"{fps_now:.1f} fps")
                if overall is not None:
                    progress.update(overall, advance=frames)

            rendered.append(ClipRenderer(plan, translators, options, batch_size, segment).render(advance, stop))
    return rendered


def _units(plans: list[ClipPlan], options: RenderOptions, batch_size: int) -> list[_Unit]:
    """Whole clips, or with --segments (or auto under torchrun) each clip's segments in time order; a clip with a
    frame range (--frames, --start/--end) as the segments of that range."""
    parts = segments_per_clip(options.segments, len(plans), distributed.world_size())
    warm_up = warm_up_frames(options.temporal_smooth)
    units: list[_Unit] = []
    for plan in plans:
        if parts == 1 and plan.span is None:
            units.append((plan, None))
        else:  # a frame range is rendered like a segment: seeking to its first frame
            units += [(plan, segment) for segment in plan_segments(plan.clip, parts, warm_up, batch_size, plan.span)]
    return units


def _merged(parts: list[RenderedClip]) -> RenderedClip:
    """One clip's result from its segments' (in time order): frames added up, warp errors averaged over all pairs."""
    pairs = sum(part.pairs for part in parts)

    def mean(values: list[float | None]) -> float | None:
        total = sum(value * part.pairs for value, part in zip(values, parts) if value is not None)
        return total / pairs if pairs else None

    return replace(
        parts[0],
        frames=sum(part.frames for part in parts),
        resumed=sum(part.resumed for part in parts),
        warp_errors={name: mean([part.warp_errors[name] for part in parts]) for name in parts[0].warp_errors},
        source_warp_error=mean([part.source_warp_error for part in parts]),
        pairs=pairs,
    )


def _joined(units: list[_Unit], rendered: list[RenderedClip], options: RenderOptions) -> list[RenderedClip]:
    """Every input's result, in input order; rank 0 joins the segments of each segmented clip into its outputs."""
    clips = []
    for _, group in groupby(zip(units, rendered), key=lambda done: id(done[0][0])):
        group = list(group)
        plan, segments = group[0][0][0], [segment for (_, segment), _ in group]
        if segments[0] is not None and segments[0].count > 1 and distributed.is_main_process():
            join(plan, segments, options.audio)
        clips.append(_merged([clip for _, clip in group]))
    distributed.barrier()  # no rank returns before the joined outputs are there
    return clips


def _record_sequences(
    plans: list[ClipPlan], source: Path, translators: dict[Direction, FrameTranslator], options: RenderOptions
) -> None:
    """Record in each image-sequence output folder what renders it (vidgan.render.provenance); with --resume, every
    folder's kept frames are checked against it first, so a refused resume writes nothing."""
    folders = []
    for plan in plans:
        for target in plan.targets:
            weights = translators[target.direction].weights
            record = render_record(plan.clip.path, source, weights, target.direction.name, plan.format.name, options)
            folders += [(output.path, record) for _, output in plan.outputs(target) if output.format.sequence]
    if options.resume:
        for folder, record in folders:
            check_kept(folder, record)
    for folder, record in folders:
        write_record(folder, record)


def render_video(inputs: str | Path | Sequence[str | Path], source: str | Path, options: RenderOptions) -> RenderResult:
    """Translate every frame of each input (video file, image folder or printf pattern) with the generator in `source`.

    `source` is a vidgan run folder or checkpoint, or with `options.arch` a reference CycleGAN state dict. Outputs
    go to `options.out` (one input), into `options.out_dir`, or beside each input as STEM_DIRECTION.mp4 (a PNG
    folder for sequences). Every option, input and output is checked before any work (UsageError, VidganError).
    Ctrl-C or SIGTERM raises Interrupted: a video is then not written, an image sequence keeps its finished frames
    (and INCOMPLETE.txt) for `options.resume`.
    Under torchrun, rank i of N renders inputs i, i+N, …, and every rank returns every clip. With segments
    (vidgan.render.segments: `options.segments`, or auto under torchrun with fewer inputs than processes) the
    units shared so are the clips' time segments, and rank 0 joins them; in one process, they are rendered in turn.
    """
    options.validate()
    paths = [Path(p) for p in ([inputs] if isinstance(inputs, (str, Path)) else inputs)]
    # A part writes into its parts folder only: the join checks the outputs (so a retried part is skipped after it).
    plans = plan_outputs(paths, options if options.segment is None else replace(options, overwrite=True))
    device = resolve_device(options.device)
    with render_threads(options, device) as cores:
        if options.segment is not None:
            return _render_part(plans, Path(source), options, device, cores)
        return _render_all(plans, Path(source), options, device, cores)


def _render_all(plans: list[ClipPlan], source: Path, options: RenderOptions, device: torch.device, cores: int) -> RenderResult:
    """Every planned clip (or its segments), shared out over the torchrun processes when there are several."""
    distributed.join(device, timeout=SHARE_TIMEOUT)
    batch_size = options.batch_size or default_batch_size(device)
    units = _units(plans, options, batch_size)
    translators = load_translators(source, options, device, inference_dtype(device, options.half), cores)
    if distributed.is_main_process():
        _record_sequences(plans, source, translators, options)
        for plan, segment in units:
            if segment is not None and segment.number == 0 and segment.count > 1:
                prepare(plan, options)
    distributed.barrier()  # every rank has checked the outputs before any is written

    started = time.perf_counter()
    share = units[distributed.rank() :: distributed.world_size()]
    rendered = _render_share(share, translators, options, batch_size)
    shares = distributed.gather(rendered)  # rank r rendered units r, r+N, …: back into their order
    rendered = [shares[i % len(shares)][i // len(shares)] for i in range(len(units))]
    return RenderResult(_joined(units, rendered, options), time.perf_counter() - started)


def _render_part(plans: list[ClipPlan], source: Path, options: RenderOptions, device: torch.device, cores: int) -> RenderResult:
    """`--segment K/N --parts DIR`: part K of the one input's N segments, into DIR (vidgan.render.farm), in this
    process alone; nothing when DIR holds it complete already."""
    if len(plans) != 1:
        raise UsageError("--segment renders a part of one input; give one")
    plan, folder = plans[0], options.parts
    batch_size = options.batch_size or default_batch_size(device)
    segment = start_part(folder, plan, options, farm_segments(plan, options, batch_size))
    if isinstance(segment, str):
        return RenderResult([], 0.0, [segment])
    translators = load_translators(source, options, device, inference_dtype(device, options.half), cores)
    started = time.perf_counter()
    renderer = ClipRenderer(plan, translators, options, batch_size, segment, farm_writer(folder, plan, segment))
    with make_progress(quiet=options.quiet) as progress, interrupts_deferred() as stop:
        name = f"{plan.clip.stem} part {segment.number + 1}/{segment.count}"
        bar = progress.add_task(name, total=segment.decoded, info="")
        clip = renderer.render(lambda frames, fps: progress.update(bar, advance=frames, info=f"{fps:.1f} fps"), stop)
    written = finish_part(folder, segment, clip.frames)
    part = replace(clip, outputs={name: written for name in clip.outputs}, compares={}, mattes={})
    return RenderResult([part], time.perf_counter() - started)
