"""Deinterlacing on decode with FFmpeg's bwdif filter, through PyAV's filter graph.

An interlaced frame holds two fields taken half a frame apart; scaled or translated as one picture, a moving
edge becomes a comb and the fields blend. bwdif ("Bob Weaver Deinterlacing Filter", FFmpeg; yadif's successor
with better edges) rebuilds each frame from its first field, with the other field and the neighbouring frames
filling the missing lines. It runs in send_frame mode (one frame out per frame in, same timestamps, so frame
numbers, timing and audio stay as they were) and deinterlaces only frames flagged interlaced.
"""

from __future__ import annotations

from fractions import Fraction

import av
import av.error
import av.filter

# FFmpeg's AVFieldOrder values of interlaced streams (tt, bb, tb, bt); 0 is unknown, 1 progressive.
_INTERLACED_ORDERS = (2, 3, 4, 5)


def is_interlaced(stream: av.video.stream.VideoStream, first: av.VideoFrame) -> bool:
    """Whether a stream is interlaced: its field order says so, or its first frame is flagged interlaced."""
    return stream.codec_context.field_order in _INTERLACED_ORDERS or bool(first.interlaced_frame)


class Deinterlacer:
    """Decoded frames in, progressive frames out (bwdif, send_frame mode), in order, one frame behind.

    bwdif needs the next frame to rebuild the current one, so `push` returns what is ready (nothing for the first
    frame) and `flush` the rest at the end. A frame of another size or pixel format flushes the graph and starts a
    new one for it. Colour tags and timestamps pass through.
    """

    def __init__(self) -> None:
        self._graph: av.filter.Graph | None = None
        self._shape: tuple[int, int, str] | None = None

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """Feed one decoded frame; the progressive frames that are ready."""
        ready = []
        shape = (frame.width, frame.height, frame.format.name)
        if shape != self._shape:
            ready = self.flush()
            self._graph, self._shape = self._build(frame), shape
        self._graph.push(frame)
        return ready + self._pull()

    def flush(self) -> list[av.VideoFrame]:
        """The frames still held back, at the end of the stream (or before a change of size)."""
        if self._graph is None:
            return []
        self._graph.push(None)
        ready, self._graph, self._shape = self._pull(), None, None
        return ready

    def _pull(self) -> list[av.VideoFrame]:
        ready = []
        while True:
            try:
                ready.append(self._graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return ready

    @staticmethod
    def _build(frame: av.VideoFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        time_base = frame.time_base or Fraction(1, 90000)
        source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name, time_base=time_base)
        bwdif = graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
        source.link_to(bwdif)
        bwdif.link_to(graph.add("buffersink"))
        graph.configure()
        return graph
