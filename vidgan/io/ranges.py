"""Which frames of a clip a render takes: `--frames A-B` or `--start/--end` in seconds.

A video's frames are numbered from 0 in presentation order, an image sequence's by its files' numbers; both ends
of A-B are included, as farms give frame ranges. `--start S --end E` takes the frames whose time t (pts × time
base; for a sequence its distance in frames from the first file, over the frame rate) has S ≤ t < E, as
`vidgan extract` does. The range is read from the packets' timestamps without decoding (frame_stamps); a render
of it seeks to its first frame like a segment does (vidgan.render.segments), keeps its frames' numbers and
timestamps, and cuts the source's audio to the same span.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from vidgan.core.errors import UsageError, VidganError
from vidgan.io.sequences import Clip
from vidgan.io.tracks import ffmpeg_reason


@dataclass(frozen=True)
class FrameRange:
    """Frames `first` … `last` (both included) of a clip, by number."""

    first: int
    last: int

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


def parse_frames(text: str) -> FrameRange:
    """`--frames`: "A-B" (whole numbers, A ≤ B) or one frame "A"; UsageError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if match is None:
        raise UsageError(f"--frames must be a range of frame numbers A-B (as 1001-1100) or one frame, got {text!r}")
    first = int(match[1])
    last = int(match[2]) if match[2] is not None else first
    if last < first:
        raise UsageError(f"--frames {text}: the range must not end before it starts")
    return FrameRange(first, last)


@dataclass(frozen=True)
class Span:
    """Frames `first` … `stop`−1 (positions in presentation order) of a clip whose frames have the pts `stamps`
    (sorted; in `time_base`)."""

    first: int
    stop: int
    stamps: tuple[int, ...]
    time_base: Fraction

    @property
    def whole(self) -> bool:
        return self.first == 0 and self.stop == len(self.stamps)

    @property
    def seconds(self) -> tuple[float | None, float | None]:
        """Where the audio is cut, in seconds: at the range's first frame (None: from the clip's start) and at the
        frame after its last (None: to the clip's end)."""
        start = float(self.stamps[self.first] * self.time_base) if self.first > 0 else None
        end = float(self.stamps[self.stop] * self.time_base) if self.stop < len(self.stamps) else None
        return start, end


def frame_stamps(path: Path) -> list[int] | None:
    """The pts of every frame of a video file's first video stream, in presentation order, read from its packets
    (no decoding); None when a packet has no pts (then the clip cannot be cut by time)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stamps = []
            for packet in container.demux(stream):
                if packet.size == 0 or packet.is_discard:  # the demuxer's flush packet; frames an edit list hides
                    continue
                if packet.pts is None:
                    return None
                stamps.append(packet.pts)
    except av.error.FFmpegError as exc:
        raise VidganError(f"{path}: cannot read its packets to cut it into segments ({ffmpeg_reason(exc)})") from exc
    return sorted(stamps)


def whole_span(clip: Clip) -> Span | None:
    """Every frame of the clip, with its stamps: a sequence file's pts is its number's distance from the first
    file's (time base 1/fps); None for a video whose packets lack timestamps."""
    if clip.sequence is not None:
        numbers = [number for number, _ in clip.sequence.files]
        return Span(0, len(numbers), tuple(number - numbers[0] for number in numbers), clip.time_base)
    stamps = frame_stamps(clip.path)
    if stamps is None:
        return None
    return Span(0, len(stamps), tuple(stamps), clip.time_base)


def clip_span(clip: Clip, frames: FrameRange | None, start: float | None, end: float | None) -> Span | None:
    """The frames of `clip` that --frames or --start/--end select (None: the whole clip, nothing asked). Raises
    VidganError for a range that lies outside the clip, or that a clip without timestamps cannot be cut to."""
    if frames is None and start is None and end is None:
        return None
    span = whole_span(clip)
    if span is None:
        raise VidganError(f"{clip.path}: its packets have no timestamps, so no frame range can be cut from it")
    if frames is not None:
        numbers = [number for number, _ in clip.sequence.files] if clip.sequence is not None else range(len(span.stamps))
        if frames.first < numbers[0] or frames.last > numbers[-1]:
            raise VidganError(f"--frames {frames}: {clip.path} has frames {numbers[0]}-{numbers[-1]}")
        positions = [i for i, number in enumerate(numbers) if frames.first <= number <= frames.last]
        what = f"--frames {frames}"
    else:
        times = [stamp * clip.time_base for stamp in span.stamps]
        positions = [i for i, t in enumerate(times) if (start is None or t >= start) and (end is None or t < end)]
        what = f"--start {start or 0:g}" + ("" if end is None else f" --end {end:g}")
    if not positions:
        raise VidganError(f"{what}: {clip.path} has no frame in that range")
    return Span(positions[0], positions[-1] + 1, span.stamps, span.time_base)
