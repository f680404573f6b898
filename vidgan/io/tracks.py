"""The audio, subtitle and data tracks of a source file, carried into a video being written (VideoWriter's audio_from).

Each track is copied when the output container takes its codec as it is, converted when it does not (audio to
a codec the container's players read, text subtitles to the container's text format), and otherwise left out;
one warning names what was converted and what was left out. Language, title and default/forced flags go along.
Data tracks (a camera's telemetry: GoPro's gpmd, as FFmpeg's bin_data) are copied into .mp4 and .mov, whose
muxer writes them back with their tag; Matroska refuses them. A timecode (tmcd) track is not copied: the writer
declares the source's timecode itself. A track that fails part-way loses the packets that failed, never the render.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.audio.layout import AudioLayout
from av.codec.codec import Codec

from vidgan.core.progress import warn

_PCM = frozenset({"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_s32be", "pcm_f32le"})
_COPIED_METADATA = ("language", "title")
# QuickTime and MP4 carry a camera's data tracks (gpmd and the like, FFmpeg's bin_data) with their handler name.
_DATA = frozenset({"bin_data"})


@dataclass(frozen=True)
class ContainerRules:
    """What one output container is given: codecs copied as they are, and what other tracks are converted to."""

    audio_copied: frozenset[str]
    audio_encoder: str | None  # for lossy or 16-bit sources; None: such audio is left out
    deep_audio_encoder: str | None  # for lossless sources of more than 16 bits
    subtitles_copied: frozenset[str]
    text_subtitle_encoder: str | None  # text subtitles not copied become this; None: they are left out
    data_copied: frozenset[str] = frozenset()  # data tracks' codecs (bin_data: telemetry) copied as they are


RULES = {
    # What plays wherever MP4 does (browsers, phones, QuickTime). The muxer also accepts PCM, FLAC, Opus and Vorbis,
    # but many players read PCM in MP4 (24-bit above all) as noise and some play none of those: AAC for them.
    ".mp4": ContainerRules(
        frozenset({"aac", "mp3", "ac3", "eac3", "alac"}), "aac", "aac", frozenset({"mov_text"}), "mov_text", _DATA
    ),
    # Beside ProRes, finishing tools (Resolve, Premiere, Avid) expect uncompressed PCM; AAC and ALAC they read too.
    # Decoding lossy audio to PCM loses nothing more.
    ".mov": ContainerRules(
        frozenset({"aac", "alac"}) | _PCM, "pcm_s16le", "pcm_s24le", frozenset({"mov_text"}), "mov_text", _DATA
    ),
    # Matroska holds nearly every codec; the rest becomes FLAC, lossless like the FFV1 video it goes with.
    ".mkv": ContainerRules(
        frozenset({"aac", "ac3", "alac", "dts", "eac3", "flac", "mp2", "mp3", "opus", "truehd", "vorbis"}) | _PCM,
        "flac",
        "flac",
        frozenset({"subrip", "ass", "ssa", "webvtt", "dvd_subtitle", "hdmv_pgs_subtitle", "dvb_subtitle"}),
        "subrip",
    ),
}


def ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's explanation without the errno and file name PyAV adds, kept to one line."""
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())


def _muxer_rules(out: av.container.OutputContainer) -> ContainerRules:
    """For a container without rules of its own: copy what its muxer says it takes, convert nothing."""
    takes = frozenset(out.supported_codecs)
    return ContainerRules(takes, None, None, takes, None)


class _Track:
    """One source track copied packet for packet into its output stream."""

    def __init__(self, source: av.stream.Stream, out: av.stream.Stream, label: str) -> None:
        self.source = source
        self.out = out
        self.label = label
        self.failed = False

    def packets(self, packet: av.Packet | None) -> list[av.Packet]:
        """The output packets for one source packet; None, at the end, flushes what a conversion holds back."""
        if packet is None:
            return []
        packet.stream = self.out
        return [packet]


class _AudioConversion(_Track):
    """Decodes the source audio and encodes it again; the encoder's own resampler adapts format, rate and layout."""

    def packets(self, packet: av.Packet | None) -> list[av.Packet]:
        encoded = [p for frame in self.source.codec_context.decode(packet) for p in self.out.encode(frame)]
        return encoded + (self.out.encode(None) if packet is None else [])


class _SubtitleConversion(_Track):
    """Decodes text subtitles to ASS events and encodes them in the output's text format, keeping their times."""

    def packets(self, packet: av.Packet | None) -> list[av.Packet]:
        if packet is None:
            return []
        subtitles = self.source.codec_context.decode2(packet)
        if subtitles is None:
            return []
        converted = self.out.codec_context.encode_subtitle(subtitles)
        converted.time_base = packet.time_base
        converted.pts = converted.dts = packet.pts
        converted.duration = packet.duration or round(Fraction(subtitles.end_display_time, 1000) / packet.time_base)
        converted.stream = self.out
        return [converted]


def _codec_name(stream: av.stream.Stream) -> str | None:
    """The codec's FFmpeg name (mp3, not the decoder's mp3float; bin_data for a data track); None when this FFmpeg
    build has no decoder, or a data track has no codec."""
    if stream.type == "data":
        return stream.name
    context = stream.codec_context
    return context.codec.canonical_name if context is not None else None


def _label(kind: str, number: int, stream: av.stream.Stream) -> str:
    """'audio track 1 (aac, eng)', 'data track 1 (bin_data, GoPro MET)'."""
    named = ("language", "handler_name") if kind == "data" else ("language",)
    # "und" (ISO 639-2 undetermined, which muxers write for a track without one) tells a user nothing.
    values = [stream.metadata.get(key) for key in named]
    details = [_codec_name(stream) or "unknown codec", *(value for value in values if value and value != "und")]
    return f"{kind} track {number} ({', '.join(details)})"


def _source_tracks(container: av.container.InputContainer) -> Iterator[tuple[str, av.stream.Stream, str]]:
    """(kind, stream, label) of each audio, then each subtitle, then each data track of an open container (a
    timecode track is none of them: writers declare the timecode themselves)."""
    data = [stream for stream in container.streams.data if "timecode" not in stream.metadata]
    for kind, streams in (("audio", container.streams.audio), ("subtitle", container.streams.subtitles), ("data", data)):
        for number, stream in enumerate(streams, 1):
            yield kind, stream, _label(kind, number, stream)


def track_labels(path: Path) -> list[str]:
    """The audio, subtitle and data tracks of a media file, named as warnings name them ("audio track 1 (aac, eng)")."""
    with av.open(str(path)) as container:
        return [label for _, _, label in _source_tracks(container)]


def _ordered(layout: AudioLayout) -> AudioLayout:
    """The layout, or FFmpeg's usual one for its channel count where it has none (PCM in Matroska): encoders need it."""
    if any(channel.name == "NONE" for channel in layout.channels):
        return AudioLayout(f"{layout.nb_channels}c")
    return layout


class _Refused(Exception):
    """A track this output cannot carry; the message says why."""


def _deep(decoder: av.audio.codeccontext.AudioCodecContext) -> bool:
    """Whether the audio is lossless with more than 16 bits a sample (24-bit PCM or FLAC, float PCM)."""
    return decoder.codec.lossless and decoder.format.bytes > 2


def _encoder_settings(decoder: av.audio.codeccontext.AudioCodecContext, codec: Codec) -> dict[str, object]:
    """Rate, layout, sample format and bit rate to re-encode `decoder`'s audio with `codec`: as close as it allows."""
    rates = codec.audio_rates
    rate = decoder.sample_rate
    if rates and rate not in rates:
        rate = min(rates, key=lambda r: abs(r - rate))
    formats = [f.name for f in codec.audio_formats]
    # FLAC and 24-bit PCM keep a deep source's bits; otherwise the encoder's first (preferred) format.
    sample_format = "s32" if _deep(decoder) and "s32" in formats else formats[0]
    settings: dict[str, object] = {"rate": rate, "layout": _ordered(decoder.layout), "format": sample_format}
    if codec.name == "aac":
        settings["bit_rate"] = 64_000 * decoder.layout.nb_channels  # FFmpeg's default suits stereo, not 5.1
    return settings


def _add_audio_encoder(out: av.container.OutputContainer, source: av.stream.Stream, encoder: str) -> av.stream.Stream:
    """An output stream encoding `source`'s audio with `encoder`, at its rate and layout where the encoder allows.

    The settings are tried on an encoder of their own first: one the encoder refuses (too many channels) raises
    _Refused before the stream is part of the output, where it would stop the header being written.
    """
    codec = Codec(encoder, "w")
    settings = _encoder_settings(source.codec_context, codec)
    trial = av.CodecContext.create(codec)
    for name, value in settings.items():
        setattr(trial, name, value)
    try:
        trial.open()
    except av.error.FFmpegError:
        channels = settings["layout"].nb_channels
        raise _Refused(f"the {codec.name} encoder refuses {channels} channels at {settings['rate']} Hz") from None
    stream = out.add_stream(encoder, rate=settings.pop("rate"))
    for name, value in settings.items():
        setattr(stream, name, value)
    return stream


def _add_subtitle_encoder(
    out: av.container.OutputContainer, source: av.stream.Stream, encoder: str
) -> av.stream.Stream:
    decoder = source.codec_context
    decoder.open(strict=False)  # opening the decoder makes the ASS header that text subtitle encoders need
    stream = out.add_stream(encoder)
    stream.codec_context.subtitle_header = decoder.subtitle_header
    stream.codec_context.time_base = source.time_base
    return stream


class SourceTracks:
    """The audio, subtitle and data tracks of an open source container, carried into `out` (being written to `path`):
    those of their packets that start within `span` (seconds from, to; None: the source's start or end), so that
    the tracks of a frame range keep its time span (to a packet: about 21 ms of 48 kHz AAC).

    Creating it adds the output streams (call before the output's header is written); `summary` then says what
    was converted and what was left out, or is None. `mux_until` copies packets up to a time, so the tracks
    interleave with the video as it is written; `mux_until(None)` copies the rest and flushes conversions.
    """

    def __init__(
        self,
        source: av.container.InputContainer,
        out: av.container.OutputContainer,
        path: Path,
        span: tuple[float | None, float | None] = (None, None),
    ) -> None:
        self._in = source
        self._span = span
        self._out = out
        self._path = path
        self._suffix = path.suffix.lower()
        self._rules = RULES.get(self._suffix) or _muxer_rules(out)
        self._tracks: dict[int, _Track] = {}
        self._converted: list[tuple[str, str]] = []  # (track, encoder)
        self._left_out: list[str] = []
        for kind, stream, label in _source_tracks(source):
            self._carry(kind, stream, label)
        self._pending: av.Packet | None = None
        self._packets: Iterator[av.Packet] | None = (
            source.demux(*(t.source for t in self._tracks.values())) if self._tracks else None
        )

    def _carry(self, kind: str, stream: av.stream.Stream, label: str) -> None:
        """Add the output stream for one source track, or note why it is left out."""
        name = _codec_name(stream)
        if name is None:
            self._left_out.append(f"{label}: its codec is unknown to this FFmpeg build")
            return
        rules = self._rules
        if kind == "data":
            copied, encoder = name in rules.data_copied, None
        elif kind == "audio":
            copied = name in rules.audio_copied
            encoder = rules.deep_audio_encoder if _deep(stream.codec_context) else rules.audio_encoder
        else:
            copied = name in rules.subtitles_copied
            encoder = rules.text_subtitle_encoder if stream.codec_context.codec.text_sub else None
        if not copied and encoder is None:
            self._left_out.append(f"{label}: a {self._suffix} file cannot hold it")
            return
        try:
            if copied:
                track = _Track(stream, self._out.add_stream_from_template(stream), label)
            elif kind == "audio":
                track = _AudioConversion(stream, _add_audio_encoder(self._out, stream, encoder), label)
            else:
                track = _SubtitleConversion(stream, _add_subtitle_encoder(self._out, stream, encoder), label)
        except (_Refused, av.error.FFmpegError, ValueError) as exc:
            self._left_out.append(f"{label}: {ffmpeg_reason(exc)}")
            return
        if not copied:
            self._converted.append((label, encoder))
        track.out.metadata.update({key: stream.metadata[key] for key in _COPIED_METADATA if key in stream.metadata})
        track.out.disposition = stream.disposition
        self._tracks[stream.index] = track

    @property
    def summary(self) -> str | None:
        """One line on the tracks not copied as they are, or None when every track was."""
        parts = []
        if self._converted:
            changes = ", ".join(
                f"{label} {'converted ' if i == 0 else ''}to {encoder}"
                for i, (label, encoder) in enumerate(self._converted)
            )
            parts.append(f"{changes} (a {self._suffix} file does not take them as they are)")
        if self._left_out:
            parts.append(f"not carried: {'; '.join(self._left_out)}")
        return "; ".join(parts) or None

    def mux_until(self, limit: float | None) -> None:
        """Copy packets up to `limit` seconds (all, and flush conversions, when None)."""
        while self._packets is not None:
            packet = self._pending or self._next_packet()
            self._pending = None
            if packet is None:
                self._packets = None
                for track in self._tracks.values():
                    self._write(track, None)
                return
            stamp = packet.dts if packet.dts is not None else packet.pts
            if stamp is None:  # the demuxer's empty flush packet
                continue
            if limit is not None and stamp * packet.time_base > limit:
                self._pending = packet
                return
            first, end = self._span
            shown = float((packet.pts if packet.pts is not None else stamp) * packet.time_base)
            if (first is not None and shown < first) or (end is not None and shown >= end):
                continue
            self._write(self._tracks[packet.stream.index], packet)

    def _next_packet(self) -> av.Packet | None:
        """The source's next packet; None at its end, or where it cannot be read any further (with a warning)."""
        try:
            return next(self._packets, None)
        except (av.error.FFmpegError, OSError) as exc:
            warn(f"{self._path}: reading the tracks of {self._in.name} stopped ({ffmpeg_reason(exc)}); they end there")
            return None

    def _write(self, track: _Track, packet: av.Packet | None) -> None:
        """Mux what one packet becomes; one that fails is skipped, and a track's first failure is warned of."""
        try:
            for converted in track.packets(packet):
                self._out.mux(converted)
        except (av.error.FFmpegError, ValueError) as exc:
            if not track.failed:
                track.failed = True
                ended = packet is None or packet.pts is None
                at = "its end" if ended else f"{float(packet.pts * packet.time_base):.2f} s"
                warn(
                    f"{self._path}: {track.label} could not be written at {at} ({ffmpeg_reason(exc)});"
                    " such packets are skipped"
                )

    def close(self) -> None:
        """Close the source file; packets not yet copied are dropped."""
        self._packets = None
        self._pending = None
        self._in.close()
