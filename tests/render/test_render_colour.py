"""The video picture survives a render: colour matrix, range, primaries and transfer, sample aspect ratio,
interlacing and start timecode. Every input is made here with PyAV, and outputs are read back with PyAV alone."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pytest
from av.video.reformatter import ColorRange, Colorspace, Interpolation
from torch import nn

import vidgan.render.translator as translator
from vidgan.io.video import iter_frames, probe_video

BARS = ((255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255), (255, 0, 0), (0, 0, 255), (0, 0, 0))
GREEN = 3  # the green bar's position in BARS
# AVColorSpace → the swscale matrix a player decodes it with.
PLAYER_MATRIX = {1: Colorspace.ITU709, 5: Colorspace.ITU601, 6: Colorspace.ITU601, 9: Colorspace.BT2020}
ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT  # as players round


class _Identity(nn.Module):
    """A generator that changes nothing (stride 4, 64-px training size): with --detail source the render is the
    source's decoded pixels, so what the output shows is down to decoding and encoding alone."""

    config = SimpleNamespace(size=64)
    stride = 4

    def forward(self, x):
        return x


@pytest.fixture
def identity(monkeypatch):
    monkeypatch.setattr(translator, "load_generator", lambda *args, **kwargs: _Identity())


def colour_bars(width: int, height: int) -> np.ndarray:
    bars = np.zeros((height, width, 3), np.uint8)
    for i, colour in enumerate(BARS):
        bars[:, i * width // 8 : (i + 1) * width // 8] = colour
    return bars


def write_clip(path: Path, frames: list[np.ndarray], *, codec: str = "libx264", tags: tuple[int, int, int, int] | None = None,
               sample_aspect: Fraction | None = None, timecode: str | None = None, options: dict | None = None,
               field_order: str | None = None) -> Path:
    """A clip of RGB `frames` at 25 fps, encoded by PyAV with the matrix and range of `tags` (matrix, range, primaries,
    transfer as FFmpeg numbers; None: untagged, BT.601 limited, the encoder's default) and declaring them; with
    `field_order` "tff" the frames are flagged top field first (FFmpeg's setfield filter) and coded interlaced."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        if timecode is not None:
            out.metadata["timecode"] = timecode
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = options or {}
        context = stream.codec_context
        if tags is not None:
            context.colorspace, context.color_range, context.color_primaries, context.color_trc = tags
        if sample_aspect is not None:
            context.sample_aspect_ratio = sample_aspect
        fields = _field_flagger(width, height) if field_order else None
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if tags is None:
                frame = frame.reformat(format="yuv420p")
            else:
                frame = frame.reformat(format="yuv420p", src_color_range=ColorRange.JPEG,
                                       dst_colorspace=PLAYER_MATRIX[tags[0]], dst_color_range=tags[1])
                frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc = tags
            frame.pts, frame.time_base = i, Fraction(1, 25)
            if fields is not None:
                fields.push(frame)
                frame = fields.pull()
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _field_flagger(width: int, height: int) -> av.filter.Graph:
    graph = av.filter.Graph()
    source = graph.add_buffer(width=width, height=height, format="yuv420p", time_base=Fraction(1, 25))
    setfield = graph.add("setfield", "mode=tff")
    source.link_to(setfield)
    setfield.link_to(graph.add("buffersink"))
    graph.configure()
    return graph


def read_back(path: Path) -> tuple[av.video.codeccontext.VideoCodecContext, np.ndarray, dict]:
    """The output's video decoder (its tags), its first frame decoded as a player would with the matrix and range it
    declares (swscale's accurate path), and all metadata of the file and its streams."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frame = next(container.decode(stream))
        if frame.colorspace == 0:  # RGB planes (FFV1)
            rgb = frame.to_ndarray(format="rgb24")
        else:
            rgb = frame.to_ndarray(
                format="rgb24", src_colorspace=PLAYER_MATRIX[frame.colorspace], src_color_range=frame.color_range,
                dst_color_range=ColorRange.JPEG, interpolation=ACCURATE,
            )
        metadata = {**container.metadata}
        for other in container.streams:
            metadata |= {f"{other.type}:{key}": value for key, value in other.metadata.items()}
        return stream.codec_context, rgb, {"sar": stream.sample_aspect_ratio, **metadata}


def test_hd_bt709_bars_keep_their_matrix_and_tags_in_every_codec(identity, run_cli, tmp_path):
    source = write_clip(tmp_path / "bars.mp4", [colour_bars(1280, 720)] * 2, tags=(1, 1, 1, 1))  # BT.709 limited
    # H.264 and ProRes: BT.709 limited like the source; FFV1: RGB planes (matrix RGB, full range), same primaries
    # and transfer.
    for out, tags in ((tmp_path / "out.mp4", (1, 1, 1, 1)), (tmp_path / "out.mov", (1, 1, 1, 1)), (tmp_path / "out.mkv", (0, 2, 1, 1))):
        done = run_cli("render", source, "--run", tmp_path, "--out", out, "--device", "cpu")
        assert done.code == 0, done.stderr
        context, rgb, _ = read_back(out)
        assert (context.colorspace, context.color_range, context.color_primaries, context.color_trc) == tags
        green = rgb[360, GREEN * 160 + 80].astype(int)
        assert np.abs(green - (0, 255, 0)).max() <= 2, (out.name, green)
        assert np.abs(rgb[360, 80].astype(int) - 255).max() <= 2 and rgb[360, 1200].max() <= 2  # white and black bars


def test_an_image_sequence_renders_to_video_declaring_srgb_and_the_matrix_it_is_encoded_with(identity, run_cli, tmp_path):
    (tmp_path / "plate").mkdir()
    for number in (1001, 1002):
        cv2.imwrite(str(tmp_path / "plate" / f"plate_{number}.png"), cv2.cvtColor(colour_bars(160, 96), cv2.COLOR_RGB2BGR))
    done = run_cli("render", tmp_path / "plate", "--run", tmp_path, "--out", tmp_path / "out.mp4", "--device", "cpu")
    assert done.code == 0, done.stderr
    context, rgb, _ = read_back(tmp_path / "out.mp4")
    # SD: BT.601 (SMPTE 170M) limited; BT.709 primaries and the sRGB transfer (13) of PNGs.
    assert (context.colorspace, context.color_range, context.color_primaries, context.color_trc) == (6, 1, 1, 13)
    assert np.abs(rgb[48, GREEN * 20 + 10].astype(int) - (0, 255, 0)).max() <= 2


@pytest.mark.parametrize("width, height, matrix", [(1280, 720, Colorspace.ITU709), (640, 480, Colorspace.ITU601)])
def test_an_untagged_clip_is_read_with_the_matrix_of_its_size(tmp_path, width, height, matrix):
    """Untagged HD is BT.709, untagged SD BT.601, as players assume."""
    path = tmp_path / "untagged.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frame = av.VideoFrame.from_ndarray(colour_bars(width, height), format="rgb24")
        frame = frame.reformat(format="yuv420p", src_color_range=ColorRange.JPEG, dst_colorspace=matrix, dst_color_range=ColorRange.MPEG)
        frame.pts = 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    assert probe_video(path).tags.colour.primaries == 2  # nothing declared
    rgb = next(iter_frames(path)).rgb
    assert np.abs(rgb[height // 2, GREEN * width // 8 + width // 16].astype(int) - (0, 255, 0)).max() <= 2


def test_hdr_source_gets_one_warning_and_keeps_its_tags_and_code_values(identity, run_cli, tmp_path):
    grey = np.full((96, 160, 3), 128, np.uint8)
    grey[:, :40] = (200, 60, 30)
    source = write_clip(tmp_path / "pq.mp4", [grey] * 2, tags=(9, 1, 9, 16))  # BT.2020, PQ
    done = run_cli("render", source, "--run", tmp_path, "--out", tmp_path / "out.mp4", "--device", "cpu")
    assert done.code == 0, done.stderr
    stderr = done.stderr.replace("\n", " ")
    assert stderr.count("HDR PQ (SMPTE 2084), BT.2020 video") == 1 and "no tone mapping" in stderr
    context, rgb, _ = read_back(tmp_path / "out.mp4")
    assert (context.colorspace, context.color_range, context.color_primaries, context.color_trc) == (9, 1, 9, 16)
    assert np.abs(rgb[48, 100].astype(int) - 128).max() <= 2 and np.abs(rgb[48, 20].astype(int) - (200, 60, 30)).max() <= 3


def test_sample_aspect_ratio_is_kept(identity, run_cli, tmp_path):
    frames = [colour_bars(720, 480)] * 2
    source = write_clip(tmp_path / "dvd.mp4", frames, sample_aspect=Fraction(32, 27))
    assert probe_video(source).tags.sample_aspect == Fraction(32, 27)
    for out in (tmp_path / "out.mp4", tmp_path / "out.mov"):
        done = run_cli("render", source, "--run", tmp_path, "--out", out, "--device", "cpu")
        assert done.code == 0, done.stderr
        assert read_back(out)[2]["sar"] == Fraction(32, 27)
        assert next(iter_frames(out)).rgb.shape == (480, 720, 3)  # stored pixels, as the source's
    done = run_cli("render", source, "--run", tmp_path, "--out", tmp_path / "out.mkv", "--device", "cpu")
    assert done.code == 0 and "cannot record the source's sample aspect ratio 32:27" in done.stderr.replace("\n", " ")


def test_start_timecode_is_written_to_every_video_output(identity, run_cli, tmp_path):
    source = write_clip(tmp_path / "shot.mov", [colour_bars(160, 96)] * 3, timecode="01:00:10:05")
    assert probe_video(source).tags.timecode == "01:00:10:05"
    for out in (tmp_path / "out.mp4", tmp_path / "out.mov", tmp_path / "out.mkv"):
        done = run_cli("render", source, "--run", tmp_path, "--out", out, "--device", "cpu")
        assert done.code == 0, done.stderr
        metadata = read_back(out)[2]
        timecodes = {value for key, value in metadata.items() if key.split(":")[-1].lower() == "timecode"}
        assert timecodes == {"01:00:10:05"}, metadata


def _interlaced_frame(i: int, width: int = 320, height: int = 240) -> np.ndarray:
    """Two fields of a bar moving 8 px per field: the top field (even rows) at field 2i, the bottom one at 2i+1."""
    rgb = np.full((height, width, 3), 40, np.uint8)
    for parity in (0, 1):
        x = 16 + 8 * (2 * i + parity)
        rgb[parity::2, x : x + 24] = 230
    return rgb


def combing(rgb: np.ndarray) -> float:
    """Mean distance of each odd row from the mean of the even rows around it: large where fields disagree."""
    grey = rgb.astype(np.float64).mean(axis=2)
    return float(np.abs(grey[1:-1:2] - (grey[0:-2:2] + grey[2::2]) / 2).mean())


def test_interlaced_mpeg2_is_deinterlaced_for_render_and_extract(identity, run_cli, tmp_path):
    frames = [_interlaced_frame(i) for i in range(8)]
    source = write_clip(tmp_path / "tff.mpg", frames, codec="mpeg2video", field_order="tff",
                        options={"flags": "+ildct+ilme", "b": "8M"})
    with av.open(str(source)) as container:  # the naive path: the frames as decoded, both fields woven
        assert container.streams.video[0].codec_context.field_order == 2  # top field first
        naive = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert probe_video(source).interlaced
    done = run_cli("render", source, "--run", tmp_path, "--out", tmp_path / "out.mkv", "--device", "cpu")
    assert done.code == 0, done.stderr
    assert "deinterlaced on decode with FFmpeg's bwdif" in done.stderr.replace("\n", " ")
    rendered = [f.rgb for f in iter_frames(tmp_path / "out.mkv")]
    assert len(rendered) == len(naive) == 8  # one frame per frame
    woven, progressive = np.mean([combing(f) for f in naive[1:-1]]), np.mean([combing(f) for f in rendered[1:-1]])
    assert progressive < 0.25 * woven, (progressive, woven)
    for i, rgb in enumerate(rendered[1:-1], 1):  # each frame is its top field's picture: the bar where that field has it
        bright = np.flatnonzero(rgb[120, :, 0] > 135)
        assert abs(bright.min() - (16 + 16 * i)) <= 2 and abs(bright.max() - (16 + 16 * i + 23)) <= 2, (i, bright)
    done = run_cli("extract", "--out", tmp_path / "data", "--a", source, "--b", source, "--every", "1", "--scale", "240")
    assert done.code == 0, done.stderr
    extracted = sorted((tmp_path / "data" / "a").glob("*.png"))
    assert len(extracted) == 8
    assert np.mean([combing(cv2.imread(str(p))) for p in extracted[1:-1]]) < 0.25 * woven


def test_a_render_in_segments_keeps_tags_aspect_and_timecode(identity, run_cli, tmp_path):
    # The segments are joined by copying packets: the join, not an encoder, must carry what the source declares.
    source = write_clip(tmp_path / "shot.mov", [colour_bars(720, 480)] * 6, tags=(1, 1, 1, 1), sample_aspect=Fraction(32, 27),
                        timecode="01:00:10:05")  # fmt: skip
    for out in (tmp_path / "out.mp4", tmp_path / "out.mov"):
        done = run_cli("render", source, "--run", tmp_path, "--out", out, "--segments", "2", "--batch-size", "2", "--device", "cpu")
        assert done.code == 0, done.stderr
        context, rgb, metadata = read_back(out)
        assert (context.colorspace, context.color_range, context.color_primaries, context.color_trc) == (1, 1, 1, 1)
        assert metadata["sar"] == Fraction(32, 27)
        timecodes = {value for key, value in metadata.items() if key.split(":")[-1].lower() == "timecode"}
        assert timecodes == {"01:00:10:05"}, (out.name, metadata)
        assert len(list(iter_frames(out))) == 6


HDR10 = "master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400"


def _hdr10_clip(path: Path) -> Path:
    """An HDR10 clip as cameras and graders deliver it: HEVC Main10 (yuv420p10le), BT.2020, PQ, with mastering-display
    and content-light-level SEI; a red bar (118, 69, 45) left and a green one (103, 127, 73) right, in 8-bit levels."""
    rgb = np.zeros((96, 160, 3), np.uint16)
    rgb[:, :80], rgb[:, 80:] = np.array((118, 69, 45)) * 257, np.array((103, 127, 73)) * 257
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx265", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p10le"
        stream.options = {"x265-params": f"log-level=error:hdr10=1:{HDR10}"}
        context = stream.codec_context
        context.colorspace, context.color_range, context.color_primaries, context.color_trc = 9, 1, 9, 16
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le").reformat(
                format="yuv420p10le", dst_colorspace=Colorspace.BT2020, dst_color_range=ColorRange.MPEG)
            frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc = 9, 1, 9, 16
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _first_frame_hdr(path: Path):
    from vidgan.io.hdr import HdrMetadata

    with av.open(str(path)) as container:
        return HdrMetadata.of(next(container.decode(video=0)))


def test_ten_bit_420_source_keeps_its_colours_in_deep_outputs_and_its_hdr10_metadata(identity, run_cli, tmp_path):
    source = _hdr10_clip(tmp_path / "hdr10.mp4")
    hdr = _first_frame_hdr(source)
    assert hdr is not None and hdr.content_light == (1000, 400) and hdr.mastering.max_luminance == 1000
    roi = ("--roi", "0,0,4,4", "--feather", "0", "--device", "cpu")
    stderr = {}
    for out in (tmp_path / "frames", tmp_path / "o.mov", tmp_path / "o.mp4"):
        done = run_cli("render", source, "--run", tmp_path, "--out", out, *roi)
        assert done.code == 0, done.stderr
        stderr[out.name] = done.stderr.replace("\n", " ")
    png = cv2.imread(str(sorted((tmp_path / "frames").glob("*.png"))[0]), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16
    rgb16 = png[..., ::-1].astype(float) / 257  # outside the 4x4 box: the source's decoded pixels
    for out_rgb in (rgb16, read_back(tmp_path / "o.mov")[1], read_back(tmp_path / "o.mp4")[1]):
        assert np.abs(out_rgb[48, 40] - (118, 69, 45)).max() <= 2.5, out_rgb[48, 40]
        assert np.abs(out_rgb[48, 120] - (103, 127, 73)).max() <= 2.5, out_rgb[48, 120]
    assert _first_frame_hdr(tmp_path / "o.mp4") == hdr  # the H.264 output's SEI says what the source's said
    assert read_back(tmp_path / "o.mp4")[0].color_trc == 16
    # ProRes keeps them only in container boxes PyAV cannot write: said once, not dropped silently
    assert "prores cannot carry the source's HDR10 mastering-display" in stderr["o.mov"]
    assert "HDR10" not in stderr["o.mp4"]
