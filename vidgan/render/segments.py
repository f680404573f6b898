"""One clip rendered as time segments by several processes (`vidgan render --segments`), joined exactly.

A clip's frames, in presentation order, are split into contiguous ranges by their timestamps (read from the
packets, without decoding). Each process renders its range: it seeks to the keyframe at or before the range's
first frame, decodes forward, and drops what comes before. A few frames before the range ("warm-up") are decoded
and translated but not written, so that the temporal smoother and the warp-error meter enter the range as they
would in one pass, and the frames before and after it that share its end batches fill those batches as in one
pass. Every decoded frame's timestamp is checked against the packets': a clip that does not decode
the same from a keyframe fails with an error rather than a frame short.

Video outputs are written per segment to hidden files beside the output (in the output's codec, renamed into
place only when complete); rank 0 then joins them by copying packets, with the source's timestamps and decoding
timestamps made continuous, and muxes the source's audio and subtitles once (vidgan.io.tracks). Image sequences
need no join: every segment writes its frames, numbered as in one pass, into the one folder, whose
INCOMPLETE.txt goes only once every segment is done; `--resume` continues each segment where it stopped.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from vidgan.core.errors import VidganError
from vidgan.core.fsutil import temp_path_for, through_links
from vidgan.core.progress import warn
from vidgan.io.ranges import Span, whole_span
from vidgan.io.sequences import INCOMPLETE_MARKER, Clip, iter_sequence_frames
from vidgan.io.tracks import SourceTracks, ffmpeg_reason
from vidgan.io.video import Frame, PictureTags, iter_frames, muxer_options
from vidgan.render.formats import FrameWriter
from vidgan.render.options import RenderOptions
from vidgan.render.outputs import ClipPlan, Output, open_writer

# Warm-up frames with temporal smoothing at most: towards strength 1 the smoother remembers for ever.
MAX_WARM_UP = 64


@dataclass(frozen=True)
class Segment:
    """Frames first … stop−1 of a clip (positions in presentation order), decoded from `start` (≤ first) to `end`−1
    (≥ stop−1): frames start … first−1 only warm the smoother and the meters, frames stop … end−1 only fill the last
    batch. `stamps` are the pts of frames start … end−1 (the clip's time base; for an image sequence, frame numbers
    from the first file's), None for a whole clip."""

    number: int  # 0-based
    count: int  # segments of the clip
    start: int
    first: int
    stop: int
    end: int
    stamps: tuple[int, ...] | None

    @property
    def decoded(self) -> int:
        """Frames decoded and translated: the written ones and those before and after them (for a whole clip, the
        count its container gives, 0 where it gives none)."""
        return self.end - self.start

    @property
    def written_stamps(self) -> tuple[int, ...] | None:
        """The pts of the frames written, first … stop−1 (None for a whole clip)."""
        return None if self.stamps is None else self.stamps[self.first - self.start : self.stop - self.start]

    def fills(self, position: int) -> bool:
        """Whether the frame at `position` comes after the written ones, decoded only to fill the last batch."""
        return self.stamps is not None and position >= self.stop

    def writes(self, position: int) -> bool:
        """Whether the frame at `position` is written, not only decoded; a whole clip writes every frame it has."""
        return self.stamps is None or self.first <= position < self.stop

    def written(self, decoded: int) -> int:
        """How many of the first `decoded` frames decoded are written."""
        return decoded if self.stamps is None else max(0, min(self.start + decoded, self.stop) - self.first)


def whole_clip(clip: Clip) -> Segment:
    """The one segment of a clip rendered whole in one pass."""
    return Segment(0, 1, 0, 0, clip.frame_count or 0, clip.frame_count or 0, None)


def segments_per_clip(asked: int | None, inputs: int, processes: int) -> int:
    """How many segments each clip is cut into: `asked` (--segments N), or for auto (None) one per process when
    there are fewer inputs than processes, else 1 (whole clips, shared among the processes)."""
    if asked is not None:
        return asked
    return processes if inputs < processes else 1


def warm_up_frames(temporal_smooth: float) -> int:
    """Frames decoded before a segment's first: 1 without smoothing (the frame pair across the cut, for the warp
    error); with smoothing at strength s, the n after which what came before weighs under half a grey level in a
    smoothed frame (s**n × 255 < 0.5), at most MAX_WARM_UP. Only smoothing off makes a cut exact to the bit."""
    if temporal_smooth <= 0:
        return 1
    if temporal_smooth >= 1:
        return MAX_WARM_UP
    return min(MAX_WARM_UP, max(1, math.ceil(math.log(0.5 / 255) / math.log(temporal_smooth))))


def split(frames: int, parts: int) -> list[tuple[int, int]]:
    """`frames` positions cut into at most `parts` contiguous (first, stop) ranges, none empty, whose lengths
    differ by at most one (the longer ones first)."""
    parts = max(1, min(parts, frames))
    size, extra = divmod(frames, parts)
    ranges, first = [], 0
    for number in range(parts):
        stop = first + size + (number < extra)
        ranges.append((first, stop))
        first = stop
    return ranges


def plan_segments(clip: Clip, parts: int, warm_up: int, batch_size: int, span: Span | None = None) -> list[Segment]:
    """The segments of the clip's frames in `span` (None: all of them): `parts` of them (fewer for a range of
    fewer batches), each warmed by `warm_up` frames before its first. Segments start at whole batches of
    `batch_size` from the clip's first frame, and a range that starts or ends within a batch decodes that batch's
    other frames too (before its first as warm-up, after its last to fill the batch), so that every frame meets the
    generator in the same batch as in one pass (the CPU's one-thread kernels and some GPU kernels give results that
    depend on the batch). A video whose packets lack timestamps is one segment."""
    if span is None and parts > 1:
        span = whole_span(clip)
        if span is None:
            warn(f"{clip.path}: its packets have no timestamps, so it cannot be cut into segments; one process renders it")
    if span is None:
        return [whole_clip(clip)]
    grid = span.first - span.first % batch_size  # the one-pass batch the range's first frame is in starts here
    batches = split(math.ceil((span.stop - grid) / batch_size), parts)
    ranges = [(max(span.first, grid + first * batch_size), min(grid + stop * batch_size, span.stop)) for first, stop in batches]
    segments = []
    for number, (first, stop) in enumerate(ranges):
        start = max(0, min(first - warm_up, first - first % batch_size))
        end = min(len(span.stamps), stop + -stop % batch_size)
        segments.append(Segment(number, len(ranges), start, first, stop, end, span.stamps[start:end]))
    return segments


def segment_frames(clip: Clip, segment: Segment, deep: bool = False) -> Iterator[Frame]:
    """Frames start … stop−1 of the clip, as one pass over it would yield them (index, time, pts and pixels;
    `deep`: as Clip.frames).

    A seek that misses the segment's first frame (a container whose index puts the keyframe after it) is retried by
    decoding from the clip's start, with a warning. Raises VidganError when the frames then decode with other
    timestamps than the packets announced.
    """
    if segment.stamps is None:
        yield from clip.frames(deep=deep)
        return
    if clip.sequence is not None:
        yield from _sequence_frames(clip, segment)
        return
    frames = _seek_frames(clip, segment, deep)
    decoded = 0
    try:
        for expected, frame in zip(segment.stamps, frames):  # the stamps end first: no frame decoded past them
            if frame.pts != expected:
                raise VidganError(
                    f"{clip.path}: frame {frame.index} decodes with pts {frame.pts} after a seek, where its packets"
                    f" say {expected}; this clip cannot be cut exactly: render it with --segments 1"
                )
            yield frame
            decoded += 1
    finally:
        frames.close()
    if decoded < len(segment.stamps):
        raise VidganError(f"{clip.path}: decoding ended before frame {segment.end - 1}; render it with --segments 1")


def _seek_frames(clip: Clip, segment: Segment, deep: bool) -> Iterator[Frame]:
    """The clip's frames from the segment's start on: decoded from the keyframe before it, or where that seek lands
    past it, from the clip's start (frames before the segment are decoded but not converted to RGB)."""
    frames = iter_frames(clip.path, seek=(segment.stamps[0], segment.start), deep=deep)
    try:
        first = next(frames, None)
        if first is not None and first.pts == segment.stamps[0]:
            yield first
            yield from frames
            return
    finally:
        frames.close()
    warn(f"{clip.path}: seeking to frame {segment.start} for part {segment.number + 1} missed it; decoding from the start")
    yield from iter_frames(clip.path, keep=lambda index: index >= segment.start, deep=deep)


def _sequence_frames(clip: Clip, segment: Segment) -> Iterator[Frame]:
    """Files start … end−1 of an image sequence, with the pts and times they have in the whole sequence."""
    files = clip.sequence.files
    first_number = files[0][0]
    part = replace(clip.sequence, files=files[segment.start : segment.end])
    for frame in iter_sequence_frames(part, clip.fps):
        pts = frame.index - first_number
        yield replace(frame, time=float(pts / clip.fps), pts=pts)  # the plate (depth, alpha) comes along


def part_path(path: Path, segment: Segment) -> Path:
    """The hidden file beside a video output that holds one segment until rank 0 joins them."""
    return path.with_name(f".{path.stem}.part{segment.number + 1}of{segment.count}{path.suffix}")


class SharedSequenceWriter:
    """The FrameWriter of one segment into an image sequence that several segments write: its frames go straight
    into the folder through the sequence's own writer, and close() leaves the folder unfinished (INCOMPLETE.txt
    stays; join removes it once every segment is done)."""

    def __init__(self, writer: FrameWriter) -> None:
        self._writer = writer
        self.path = writer.path

    def existing(self, frame: Frame) -> np.ndarray | None:
        return self._writer.existing(frame)

    def write_frame(self, frame: Frame, picture: np.ndarray, alpha: np.ndarray | None = None) -> None:
        self._writer.write_frame(frame, picture, alpha)

    def written(self) -> list[Path]:
        return self._writer.written()

    def close(self) -> None:
        """Nothing to finish: every frame is already a complete file."""

    def abort(self) -> None:
        self._writer.abort()


def part_writer(segment: Segment) -> Callable[[Output, ClipPlan, RenderOptions], FrameWriter]:
    """open_writer for one segment: a video goes to its hidden part, without tracks (the join adds them once); an
    image sequence to the shared folder as it is (prepare() cleared older frames once, and other segments are
    writing into it)."""

    def open_part(output: Output, plan: ClipPlan, options: RenderOptions) -> FrameWriter:
        if output.format.sequence:
            return SharedSequenceWriter(open_writer(output, plan, replace(options, resume=True)))
        return open_writer(replace(output, path=part_path(output.path, segment)), plan, replace(options, audio=False))

    return open_part


def _outputs(plan: ClipPlan) -> Iterator[Output]:
    """Each output of the plan: outputs, side-by-sides and matte folders."""
    for target in plan.targets:
        for _, output in plan.outputs(target):
            yield output


def prepare(plan: ClipPlan, options: RenderOptions) -> None:
    """Before any segment is rendered (rank 0): sequence folders get their INCOMPLETE.txt and lose the frames of an
    older render (unless resumed); hidden parts of an older, failed segmented render go."""
    for output in _outputs(plan):
        if output.format.sequence:
            open_writer(output, plan, options)
        else:
            path = output.path
            for stale in path.parent.glob(f".{path.stem}.part*of*{path.suffix}"):
                stale.unlink(missing_ok=True)


def join(plan: ClipPlan, segments: list[Segment], audio: bool) -> None:
    """Rank 0, once every segment is rendered: join each video output's parts into the output (with the source's
    audio and subtitle tracks when `audio`), and mark each sequence folder complete. Raises VidganError."""
    for output in _outputs(plan):
        path = output.path
        if output.format.sequence:
            (path / INCOMPLETE_MARKER).unlink(missing_ok=True)
            continue
        parts = [part_path(path, segment) for segment in segments]
        # Like writer_spec: every video output of a video source carries its tracks, side-by-sides too.
        tracks_from = plan.clip.path if audio and plan.clip.sequence is None else None
        planned = [segment.written_stamps for segment in segments]
        join_video(path, VideoParts(parts, plan.clip.fps, planned, plan.clip.time_base), tracks_from, plan.clip.tags, plan.tracks_span)
        for part in parts:
            part.unlink()


def _dts(stamps: list[int], delay: int, position: int) -> int:
    """The decoding timestamp of the packet at `position` in decoding order of the joined stream: the shown
    timestamps (sorted), `delay` frames behind, as x264 sets them in one pass; before the first, shifted back
    likewise. Strictly increasing, and never after the packet's pts when no part reorders more than `delay` frames."""
    if position >= delay:
        return stamps[position - delay]
    return stamps[position] - (stamps[delay] - stamps[0])


def _rescaled(stamp: int, source: Fraction, target: Fraction) -> int:
    """A timestamp from time base `source` to `target`, rounded to nearest (halves away from zero), as FFmpeg's
    av_rescale_q does when a muxer takes a writer's timestamps."""
    ticks = stamp * source / target
    return math.floor(ticks + Fraction(1, 2)) if ticks >= 0 else -math.floor(-ticks + Fraction(1, 2))


@dataclass(frozen=True)
class VideoParts:
    """The hidden files of one video output's segments, in time order: one codec and time base, written at `fps`;
    `planned`: each part's frames' pts in the source's time base `time_base`, as the split planned them."""

    paths: list[Path]
    fps: Fraction
    planned: list[tuple[int, ...]]
    time_base: Fraction

    def _read(self, part: Path, planned: tuple[int, ...]) -> list[av.Packet]:
        """The part's video packets in decoding order, each with the pts planned for it. A part that starts after
        0 holds its start in a QuickTime/MP4 edit list kept in milliseconds, so its pts come back rounded; their
        order still says which frame each packet is."""
        with av.open(str(part)) as container:
            packets = [p for p in container.demux(video=0) if p.size]
        if len(packets) != len(planned):
            raise VidganError(f"{part}: holds {len(packets)} frames where its segment has {len(planned)}")
        order = sorted(range(len(packets)), key=lambda k: packets[k].pts)
        for rank, k in enumerate(order):
            packets[k].pts = _rescaled(planned[rank], self.time_base, packets[k].time_base)
        return packets

    def _timestamps(self) -> tuple[list[int], int]:
        """The sorted pts of every packet, and the largest reordering delay of any part: how many of its first
        packets (in decoding order) come before its earliest frame is shown (B-frames)."""
        stamps, delay = [], 0
        for part, planned in zip(self.paths, self.planned):
            packets = [(p.pts, p.dts) for p in self._read(part, planned)]
            first_shown = min(pts for pts, _ in packets)
            delay = max(delay, sum(1 for _, dts in packets if dts is not None and dts < first_shown))
            stamps += [pts for pts, _ in packets]
        return sorted(stamps), min(delay, len(stamps) - 1)

    def packets(self) -> Iterator[av.Packet]:
        """The video packets of the parts in decoding order, with continuous decoding timestamps (_dts). The last
        frame shown gets one frame period as its duration, as an encoder ends a stream: in its part it had a next
        frame, in another part, to measure it by; at the end of the clip there is none."""
        stamps, delay = self._timestamps()
        position = 0
        for part, planned in zip(self.paths, self.planned):
            for packet in self._read(part, planned):
                packet.dts = _dts(stamps, delay, position)
                position += 1
                if packet.pts == stamps[-1]:
                    packet.duration = round(1 / (self.fps * packet.time_base))
                yield packet


def join_video(
    path: Path, parts: VideoParts, tracks_from: Path | None, tags: PictureTags, span: tuple[float | None, float | None]
) -> None:
    """Copy the video packets of `parts` into `path` without re-encoding, with the audio and subtitle tracks of
    `tracks_from` within `span` (seconds, vidgan.io.tracks),
    declaring the sample aspect ratio and start timecode of `tags` as VideoWriter does (the colour
    tags come with the packets' stream). Written to a hidden name and renamed into place when complete. Tracks
    that cannot go into the output are left out with a warning, as VideoWriter does. Raises VidganError."""
    target = through_links(path)  # the link stays, its target is replaced (as VideoWriter does)
    temp = temp_path_for(target)
    try:
        try:
            _remux(temp, path, parts, tracks_from, tags, span)
        except (VidganError, av.error.FFmpegError, ValueError) as exc:
            if tracks_from is None:
                raise
            warn(f"{path}: the audio and subtitle tracks of {tracks_from} cannot be written into it"
                 f" ({ffmpeg_reason(exc)}); writing the video without them")
            _remux(temp, path, parts, None, tags, span)
        os.replace(temp, target)
    except (av.error.FFmpegError, OSError) as exc:
        raise VidganError(f"{path}: could not join its segments ({ffmpeg_reason(exc)})") from exc
    finally:
        temp.unlink(missing_ok=True)


def _remux(
    temp: Path, path: Path, parts: VideoParts, tracks_from: Path | None, tags: PictureTags, span: tuple[float | None, float | None]
) -> None:
    """Write `temp` (for `path`): the parts' video packets and the tracks of `tracks_from`, interleaved."""
    with av.open(str(temp), "w", options=muxer_options(path, parts.time_base)) as out:
        if tags.timecode is not None:
            out.metadata["timecode"] = tags.timecode  # mov/mp4: a tmcd track; Matroska: a tag
        with av.open(str(parts.paths[0])) as first:
            stream = out.add_stream_from_template(first.streams.video[0])
        stream.codec_context.framerate = parts.fps  # Matroska gives frames their duration from it
        stream.codec_context.sample_aspect_ratio = tags.sample_aspect  # the template leaves it out (ProRes in .mov)
        tracks = SourceTracks(av.open(str(tracks_from)), out, path, span) if tracks_from is not None else None
        try:
            out.start_encoding()
            if tracks is not None and tracks.summary:
                warn(f"{path}: from {tracks_from}: {tracks.summary}")
            for packet in parts.packets():
                seconds = float(packet.pts * packet.time_base)
                packet.stream = stream
                out.mux(packet)
                if tracks is not None:
                    tracks.mux_until(seconds)
            if tracks is not None:
                tracks.mux_until(None)
        finally:
            if tracks is not None:
                tracks.close()
