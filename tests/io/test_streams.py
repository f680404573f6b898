"""Real-world streams through the CLI: a resolution change mid-stream, audio the output container cannot hold,
several audio tracks with subtitles. Each case is made small here with PyAV; results are read back with PyAV."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from vidgan.io.sequences import open_clip

FPS = Fraction(25)
N_FRAMES = 10
GREY = 100  # the clips' background, so black letterbox bars stand out
# Where each output container is written by render: suffix → the video codec it implies.
VIDEO_CODEC_OF = {".mp4": "h264", ".mov": "prores", ".mkv": "ffv1"}


def _square(width: int, height: int, side: int = 48) -> np.ndarray:
    """A white side×side square centred on grey: its shape tells whether a frame was stretched."""
    rgb = np.full((height, width, 3), GREY, np.uint8)
    top, left = (height - side) // 2, (width - side) // 2
    rgb[top : top + side, left : left + side] = 255
    return rgb


def _encode(stream_or_context, rgb: np.ndarray | None, pts: int) -> list[av.Packet]:
    if rgb is None:
        return stream_or_context.encode(None)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    frame.pts, frame.time_base = pts, 1 / FPS
    return stream_or_context.encode(frame)


def write_size_change_ts(path: Path, first: tuple[int, int] = (160, 96), then: tuple[int, int] = (128, 96)) -> Path:
    """An MPEG-TS H.264 clip: 12 frames at `first` (width, height), then 12 at `then`, as broadcast recordings do.

    The second part comes from an encoder of its own, muxed into the same stream (a new SPS mid-stream).
    """
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *first, "yuv420p"
        stream.codec_context.time_base = 1 / FPS
        for i in range(12):
            out.mux(_encode(stream, _square(*first), i))
        out.mux(_encode(stream, None, 0))
        second = av.CodecContext.create("libx264", "w")
        second.width, second.height, second.pix_fmt = *then, "yuv420p"
        second.time_base, second.framerate = 1 / FPS, FPS
        for i in range(12, 25):
            for packet in _encode(second, _square(*then) if i < 24 else None, i):
                packet.stream, packet.time_base = stream, 1 / FPS
                out.mux(packet)
    return path


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def _render(run_cli, source: Path, out: Path, tiny_run: Path, *extra: object):
    return run_cli("render", source, "--run", tiny_run, "--out", out, "--device", "cpu", "--warp-error-every", "0",
                   "-q", *extra)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _white_width(rgb: np.ndarray) -> int:
    """Columns of the white square on the middle row."""
    return int((rgb[rgb.shape[0] // 2, :, :].min(axis=1) > 200).sum())


# 1. Resolution changes mid-stream.


def test_a_size_change_is_letterboxed_into_the_first_size_with_one_warning(tmp_path, capsys):
    clip = write_size_change_ts(tmp_path / "change.ts")
    frames = list(open_clip(clip).frames())
    warnings = _warnings(capsys.readouterr().err)

    assert [f.rgb.shape for f in frames] == [(96, 160, 3)] * 24
    assert len(warnings) == 1
    assert "from 160x96 to 128x96 at frame 12" in warnings[0] and str(clip) in warnings[0]
    for f in frames:
        assert 47 <= _white_width(f.rgb) <= 49  # the square stays square: nothing stretched
    early, late = frames[0].rgb.astype(int), frames[12].rgb.astype(int)
    assert abs(early[:, :16].mean() - GREY) < 4 and abs(early[:, -16:].mean() - GREY) < 4  # picture to the edges
    assert late[:, :16].max() < 12 and late[:, -16:].max() < 12  # 128 wide in 160: 16-pixel black bars each side
    assert abs(late[:, 16:144][:, :8].mean() - GREY) < 4  # the picture itself starts right after the bar


def test_a_size_change_that_needs_scaling_is_fitted_with_its_aspect(tmp_path, capsys):
    clip = write_size_change_ts(tmp_path / "bigger.ts", first=(160, 96), then=(320, 96))
    late = [f.rgb for f in open_clip(clip).frames()][12:]
    # 320x96 into 160x96: halved to 160x48, bars of 24 rows above and below; the 48-px square becomes 24 px
    assert all(f.shape == (96, 160, 3) for f in late)
    assert late[0][:24].max() < 12 and late[0][-24:].max() < 12
    assert 23 <= _white_width(late[0]) <= 25
    assert len(_warnings(capsys.readouterr().err)) == 1


def test_cli_render_of_a_size_change_writes_every_frame_at_the_first_size(run_cli, tiny_run, tmp_path):
    clip = write_size_change_ts(tmp_path / "clip.ts")
    done = _render(run_cli, clip, tmp_path / "o.mp4", tiny_run)
    assert done.code == 0, done.stderr
    assert [f.shape for f in _frames(tmp_path / "o.mp4")] == [(96, 160, 3)] * 24
    warnings = _warnings(done.stderr)
    assert len(warnings) == 1 and "from 160x96 to 128x96 at frame 12" in warnings[0]


def test_cli_extract_keeps_each_frames_own_aspect(run_cli, tmp_path):
    clip = write_size_change_ts(tmp_path / "clip.ts")
    done = run_cli("extract", "--a", clip, "--b", clip, "--out", tmp_path / "frames", "--every", "1", "--size", "32",
                   "-q")
    assert done.code == 0, done.stderr
    assert _warnings(done.stderr) == []
    images = sorted((tmp_path / "frames" / "a").glob("*.png"))
    assert len(images) == 24
    for image in images:
        rgb = cv2.imread(str(image))
        assert rgb.shape == (32, 32, 3)
        # a centred 96x96 crop of either size holds the whole 48-px square: 16 px at 32/96 (stretched: 20)
        assert 15 <= _white_width(rgb) <= 17, image.name


def test_an_image_sequence_frame_of_another_size_is_letterboxed(tmp_path, capsys):
    folder = tmp_path / "shot"
    folder.mkdir()
    for number in range(1001, 1004):
        cv2.imwrite(str(folder / f"shot_{number}.png"), _square(96, 64, side=32))
    cv2.imwrite(str(folder / "shot_1004.png"), _square(64, 64, side=32))
    frames = list(open_clip(folder).frames())
    warnings = _warnings(capsys.readouterr().err)
    assert [f.rgb.shape for f in frames] == [(64, 96, 3)] * 4
    assert frames[3].rgb[:, :16].max() < 12 and frames[3].rgb[:, -16:].max() < 12
    assert len(warnings) == 1 and "from 96x64 to 64x64 at frame 1004 (shot_1004.png)" in warnings[0]


# 2. and 3. Audio and subtitle tracks.


@dataclass(frozen=True)
class AudioSpec:
    """One audio track of a test source: FFmpeg encoder, sample format, layout, rate, language and title."""

    encoder: str
    sample_format: str | None = None  # None: the encoder's first
    layout: str = "stereo"
    rate: int = 48000
    language: str = "eng"
    title: str = "English"


def write_source(path: Path, audio: list[AudioSpec], subtitles: list[tuple[str, bytes, str]] = ()) -> Path:
    """A 64x48 H.264 clip of N_FRAMES at 25 fps with the given audio tracks (a tone as long as the video) and
    subtitle tracks (codec, one packet's payload shown from 0.1 s to 0.3 s, language)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sounds = []
        for spec in audio:
            sound = out.add_stream(spec.encoder, rate=spec.rate, options={"strict": "experimental"})  # FFmpeg's Vorbis
            sound.layout = spec.layout
            if spec.sample_format:
                sound.format = spec.sample_format
            sound.metadata.update(language=spec.language, title=spec.title)
            sounds.append(sound)
        texts = []
        for codec, _, language in subtitles:
            text = out.add_mux_stream(codec)
            text.time_base = Fraction(1, 1000)
            text.metadata["language"] = language
            texts.append(text)
        for i in range(N_FRAMES):
            out.mux(_encode(video, _square(64, 48, side=16), i))
        out.mux(_encode(video, None, 0))
        for sound in sounds:
            samples = round(N_FRAMES / FPS * sound.rate)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / sound.rate)).astype(np.float32)
            channels = sound.layout.nb_channels
            frame = av.AudioFrame.from_ndarray(np.tile(tone, (channels, 1)), format="fltp", layout=sound.layout.name)
            frame.sample_rate, frame.pts, frame.time_base = sound.rate, 0, Fraction(1, sound.rate)
            out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
        for text, (_, payload, _) in zip(texts, subtitles):
            packet = av.Packet(payload)
            packet.stream, packet.time_base = text, text.time_base
            packet.pts = packet.dts = 100
            packet.duration = 200
            out.mux(packet)
    return path


def assert_audio_lasts(path: Path, index: int, seconds: float) -> None:
    """The audio stream as decoded lasts `seconds`, give or take 0.05 s or its last frame, whichever is longer:
    decoders drop a lossy encoder's priming (edit lists, codec delay) but keep the padding of its last frame."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[index]
        frames = [frame.samples for frame in container.decode(stream)]
    rate = stream.codec_context.sample_rate
    assert sum(frames) / rate == pytest.approx(seconds, abs=max(0.05, frames[-1] / rate))


def _streams(path: Path) -> list[tuple[str, str]]:
    with av.open(str(path)) as container:
        return [(s.type, s.codec_context.codec.canonical_name) for s in container.streams]


# Source audio → what each output container gets: the codec copied, or what it is converted to.
SOURCES = {
    "aac": (AudioSpec("aac"), ".mkv"),
    "opus": (AudioSpec("libopus"), ".mkv"),
    "vorbis": (AudioSpec("vorbis"), ".mkv"),
    "pcm_s16le": (AudioSpec("pcm_s16le"), ".mkv"),
    "pcm_s24le": (AudioSpec("pcm_s24le"), ".mkv"),
    "flac": (AudioSpec("flac"), ".mkv"),
    "flac_24bit": (AudioSpec("flac", sample_format="s32"), ".mkv"),
    "mp3": (AudioSpec("libmp3lame", rate=44100), ".mkv"),
    "pcm_mulaw": (AudioSpec("pcm_mulaw", layout="mono", rate=8000), ".mov"),  # Matroska cannot hold it
}
EXPECTED = {
    "aac": {".mp4": "aac", ".mov": "aac", ".mkv": "aac"},
    "opus": {".mp4": "aac", ".mov": "pcm_s16le", ".mkv": "opus"},
    "vorbis": {".mp4": "aac", ".mov": "pcm_s16le", ".mkv": "vorbis"},
    "pcm_s16le": {".mp4": "aac", ".mov": "pcm_s16le", ".mkv": "pcm_s16le"},
    "pcm_s24le": {".mp4": "aac", ".mov": "pcm_s24le", ".mkv": "pcm_s24le"},
    "flac": {".mp4": "aac", ".mov": "pcm_s16le", ".mkv": "flac"},
    "flac_24bit": {".mp4": "aac", ".mov": "pcm_s24le", ".mkv": "flac"},
    "mp3": {".mp4": "mp3", ".mov": "pcm_s16le", ".mkv": "mp3"},
    "pcm_mulaw": {".mp4": "aac", ".mov": "pcm_s16le", ".mkv": "flac"},
}


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
@pytest.mark.parametrize("source_name", list(SOURCES))
def test_cli_render_carries_audio_in_a_codec_the_container_takes(run_cli, tiny_run, tmp_path, source_name, suffix):
    spec, source_suffix = SOURCES[source_name]
    source = write_source(tmp_path / f"in{source_suffix}", [spec])
    with av.open(str(source)) as container:
        source_codec = container.streams.audio[0].codec_context.codec.canonical_name
    out = tmp_path / f"out{suffix}"

    done = _render(run_cli, source, out, tiny_run)

    assert done.code == 0, done.stderr
    expected = EXPECTED[source_name][suffix]
    assert _streams(out) == [("video", VIDEO_CODEC_OF[suffix]), ("audio", expected)]
    assert_audio_lasts(out, 0, N_FRAMES / FPS)
    warnings = _warnings(done.stderr)
    if expected == source_codec:
        assert warnings == []
    else:
        assert len(warnings) == 1, warnings
        assert f"audio track 1 ({source_codec}, eng) converted to {expected}" in warnings[0]


def test_cli_render_of_vp9_and_opus_webm_to_prores_writes_pcm(run_cli, tiny_run, tmp_path):
    source = tmp_path / "clip.webm"
    with av.open(str(source), "w") as out:
        video = out.add_stream("libvpx-vp9", rate=FPS)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream("libopus", rate=48000)
        for i in range(N_FRAMES):
            out.mux(_encode(video, _square(64, 48, side=16), i))
        out.mux(_encode(video, None, 0))
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 19200), np.float32), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(sound.encode(frame))
        out.mux(sound.encode(None))

    done = _render(run_cli, source, tmp_path / "o.mov", tiny_run)

    assert done.code == 0, done.stderr
    assert _streams(tmp_path / "o.mov") == [("video", "prores"), ("audio", "pcm_s16le")]
    assert_audio_lasts(tmp_path / "o.mov", 0, 0.4)


# A PGS (Blu-ray bitmap) subtitle packet holding one "end of display set" segment.
PGS_END = b"\x80\x00\x00"
TRACKS = [AudioSpec("aac"), AudioSpec("libopus", layout="5.1", language="jpn", title="Japanese")]
SUBTITLES = [("subrip", b"Hello there", "eng"), ("hdmv_pgs_subtitle", PGS_END, "fre")]
# Output container → (audio codecs, subtitle codecs it ends up with).
CARRIED = {
    ".mkv": (["aac", "opus"], ["subrip", "hdmv_pgs_subtitle"]),
    ".mp4": (["aac", "aac"], ["mov_text"]),
    ".mov": (["aac", "pcm_s16le"], ["mov_text"]),
}


def _title(stream: av.stream.Stream) -> str | None:
    # FFmpeg writes a track title into MP4/MOV as the track's name, and reads it back under that key.
    return stream.metadata.get("title") or stream.metadata.get("name")


@pytest.mark.parametrize("suffix", list(CARRIED))
def test_cli_render_carries_every_audio_track_and_the_subtitles_it_can(run_cli, tiny_run, tmp_path, suffix):
    source = write_source(tmp_path / "source.mkv", TRACKS, SUBTITLES)
    out = tmp_path / f"film{suffix}"

    done = _render(run_cli, source, out, tiny_run)

    assert done.code == 0, done.stderr
    audio_codecs, subtitle_codecs = CARRIED[suffix]
    with av.open(str(out)) as container:
        audio, subtitles = container.streams.audio, container.streams.subtitles
        assert [s.codec_context.codec.canonical_name for s in audio] == audio_codecs
        assert [(s.language, _title(s), s.codec_context.layout.name) for s in audio] == [
            ("eng", "English", "stereo"),
            ("jpn", "Japanese", "5.1"),
        ]
        assert [s.codec_context.codec.canonical_name for s in subtitles] == subtitle_codecs
        assert [s.language for s in subtitles] == ["eng", "fre"][: len(subtitle_codecs)]
        shown = [(float(p.pts * p.time_base), bytes(p)) for p in container.demux(subtitles[0]) if p.size > 2]
    assert len(shown) == 1 and shown[0][0] == pytest.approx(0.1) and b"Hello there" in shown[0][1]
    for index in (0, 1):
        assert_audio_lasts(out, index, N_FRAMES / FPS)
    warnings = _warnings(done.stderr)
    if suffix == ".mkv":
        assert warnings == []
    else:
        assert len(warnings) == 1, warnings
        converted = f"audio track 2 (opus, jpn) converted to {audio_codecs[1]}, subtitle track 1 (subrip, eng) to"
        assert f"{converted} mov_text (a {suffix} file does not take them as they are)" in warnings[0]
        assert f"not carried: subtitle track 2 (hdmv_pgs_subtitle, fre): a {suffix} file cannot hold it" in warnings[0]


def test_cli_render_carries_subtitles_of_a_clip_without_audio(run_cli, tiny_run, tmp_path):
    source = write_source(tmp_path / "silent.mkv", [], SUBTITLES[:1])
    out = tmp_path / "silent_a2b.mkv"

    done = _render(run_cli, source, out, tiny_run)

    assert done.code == 0, done.stderr
    with av.open(str(out)) as container:
        assert len(container.streams.audio) == 0
        assert [(s.codec_context.codec.canonical_name, s.language) for s in container.streams.subtitles] == [("subrip", "eng")]
    assert _warnings(done.stderr) == []
