"""Tests for vidgan.io.video: probing, decoding, and writing with timestamps and audio kept."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import break_packet

import vidgan.io.video as video
from vidgan.core.errors import UsageError, VidganError
from vidgan.io import tracks
from vidgan.io.video import VideoWriter, iter_frames, probe_video

NTSC = Fraction(30000, 1001)


def _noise(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 256, (64, 96, 3), dtype=np.uint8)


def test_probe_reports_size_rate_length_and_audio(make_clip):
    info = probe_video(make_clip("a.mp4", n_frames=30, audio=True))
    assert (info.width, info.height) == (96, 64)
    assert info.fps == NTSC
    assert info.frame_count == 30
    assert info.duration == pytest.approx(30 / NTSC, abs=0.05)
    assert info.has_audio
    assert info.rotation == 0
    assert not probe_video(make_clip("silent.mp4", n_frames=5)).has_audio


@pytest.mark.parametrize("every, expected", [(1, list(range(30))), (7, [0, 7, 14, 21, 28])])
def test_iter_frames_every(make_clip, every, expected):
    frames = list(iter_frames(make_clip(n_frames=30), every=every))
    assert [f.index for f in frames] == expected
    assert all(f.rgb.shape == (64, 96, 3) and f.rgb.dtype == np.uint8 for f in frames)
    assert [f.pts for f in frames] == [i * 1001 for i in expected]  # time base 1/30000
    assert [f.time for f in frames] == pytest.approx([i / NTSC for i in expected])


def test_skipped_frames_are_never_converted(make_clip, monkeypatch):
    converted = []
    upright = video._upright  # runs once on every frame converted to RGB

    def counting(rgb, rotation):
        converted.append(rgb)
        return upright(rgb, rotation)

    monkeypatch.setattr(video, "_upright", counting)
    frames = list(iter_frames(make_clip(n_frames=30), every=7, keep=lambda i: i != 14))
    assert [f.index for f in frames] == [0, 7, 21, 28]
    assert len(converted) == 4


def test_start_and_end_select_by_time_and_keep_absolute_indices(make_clip):
    clip = make_clip(n_frames=30)
    # frame i is at i * 1001/30000 s: 0.3 s falls between frames 8 and 9, 0.6 s between 17 and 18
    assert [f.index for f in iter_frames(clip, start=0.3, end=0.6)] == list(range(9, 18))
    assert [f.index for f in iter_frames(clip, every=2, start=0.3, end=0.6)] == [10, 12, 14, 16]
    assert list(iter_frames(clip, start=5.0)) == []


def test_bad_every_is_a_usage_error(make_clip):
    with pytest.raises(UsageError):
        next(iter_frames(make_clip(n_frames=3), every=0))


def test_decode_error_mid_clip_keeps_earlier_frames_and_warns(make_clip, monkeypatch):
    clip = make_clip("noise.mp4", n_frames=40, draw=_noise)
    break_packet(clip, 20)
    warnings: list[str] = []
    monkeypatch.setattr(video, "warn", warnings.append)

    frames = list(iter_frames(clip))

    assert 0 < len(frames) < 40
    assert [f.index for f in frames] == list(range(len(frames)))
    assert len(warnings) == 1 and str(clip) in warnings[0] and f"frame {len(frames)}" in warnings[0]


def _bad_inputs(tmp_path: Path, audio_only: Path) -> dict[str, Path]:
    (tmp_path / "folder.mp4").mkdir()
    (tmp_path / "notes.mp4").write_text("not a video\n")
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (tmp_path / "empty.mp4").write_bytes(b"")
    return {
        "no such file": tmp_path / "missing.mp4",
        "is a folder": tmp_path / "folder.mp4",
        "not a readable video file": tmp_path / "notes.mp4",
        "random bytes": tmp_path / "noise.mp4",
        "empty": tmp_path / "empty.mp4",
        "has no video stream": audio_only,
    }


def test_unusable_inputs_give_one_line_errors_naming_the_file(tmp_path, audio_only_file):
    for expected, path in _bad_inputs(tmp_path, audio_only_file).items():
        for attempt in (lambda path=path: probe_video(path), lambda path=path: list(iter_frames(path))):
            with pytest.raises(VidganError) as caught:
                attempt()
            message = str(caught.value)
            assert message.startswith(f"{path}:") and "\n" not in message, message
            if expected in ("no such file", "is a folder", "not a readable video file", "has no video stream"):
                assert expected in message


def test_video_stream_without_frames_is_refused(video_without_frames):
    with pytest.raises(VidganError, match="has no frames"):
        probe_video(video_without_frames)


def test_display_rotation_is_applied(tmp_path):
    path = tmp_path / "portrait.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.set_display_rotation(-90)  # a phone held upright: turn 90° clockwise for display
        rgb = np.zeros((64, 96, 3), np.uint8)
        rgb[:, :48] = (255, 0, 0)  # left half red
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    info = probe_video(path)
    assert (info.width, info.height, info.rotation) == (64, 96, -90)
    upright = next(iter_frames(path)).rgb
    assert upright.shape == (96, 64, 3)
    # clockwise turn: the old left edge becomes the top
    assert upright[10, 32, 0] > 200 and upright[85, 32, 0] < 50
    # resize names the displayed size; the stored frame, on its side, is scaled to the transposed one
    sizes = []
    small = next(iter_frames(path, resize=lambda w, h: sizes.append((w, h)) or (32, 48))).rgb
    assert sizes == [(64, 96)]
    assert small.shape == (48, 32, 3)
    assert small[5, 16, 0] > 200 and small[43, 16, 0] < 50


def test_resize_in_swscale_matches_resizing_the_full_frame(make_clip):
    clip = make_clip(n_frames=3, width=160, height=96)
    full = next(iter_frames(clip)).rgb
    scaled = next(iter_frames(clip, resize=lambda w, h: (w // 4, h // 4))).rgb
    assert scaled.shape == (24, 40, 3)
    expected = cv2.resize(full, (40, 24), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(scaled.astype(int) - expected).mean() < 4  # same picture; swscale and OpenCV round differently


def _read_back(path: Path) -> tuple[av.video.stream.VideoStream, list[int], list[str]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [f.pts for f in container.decode(stream)]
        return stream, pts, [s.type for s in container.streams]


def test_writer_round_trip_keeps_frames_rate_and_audio(make_clip, tmp_path):
    source = make_clip("in.mp4", n_frames=30, audio=True)
    info = probe_video(source)
    out = tmp_path / "out" / "result.mp4"
    with VideoWriter(out, width=info.width, height=info.height, fps=info.fps, time_base=info.time_base,
                     audio_from=source) as writer:
        for frame in iter_frames(source):
            writer.write(255 - frame.rgb, pts=frame.pts)
    result = probe_video(out)
    assert (result.width, result.height, result.fps, result.frame_count) == (96, 64, NTSC, 30)
    assert result.has_audio
    _, pts, kinds = _read_back(out)
    assert pts == [f.pts for f in iter_frames(source)]
    assert kinds == ["video", "audio"]
    with av.open(str(source)) as a, av.open(str(out)) as b:
        assert b.streams.audio[0].codec_context.name == "aac"
        assert b.streams.audio[0].frames == a.streams.audio[0].frames  # copied packet for packet
    assert list(out.parent.iterdir()) == [out]  # temp file renamed away


def test_writer_keeps_variable_frame_timestamps(tmp_path):
    out = tmp_path / "vfr.mp4"
    time_base = Fraction(1, 90000)
    given = [0, 3003, 6006, 12000, 15000, 30000, 33003, 40000]
    with VideoWriter(out, width=64, height=48, fps=Fraction(24), time_base=time_base) as writer:
        for i, pts in enumerate(given):
            writer.write(np.full((48, 64, 3), i * 30, np.uint8), pts=pts)
    stream, pts, _ = _read_back(out)
    assert [p * stream.time_base for p in pts] == [p * time_base for p in given]


def test_writer_without_pts_steps_one_frame_at_fps(tmp_path):
    out = tmp_path / "steady.mp4"
    with VideoWriter(out, width=64, height=48, fps=NTSC) as writer:
        for i in range(5):
            writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    assert [f.time for f in iter_frames(out)] == pytest.approx([i / NTSC for i in range(5)])


def test_writer_without_pts_does_not_drift_when_a_frame_is_not_a_whole_tick(tmp_path):
    out = tmp_path / "film.mp4"
    with VideoWriter(out, width=64, height=48, fps=Fraction(24), time_base=Fraction(1, 1000)) as writer:
        for i in range(48):
            writer.write(np.full((48, 64, 3), i * 5, np.uint8))
    stream, pts, _ = _read_back(out)
    # the mp4 muxer may choose a finer time base of its own, so compare times
    assert [p * stream.time_base for p in pts] == [Fraction(round(i * 1000 / 24), 1000) for i in range(48)]


def test_odd_size_uses_444_chroma(tmp_path):
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, width=95, height=63, fps=Fraction(25)) as writer:
        for i in range(4):
            writer.write(np.full((63, 95, 3), 60 * i, np.uint8))
    info = probe_video(out)
    assert (info.width, info.height, info.frame_count) == (95, 63, 4)
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv444p"


def test_abort_leaves_no_file_and_keeps_an_existing_one(tmp_path):
    out = tmp_path / "result.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, width=64, height=48, fps=Fraction(25)) as writer:
            writer.write(np.zeros((48, 64, 3), np.uint8))
            raise RuntimeError("render failed")
    assert list(tmp_path.iterdir()) == []

    out.write_bytes(b"previous result")
    writer = VideoWriter(out, width=64, height=48, fps=Fraction(25))
    writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.abort()
    assert list(tmp_path.iterdir()) == [out] and out.read_bytes() == b"previous result"


def test_closing_without_frames_is_an_error(tmp_path):
    writer = VideoWriter(tmp_path / "nothing.mp4", width=64, height=48, fps=Fraction(25))
    with pytest.raises(VidganError, match="no frames"):
        writer.close()
    assert list(tmp_path.iterdir()) == []


def test_audio_that_mp4_does_not_take_is_converted_to_aac_with_a_warning(tmp_path, monkeypatch):
    wav = tmp_path / "mulaw.wav"
    with av.open(str(wav), "w") as out:
        stream = out.add_stream("pcm_mulaw", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    warnings: list[str] = []
    monkeypatch.setattr(video, "warn", warnings.append)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, width=64, height=48, fps=Fraction(25), audio_from=wav) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
    with av.open(str(out)) as container:
        assert [s.codec_context.name for s in container.streams.audio] == ["aac"]
        assert container.streams.audio[0].codec_context.sample_rate == 8000
    assert warnings == [
        f"{out}: from {wav}: audio track 1 (pcm_mulaw) converted to aac (a .mp4 file does not take them as they are)"
    ]


def _clip_with_audio(path: Path, encoder: str, layout: str) -> Path:
    """One black 64x48 frame and a tenth of a second of silence in `layout`, encoded with `encoder`."""
    with av.open(str(path), "w") as out:
        picture = out.add_stream("libx264", rate=25)
        picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream(encoder, rate=48000)
        sound.layout = layout
        channels = sound.layout.nb_channels
        samples = av.AudioFrame.from_ndarray(np.zeros((1, channels * 4800), np.int16), format="s16", layout=layout)
        samples.sample_rate, samples.pts = 48000, 0
        out.mux(sound.encode(samples))
        out.mux(sound.encode())
        out.mux(picture.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")))
        out.mux(picture.encode())
    return path


def _write_one_frame(out: Path, source: Path, codec: str = "h264") -> None:
    with VideoWriter(out, width=64, height=48, fps=Fraction(25), codec=codec, audio_from=source) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))


def test_a_track_the_encoder_refuses_is_named_and_the_rest_written(tmp_path, monkeypatch):
    source = _clip_with_audio(tmp_path / "in.mkv", "pcm_s16le", "16c")  # AAC stops at 7.1 (and 22.2)
    warnings: list[str] = []
    monkeypatch.setattr(video, "warn", warnings.append)
    out = tmp_path / "out.mp4"
    _write_one_frame(out, source)
    assert probe_video(out).frame_count == 1 and not probe_video(out).has_audio
    assert warnings == [
        f"{out}: from {source}: not carried: audio track 1 (pcm_s16le): the aac encoder refuses 16 channels at 48000 Hz"
    ]


def test_a_container_that_refuses_a_track_at_its_header_gets_the_video_alone(tmp_path, monkeypatch):
    # The MOV muxer says it takes Opus, then refuses it when the header is written: rules that believed it
    # would fail the render there. The writer starts again without the tracks.
    monkeypatch.setitem(tracks.RULES, ".mov", replace(tracks.RULES[".mov"], audio_copied=frozenset({"opus"})))
    source = _clip_with_audio(tmp_path / "in.mkv", "libopus", "stereo")
    warnings: list[str] = []
    monkeypatch.setattr(video, "warn", warnings.append)
    out = tmp_path / "out.mov"
    _write_one_frame(out, source, codec="prores")
    assert probe_video(out).frame_count == 1 and not probe_video(out).has_audio
    assert warnings == [
        (
            f"{out}: the audio and subtitle tracks of {source} cannot be written into it (Invalid argument);"
            " writing the video without them"
        )
    ]
    assert sorted(tmp_path.iterdir()) == [source, out]  # no temporary file left from the first attempt


def _fails_on_the_third_call(real):
    calls = []

    def failing(*args):
        calls.append(args)
        if len(calls) == 3:
            raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")
        return real(*args)

    return failing


def test_a_track_that_fails_part_way_loses_those_packets_not_the_video(tmp_path, monkeypatch):
    source = _clip_with_audio(tmp_path / "in.mkv", "libopus", "stereo")
    monkeypatch.setattr(tracks._AudioConversion, "packets", _fails_on_the_third_call(tracks._AudioConversion.packets))
    warnings: list[str] = []
    monkeypatch.setattr(tracks, "warn", warnings.append)
    out = tmp_path / "out.mp4"
    _write_one_frame(out, source)
    assert probe_video(out).frame_count == 1
    with av.open(str(out)) as container:
        assert [s.codec_context.name for s in container.streams.audio] == ["aac"]
        # 0.1 s of Opus is five 20 ms packets; the third is lost
        assert sum(frame.samples for frame in container.decode(audio=0)) == pytest.approx(4 * 960, abs=1024)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{out}: audio track 1 (opus) could not be written at 0.0")
    assert warnings[0].endswith("(Invalid data found when processing input); such packets are skipped")


def test_a_source_that_cannot_be_read_further_ends_the_tracks_there(tmp_path, monkeypatch):
    source = _clip_with_audio(tmp_path / "in.mkv", "libopus", "stereo")
    real_init = tracks.SourceTracks.__init__

    def unreadable_after_two_packets(self, *args):
        real_init(self, *args)
        self._packets = map(_fails_on_the_third_call(lambda packet: packet), self._packets)

    monkeypatch.setattr(tracks.SourceTracks, "__init__", unreadable_after_two_packets)
    warnings: list[str] = []
    monkeypatch.setattr(tracks, "warn", warnings.append)
    out = tmp_path / "out.mkv"
    _write_one_frame(out, source, codec="ffv1")
    with av.open(str(out)) as container:
        assert [s.codec_context.name for s in container.streams.audio] == ["opus"]
        assert 0 < sum(frame.samples for frame in container.decode(audio=0)) <= 2 * 960  # the two packets read
    assert warnings == [
        f"{out}: reading the tracks of {source} stopped (Invalid data found when processing input); they end there"
    ]


def test_unwritable_destination_or_codec_is_a_vidgan_error(tmp_path):
    with pytest.raises(VidganError, match="cannot write"):
        VideoWriter(tmp_path / "result.nosuchformat", width=64, height=48, fps=Fraction(25))
    with pytest.raises(VidganError, match="unknown video codec"):
        VideoWriter(tmp_path / "result.mp4", width=64, height=48, fps=Fraction(25), codec="nosuchcodec")
    assert list(tmp_path.iterdir()) == []
