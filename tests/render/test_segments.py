"""Rendering one clip as time segments (vidgan.render.segments): the split, the join, and torchrun with 2 and 3
gloo processes, each compared frame by frame with a single-process render of the same clip."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import REPO_ROOT, assert_clean_failure, free_port

import vidgan.render.video as render_module
from vidgan.core.errors import VidganError
from vidgan.io.ranges import Span, frame_stamps
from vidgan.io.sequences import INCOMPLETE_MARKER, open_clip
from vidgan.io.video import iter_frames
from vidgan.render.options import RenderOptions
from vidgan.render.segments import _dts, plan_segments, segments_per_clip, split, warm_up_frames
from vidgan.render.video import render_video

FRAMES = 23  # divisible by neither 2 nor 3
TIME_BASE = Fraction(1, 1000)


def write_vfr_clip(path: Path, frames: int = FRAMES, width: int = 48, height: int = 32) -> Path:
    """H.264 with B-frames and a keyframe every 8 frames, frames 40 or 80 ms long (variable rate), and AAC audio
    of the same length."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = video.codec_context.time_base = TIME_BASE
        video.options = {"bf": "3", "g": "8", "preset": "veryfast"}
        sound = out.add_stream("aac", rate=44100, layout="mono")
        pts = samples = 0
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(base, 2 * i, axis=1), format="rgb24")
            frame.pts, frame.time_base = pts, TIME_BASE
            out.mux(video.encode(frame))
            pts += 80 if i % 3 == 0 else 40
            end = round(pts / 1000 * 44100)
            tone = (0.2 * np.sin(np.arange(samples, end) * 2 * np.pi * 440 / 44100)).astype(np.float32)[None]
            chunk = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = 44100, samples, Fraction(1, 44100)
            out.mux(sound.encode(chunk))
            samples = end
        out.mux(video.encode())
        out.mux(sound.encode())
    return path


@pytest.fixture
def vfr_clip(tmp_path: Path) -> Path:
    return write_vfr_clip(tmp_path / "shot.mp4")


def frames_of(output: Path) -> list[tuple[object, np.ndarray]]:
    """(pts, RGB) per frame of a video, (file name, BGR) per frame of a PNG folder."""
    if output.is_dir():
        return [(p.name, cv2.imread(str(p))) for p in sorted(output.glob("*.png"))]
    return [(f.pts, f.rgb) for f in iter_frames(output)]


def audio_of(output: Path) -> tuple[float, int, int | None]:
    """(start in seconds, samples) of the first audio track, and the file's duration (µs)."""
    with av.open(str(output)) as container:
        decoded = list(container.decode(audio=0))
        duration = container.duration
    return float(decoded[0].pts * decoded[0].time_base), sum(f.samples for f in decoded), duration


def assert_same_render(one: Path, other: Path, exact: bool = True) -> None:
    first, second = frames_of(one), frames_of(other)
    assert len(first) == len(second) == FRAMES
    assert [stamp for stamp, _ in first] == [stamp for stamp, _ in second]  # timestamps or frame numbers
    if exact:
        for (stamp, a), (_, b) in zip(first, second):
            assert np.array_equal(a, b), stamp
    if not one.is_dir():
        assert audio_of(one) == audio_of(other)


def options(out: Path, segments: int | None = None, **more: object) -> RenderOptions:
    return RenderOptions(out=out, segments=segments, batch_size=4, warp_error_every=1, quiet=True, device="cpu", **more)


def test_split_covers_every_frame_once_in_near_equal_ranges():
    assert split(23, 3) == [(0, 8), (8, 16), (16, 23)]
    assert split(23, 2) == [(0, 12), (12, 23)]
    assert split(2, 3) == [(0, 1), (1, 2)]  # never an empty segment
    assert split(5, 1) == [(0, 5)]


def test_segments_per_clip_and_warm_up():
    assert segments_per_clip(None, inputs=1, processes=8) == 8
    assert segments_per_clip(None, inputs=8, processes=8) == 1  # enough inputs: whole clips, as before
    assert segments_per_clip(None, inputs=1, processes=1) == 1
    assert segments_per_clip(3, inputs=5, processes=1) == 3
    assert warm_up_frames(0.0) == 1
    assert warm_up_frames(0.5) == 9  # 0.5**9 * 255 < 0.5 <= 0.5**8 * 255
    assert warm_up_frames(1.0) == 64


def test_segments_start_at_whole_batches_after_their_warm_up(vfr_clip):
    clip = open_clip(vfr_clip)
    cut = plan_segments(clip, parts=3, warm_up=1, batch_size=5)  # 5 batches: 2, 2 and 1 of them
    assert [(s.start, s.first, s.stop, s.end) for s in cut] == [(0, 0, 10, 10), (9, 10, 20, 20), (19, 20, 23, 23)]
    assert cut[1].stamps == tuple(frame_stamps(vfr_clip)[9:20])
    assert len(plan_segments(clip, parts=8, warm_up=1, batch_size=16)) == 2  # 23 frames: 2 batches to share


def test_frame_stamps_are_the_decoded_pts_in_display_order(vfr_clip):
    stamps = frame_stamps(vfr_clip)
    assert stamps == [f.pts for f in iter_frames(vfr_clip)]
    gaps = {b - a for a, b in zip(stamps, stamps[1:])}
    assert len(gaps) == 2 and max(gaps) == 2 * min(gaps)  # variable frame rate: 40 and 80 ms
    with av.open(str(vfr_clip)) as container:
        decode_order = [p.pts for p in container.demux(video=0) if p.size]
    assert decode_order != sorted(decode_order)  # B-frames: decoded out of display order


def test_joined_decoding_timestamps_increase_and_never_follow_the_frame():
    # Two parts written by x264 with two B-frames of delay each: shown at 0..70 and 80..150 (step 10).
    stamps = list(range(0, 160, 10))
    decode_order = [0, 30, 10, 20, 60, 40, 50, 70, 80, 110, 90, 100, 140, 120, 130, 150]
    dts = [_dts(stamps, 2, k) for k in range(len(stamps))]
    assert dts == sorted(set(dts)) and dts[:3] == [-20, -10, 0]
    assert all(d <= pts for d, pts in zip(dts, decode_order))


@pytest.mark.parametrize("name", ["out.mkv", "frames"])
def test_three_segments_in_one_process_equal_one_pass(vfr_clip, tiny_run, tmp_path, name):
    whole = render_video(vfr_clip, tiny_run, options(tmp_path / "one" / name)).clips[0]
    cut = render_video(vfr_clip, tiny_run, options(tmp_path / "three" / name, segments=3)).clips[0]
    assert_same_render(tmp_path / "one" / name, tmp_path / "three" / name)
    assert (cut.frames, cut.pairs, cut.source_warp_error) == (whole.frames, whole.pairs, whole.source_warp_error)
    # The pair across a cut compares with the warm-up frame's translation, which ran in a batch of its own
    # (different kernel rounding on the CPU), so the output's figure agrees to float precision, not bit for bit.
    assert cut.warp_errors == {d: pytest.approx(e, rel=1e-5) for d, e in whole.warp_errors.items()}
    assert sorted(p.name for p in (tmp_path / "three").iterdir()) == [name]  # no parts or markers left


def test_a_seek_that_lands_past_a_segment_decodes_from_the_start(vfr_clip, tmp_path, monkeypatch, capsys):
    import vidgan.render.segments as segments_module

    def late_seek(path, **kwargs):  # a container index whose keyframe lies one frame after the wanted one
        frames = iter_frames(path, **kwargs)
        if kwargs.get("seek") is not None:
            next(frames)
        return frames

    monkeypatch.setattr(segments_module, "iter_frames", late_seek)
    clip = open_clip(vfr_clip)
    whole = list(iter_frames(vfr_clip))
    last = plan_segments(clip, 3, warm_up=1, batch_size=4)[-1]
    got = list(segments_module.segment_frames(clip, last))
    assert [(f.index, f.pts) for f in got] == [(f.index, f.pts) for f in whole[last.start : last.stop]]
    assert all(np.array_equal(f.rgb, w.rgb) for f, w in zip(got, whole[last.start :]))
    assert f"seeking to frame {last.start} for part 3 missed it" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_lossy_segments_join_without_reencoding_keep_timestamps_and_audio(vfr_clip, tiny_run, tmp_path, suffix):
    # H.264 and ProRes encoders carry state from frame to frame, so frames near a cut differ within their loss.
    render_video(vfr_clip, tiny_run, options(tmp_path / f"one{suffix}"))
    render_video(vfr_clip, tiny_run, options(tmp_path / f"two{suffix}", segments=2))
    assert_same_render(tmp_path / f"one{suffix}", tmp_path / f"two{suffix}", exact=False)
    with av.open(str(tmp_path / f"two{suffix}")) as container:
        keyframes = [p.pts for p in container.demux(video=0) if p.size and p.is_keyframe]
    assert frame_stamps(vfr_clip)[12] in keyframes  # the second part starts with its own keyframe, copied as is


def test_an_image_sequence_is_cut_by_its_files(tiny_run, tmp_path):
    shot = tmp_path / "shot"
    shot.mkdir()
    rng = np.random.default_rng(5)
    for number in range(1001, 1001 + FRAMES):
        cv2.imwrite(str(shot / f"shot_{number}.png"), rng.integers(0, 256, (32, 48, 3), dtype=np.uint8))
    render_video(shot, tiny_run, options(tmp_path / "one.mkv"))
    render_video(shot, tiny_run, options(tmp_path / "three.mkv", segments=3))
    first, second = frames_of(tmp_path / "one.mkv"), frames_of(tmp_path / "three.mkv")
    assert [pts for pts, _ in first] == [pts for pts, _ in second] and len(first) == FRAMES
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(first, second))


def test_smoothing_continues_across_the_cut(vfr_clip, tiny_run, tmp_path):
    render_video(vfr_clip, tiny_run, options(tmp_path / "one", temporal_smooth=0.5))
    render_video(vfr_clip, tiny_run, options(tmp_path / "two", segments=2, temporal_smooth=0.5))
    first, second = frames_of(tmp_path / "one"), frames_of(tmp_path / "two")
    # Nine warm-up frames bring the smoother within rounding of the single pass at the cut.
    assert max(int(np.abs(a.astype(int) - b).max()) for (_, a), (_, b) in zip(first, second)) <= 1


def test_a_failed_segment_leaves_no_output_and_png_resume_finishes_per_segment(vfr_clip, tiny_run, tmp_path, monkeypatch):
    render = render_module.ClipRenderer.render

    def fail_in_the_last(renderer, *args, **kwargs):
        if renderer.segment.number == 2:
            raise VidganError("disk lost")
        return render(renderer, *args, **kwargs)

    monkeypatch.setattr(render_module.ClipRenderer, "render", fail_in_the_last)
    for name in ("out.mkv", "frames"):
        with pytest.raises(VidganError, match="disk lost"):
            render_video(vfr_clip, tiny_run, options(tmp_path / name, segments=3))
    assert not (tmp_path / "out.mkv").exists()
    assert (tmp_path / "frames" / INCOMPLETE_MARKER).exists()  # the first two segments' frames, not done
    assert len(list((tmp_path / "frames").glob("*.png"))) == 16
    monkeypatch.setattr(render_module.ClipRenderer, "render", render)
    resumed = render_video(vfr_clip, tiny_run, options(tmp_path / "frames", segments=3, resume=True)).clips[0]
    assert (resumed.frames, resumed.resumed) == (FRAMES, 16)
    render_video(vfr_clip, tiny_run, options(tmp_path / "whole"))
    assert_same_render(tmp_path / "whole", tmp_path / "frames")
    render_video(vfr_clip, tiny_run, options(tmp_path / "out.mkv", segments=3))  # the stale part is replaced
    assert not list(tmp_path.glob(".out.part*"))


def test_cli_segments_refuses_what_is_not_a_count(run_cli, vfr_clip, tiny_run):
    for value in ("0", "-1", "two", "1.5"):
        done = run_cli("render", vfr_clip, "--run", tiny_run, "--segments", value, "--device", "cpu")
        assert_clean_failure(done, "--segments must be auto or a whole number", code=2)


def torchrun(processes: int, *args: object, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
               "--master_port", str(free_port()), "-m", "vidgan", *map(str, args)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "120"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


@pytest.mark.slow
@pytest.mark.parametrize(("processes", "name"), [(2, "out.mkv"), (3, "frames")])
def test_torchrun_renders_one_shot_in_segments_like_one_process(vfr_clip, tiny_run, tmp_path, processes, name):
    whole = render_video(vfr_clip, tiny_run, options(tmp_path / "one" / name)).clips[0]
    out = tmp_path / "many" / name
    done = torchrun(processes, "render", vfr_clip, "--checkpoint", tiny_run, "--out", out, "--batch-size", "4",
                    "--warp-error-every", "1", "--device", "cpu", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_render(tmp_path / "one" / name, out)
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == [name]
    report = " ".join((done.stdout + done.stderr).split())  # the console wraps long lines
    assert report.count(f"({FRAMES} frames)") == 1  # rank 0 reports the whole clip, with every rank's pairs
    assert f"output {whole.warp_errors['a2b']:.6f}, source {whole.source_warp_error:.6f}" in report


def test_segments_into_a_tiff_sequence_land_in_one_folder_like_one_pass(vfr_clip, tiny_run, tmp_path):
    # Every image-sequence codec is written frame by frame into the shared folder, not as a video part.
    render_video(vfr_clip, tiny_run, options(tmp_path / "one", codec="tiff"))
    render_video(vfr_clip, tiny_run, options(tmp_path / "two", segments=2, codec="tiff"))
    one, two = sorted((tmp_path / "one").glob("*.tif")), sorted((tmp_path / "two").glob("*.tif"))
    assert [p.name for p in one] == [p.name for p in two] and len(one) == FRAMES
    for a, b in zip(one, two):
        assert np.array_equal(cv2.imread(str(a)), cv2.imread(str(b))), a.name
    assert not list(tmp_path.glob(".two*")) and not (tmp_path / "two" / "INCOMPLETE.txt").exists()


def test_segments_of_a_16_bit_sequence_keep_its_depth_like_one_pass(tiny_run, tmp_path):
    plates = tmp_path / "plates"
    plates.mkdir()
    ramp = np.linspace(0, 65535, 48 * 32 * 3).reshape(32, 48, 3).astype(np.uint16)
    for i in range(9):
        cv2.imwrite(str(plates / f"shot_{1001 + i}.png"), ramp // (i + 1))
    render_video(plates, tiny_run, options(tmp_path / "one"))
    render_video(plates, tiny_run, options(tmp_path / "two", segments=2))
    one, two = sorted((tmp_path / "one").glob("*.png")), sorted((tmp_path / "two").glob("*.png"))
    assert [p.name for p in one] == [p.name for p in two] == [f"shot_{1001 + i}.png" for i in range(9)]
    for a, b in zip(one, two):
        pixels = cv2.imread(str(b), cv2.IMREAD_UNCHANGED)
        assert pixels.dtype == np.uint16 and np.array_equal(cv2.imread(str(a), cv2.IMREAD_UNCHANGED), pixels), b.name


@pytest.mark.parametrize("suffix", [".mov", ".mp4"])
def test_segments_at_29_97_keep_every_timestamp_of_one_pass(tiny_run, tmp_path, suffix):
    # A part that starts later than 0 gets an edit list in a QuickTime/MP4 file, kept in milliseconds: its
    # timestamps come back rounded, so the join restores the planned ones.
    source = tmp_path / "ntsc.mp4"
    with av.open(str(source), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for i in range(12):
            frame = av.VideoFrame.from_ndarray(np.full((32, 48, 3), 20 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i * 1001, Fraction(1, 30000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    render_video(source, tiny_run, options(tmp_path / f"one{suffix}"))
    render_video(source, tiny_run, options(tmp_path / f"two{suffix}", segments=2))

    def stamps(path: Path) -> list[int]:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return sorted(int(p.pts * p.time_base * 30000) for p in container.demux(stream) if p.size)

    assert stamps(tmp_path / f"two{suffix}") == stamps(tmp_path / f"one{suffix}") == [i * 1001 for i in range(12)]


@pytest.mark.parametrize(("first", "stop", "parts", "warm_up"), [(2, 7, 1, 1), (5, 30, 3, 1), (9, 40, 2, 16), (0, 23, 4, 1)])
def test_written_frames_meet_the_generator_in_their_one_pass_batches_up_to_the_range_end(first, stop, parts, warm_up):
    """The CPU's one-thread kernels give results that depend on the batch, so a range or segment must batch its frames
    as one pass over the whole clip does: whole batches from the clip's first frame (cut short only at its end)."""
    size, frames = 4, 40
    span = Span(first, stop, tuple(range(frames)), Fraction(1, 25))
    written = []
    for segment in plan_segments(None, parts, warm_up, size, span):
        assert segment.stamps == span.stamps[segment.start : segment.end] and len(segment.stamps) == segment.decoded
        positions = range(segment.start, segment.end)
        for batch in render_module._batches(positions, size, cut=-segment.start % size):
            if any(segment.writes(position) for position in batch):
                assert batch == list(range(batch[0] - batch[0] % size, min(batch[0] - batch[0] % size + size, frames)))
                written += [position for position in batch if segment.writes(position)]
        assert segment.written(segment.decoded) == segment.stop - segment.first
        assert [segment.fills(p) for p in positions] == [p >= segment.stop for p in positions]
        assert segment.written_stamps == span.stamps[segment.first : segment.stop]
    assert written == list(range(first, stop))
