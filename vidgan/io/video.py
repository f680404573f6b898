"""Video input and output with PyAV: probing, decoding frames, encoding them with timestamps kept and tracks carried."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
import cv2
import numpy as np
from av.codec.codec import UnknownCodecError

from vidgan.core.errors import UsageError, VidganError
from vidgan.core.fsutil import temp_path_for, through_links
from vidgan.core.progress import warn
from vidgan.io.colour import ColourTags, decode_rgb, encode_frame, source_tags, tag_encoder
from vidgan.io.fields import Deinterlacer, is_interlaced
from vidgan.io.hdr import HdrMetadata
from vidgan.io.plates import Plate, at_depth, split_plate
from vidgan.io.tracks import SourceTracks, ffmpeg_reason

# Used only when a stream reports no frame rate at all (rare: some raw elementary streams).
_FALLBACK_FPS = Fraction(30)


@dataclass(frozen=True)
class VideoCodec:
    """How one of the codecs offered to users is encoded: FFmpeg encoder, pixel format, options, containers."""

    encoder: str
    pix_fmt: str | None  # None: yuv420p, or yuv444p for odd sizes
    options: tuple[tuple[str, str], ...]
    suffixes: tuple[str, ...]
    takes_crf: bool = False
    full_range: bool = True  # may be encoded full range (else always limited)
    # Whether the sample aspect ratio reaches the file: PyAV sets it on the encoder only, and Matroska reads it
    # from the stream, which FFV1's bitstream does not tell it.
    keeps_aspect: bool = True
    bits: int = 8  # per sample: frames with a Plate are encoded from 16-bit RGB when above 8
    alpha: bool = False  # stores an alpha channel
    # The encoder option that takes HDR10 static metadata as x264/x265 spell it (HdrMetadata.x264_params), or None
    # where PyAV has no way to hand it over (ProRes and FFV1 keep it only in container side data PyAV cannot set).
    hdr_option: str | None = None


VIDEO_CODECS = {
    # veryfast encodes 720p about 2.5x faster than x264's default (medium) for somewhat larger files at the same
    # crf; at medium the encoder alone took a fifth of a CPU render's time.
    "h264": VideoCodec(
        "libx264", None, (("preset", "veryfast"),), (".mp4", ".mov", ".mkv"), takes_crf=True, hdr_option="x264-params"
    ),
    # Profile 3 is ProRes 422 HQ; 10-bit 4:2:2 is what finishing tools expect of it (limited range by definition).
    "prores": VideoCodec(
        "prores_ks", "yuv422p10le", (("profile", "3"), ("vendor", "apl0")), (".mov",), full_range=False, bits=10
    ),
    # Profile 4 is ProRes 4444: 10-bit 4:4:4 colour and a 16-bit alpha channel.
    "prores4444": VideoCodec(
        "prores_ks", "yuva444p10le", (("profile", "4"), ("vendor", "apl0")), (".mov",), full_range=False, bits=10, alpha=True
    ),
    # FFV1 on RGB planes is bit-exact: no colour-space conversion or chroma subsampling to lose pixels.
    "ffv1": VideoCodec("ffv1", "bgr0", (("level", "3"),), (".mkv",), keeps_aspect=False),
}


@dataclass(frozen=True)
class PictureTags:
    """What a video output declares about its picture, taken from its source: colour tags (vidgan.io.colour),
    sample aspect ratio (pixel width / height; 1 is square), start timecode (HH:MM:SS:FF, or None) and HDR10
    static metadata (vidgan.io.hdr; None for SDR)."""

    colour: ColourTags = field(default_factory=ColourTags)
    sample_aspect: Fraction = Fraction(1)
    timecode: str | None = None
    hdr: HdrMetadata | None = None


@dataclass(frozen=True)
class VideoInfo:
    """What `probe_video` learned about a clip; width and height are those of upright frames."""

    path: Path
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frame_count: int | None
    duration: float | None
    has_audio: bool
    rotation: int = 0  # degrees counter-clockwise that iter_frames turns decoded frames by to make them upright
    tags: PictureTags = field(default_factory=PictureTags)  # of the upright frames, colour resolved for decoding
    interlaced: bool = False  # iter_frames deinterlaces it (vidgan.io.fields)


@dataclass
class Frame:
    """One decoded frame; `rgb` (H×W×3 uint8) is None only for a frame that was not kept (iter_frames yields kept
    frames only); `plate` holds what the source has beyond 8-bit RGB (vidgan.io.plates), None for plain 8-bit."""

    index: int
    time: float
    pts: int | None
    rgb: np.ndarray | None
    plate: Plate | None = None


def _open_input(path: Path) -> av.container.InputContainer:
    """Open a media file for reading, turning every failure into a one-line VidganError."""
    if not path.exists():
        raise VidganError(f"{path}: no such file")
    if path.is_dir():
        raise VidganError(f"{path}: is a folder, expected a video file")
    try:
        return av.open(str(path), "r")
    except (av.error.FFmpegError, OSError) as exc:
        raise VidganError(f"{path}: not a readable video file ({ffmpeg_reason(exc)})") from exc


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise VidganError(f"{path}: has no video stream")
    return container.streams.video[0]


def _stream_fps(stream: av.video.stream.VideoStream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return _FALLBACK_FPS


def _upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Apply the display rotation (counter-clockwise degrees) so frames look as players show them."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def _frame_rotation(frame: av.VideoFrame) -> int:
    return int(round(frame.rotation or 0))


def _displayed_size(frame: av.VideoFrame) -> tuple[int, int]:
    """(width, height) of the frame as players show it, after its display rotation."""
    if round(_frame_rotation(frame) / 90) % 2:
        return frame.height, frame.width
    return frame.width, frame.height


def _is_deep(frame: av.VideoFrame) -> bool:
    """Whether the frame's samples have more than 8 bits (10-bit ProRes, H.264 High 10, …)."""
    return any(component.bits > 8 for component in frame.format.components)


def _has_alpha(frame: av.VideoFrame) -> bool:
    """Whether the frame's pixel format holds an alpha channel (ProRes 4444's yuva444p10le, QuickTime Animation's
    argb, PNG and FFV1 RGBA, …)."""
    return any(component.is_alpha for component in frame.format.components)


def _rgb_format(frame: av.VideoFrame, deep: bool) -> str:
    """The packed format a frame is decoded to: 8-bit RGB, or with `deep` 16-bit where its samples have more than
    8 bits and RGBA where it has alpha."""
    if not deep:
        return "rgb24"
    alpha = _has_alpha(frame)
    if _is_deep(frame):
        return "rgba64le" if alpha else "rgb48le"
    return "rgba" if alpha else "rgb24"


def _to_rgb(frame: av.VideoFrame, resize: tuple[int, int] | None, rgb_format: str = "rgb24") -> np.ndarray:
    """The frame upright as H×W×3 RGB or H×W×4 RGBA (uint8 rgb24/rgba, or uint16 rgb48le/rgba64le; colour converted
    with the matrix and range it declares, vidgan.io.colour; alpha as stored, scaled to the sample's range),
    scaled on the way to (width, height) as displayed when `resize` is given."""
    rotation = _frame_rotation(frame)
    tags = source_tags(frame)
    if resize is None:
        return _upright(_full_alpha(decode_rgb(frame, tags, rgb_format=rgb_format), frame), rotation)
    width, height = resize
    if round(rotation / 90) % 2:  # stored on its side: scale the stored frame to the transposed size
        width, height = height, width
    # Area averaging when shrinking (no aliasing), bicubic when enlarging: the same choice as images.square_resize.
    shrinking = width <= frame.width and height <= frame.height
    interpolation = "AREA" if shrinking else "BICUBIC"
    scaled = decode_rgb(frame, tags, width=width, height=height, interpolation=interpolation, rgb_format=rgb_format)
    return _upright(_full_alpha(scaled, frame), rotation)


def _full_alpha(pixels: np.ndarray, frame: av.VideoFrame) -> np.ndarray:
    """16-bit RGBA pixels with the alpha of a shallower source (ProRes 4444 decodes to 12 bits) scaled so that its
    largest code is 65535: swscale shifts it up (4095 → 65520), which would make opaque pixels a little
    transparent."""
    if pixels.dtype != np.uint16 or pixels.shape[2] != 4:
        return pixels
    bits = next(component.bits for component in frame.format.components if component.is_alpha)
    if bits < 16:
        top = (1 << bits) - 1
        codes = (pixels[:, :, 3] >> (16 - bits)).astype(np.uint32)
        pixels[:, :, 3] = (codes * 65535 + top // 2) // top
    return pixels


def letterbox(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """rgb (H×W×C, any depth) scaled to fit inside width×height with its aspect kept, centred on black bars.

    What video players do with a stream whose resolution changes: the window keeps its size and the new picture
    is fitted into it. Scaling is OpenCV's (area averaging when shrinking, bicubic when enlarging).
    """
    h, w = rgb.shape[:2]
    scale = min(width / w, height / h)
    inner_w, inner_h = min(width, max(1, round(w * scale))), min(height, max(1, round(h * scale)))
    if (inner_w, inner_h) != (w, h):
        rgb = cv2.resize(rgb, (inner_w, inner_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    boxed = np.zeros((height, width, *rgb.shape[2:]), rgb.dtype)
    top, left = (height - inner_h) // 2, (width - inner_w) // 2
    boxed[top : top + inner_h, left : left + inner_w] = rgb
    return boxed


class FirstFrameSize:
    """Brings every frame of a clip to its first frame's size: frames of another size are letterboxed into it.

    Broadcast and stream recordings change resolution mid-stream; a render needs one size throughout. One
    warning names where the size first changed; later changes are handled the same way without more lines.
    """

    def __init__(self, source: str | Path, size: tuple[int, int] | None = None) -> None:
        self.source = source
        self.size = size  # (width, height); None until the first frame is seen
        self._warned = False

    def differs(self, width: int, height: int, where: str) -> bool:
        """Note a frame's displayed size; True when it is not the first frame's (warns once, naming `where`)."""
        if self.size is None:
            self.size = (width, height)
        if (width, height) == self.size:
            return False
        if not self._warned:
            first = f"{self.size[0]}x{self.size[1]}"
            warn(
                f"{self.source}: the picture changes size from {first} to {width}x{height} at {where}; frames of"
                f" another size are fitted into {first} with their aspect kept, on black bars, as players show them"
            )
            self._warned = True
        return True

    def fit(self, rgb: np.ndarray) -> np.ndarray:
        """rgb letterboxed to the first frame's size."""
        return letterbox(rgb, *self.size)


def _announced_duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    """The length in seconds the file's header claims (the video stream's, else the whole file's), if any."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _warn_if_cut_short(
    path: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream, frames: int, end: float
) -> None:
    """Warn when decoding ended (at `end` seconds, after `frames` frames) well before the length the header announces."""
    announced = _announced_duration(container, stream)
    if stream.frames:
        short, expected = frames < stream.frames, f"{stream.frames} frames"
    elif announced is not None:
        # Without a frame count, allow for audio outlasting the video a little, and for rounding.
        short, expected = end < announced - max(3 / _stream_fps(stream), 0.02 * announced), f"{announced:.2f} s"
    else:
        return
    if short:
        warn(
            f"{path}: the file ends after {frames} frames ({end:.2f} s) though its header announces {expected};"
            " it may be truncated. Keeping the frames that decoded"
        )


def _timecode(container: av.container.InputContainer) -> str | None:
    """The start timecode the file declares: the container's `timecode` tag (Matroska: TIMECODE), else a stream's
    (mov/mp4 show a QuickTime tmcd track's on the video stream and on the data stream of the track)."""
    for metadata in (container.metadata, *(stream.metadata for stream in container.streams)):
        for key, value in metadata.items():
            if key.lower() == "timecode" and value:
                return value
    return None


def _picture_tags(container: av.container.InputContainer, stream: av.video.stream.VideoStream, first: av.VideoFrame) -> PictureTags:
    """What outputs keep of this picture: the first frame's colour tags, the stream's sample aspect ratio (of the
    upright frame: inverted for a frame stored on its side) and the timecode."""
    sample_aspect = Fraction(stream.sample_aspect_ratio or 1)  # None or 0: not declared, square
    if round(_frame_rotation(first) / 90) % 2:
        sample_aspect = 1 / sample_aspect
    return PictureTags(source_tags(first), sample_aspect, _timecode(container), HdrMetadata.of(first))


def probe_video(path: str | Path) -> VideoInfo:
    """Read a clip's size, frame rate, length and picture tags (colour, sample aspect ratio, timecode) and whether it is
    interlaced; decodes only the first frame, to prove the clip is readable."""
    path = Path(path)
    container = _open_input(path)
    try:
        stream = _video_stream(container, path)
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise VidganError(f"{path}: the video stream cannot be decoded ({ffmpeg_reason(exc)})") from exc
        if first is None:
            raise VidganError(f"{path}: the video stream has no frames")
        width, height = _displayed_size(first)
        time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
        return VideoInfo(
            path=path,
            width=width,
            height=height,
            fps=_stream_fps(stream),
            time_base=time_base,
            frame_count=stream.frames or None,  # 0 means the container does not say
            duration=_announced_duration(container, stream),
            has_audio=bool(container.streams.audio),
            rotation=_frame_rotation(first),
            tags=_picture_tags(container, stream, first),
            interlaced=is_interlaced(stream, first),
        )
    finally:
        container.close()


def iter_frames(
    path: str | Path,
    *,
    every: int = 1,
    start: float | None = None,
    end: float | None = None,
    keep: Callable[[int], bool] | None = None,
    resize: Callable[[int, int], tuple[int, int]] | None = None,
    seek: tuple[int, int] | None = None,
    deep: bool = False,
) -> Iterator[Frame]:
    """Yield the kept frames (index % every == 0, keep(index), start <= time < end) as upright RGB, in order;
    with `deep`, frames of more than 8 bits per sample, or with alpha, also carry a Plate of their 16-bit RGB (or
    8-bit RGBA) decode, alpha included.

    Indices count every decoded frame from the start of the clip. Without `resize` every frame comes at the
    first frame's size: in a stream whose resolution changes, frames of another size are letterboxed into it
    (FirstFrameSize, one warning). `resize` maps each frame's own displayed (width, height) to the size it is
    scaled to in swscale on the way to RGB (far cheaper than shrinking whole frames after); frames keep their own
    aspect then. A decode error part-way through ends the iteration with a warning; a clip where not even the
    first frame decodes raises VidganError. Interlaced clips are deinterlaced (_progressive); a colour description
    that 8-bit RGB cannot carry faithfully gets one warning naming what is done (ColourTags.caveat).

    `seek` = (pts, index): start decoding at the keyframe at or before that pts (the video stream's time base)
    and yield frames from it on, the first numbered `index` (the caller knows which frame of the clip it is);
    frames between the keyframe and it are decoded, not counted.
    """
    if every < 1:
        raise UsageError(f"every must be 1 or more, got {every}")
    path = Path(path)
    container = _open_input(path)
    try:
        stream = _video_stream(container, path)
        stream.codec_context.thread_type = "AUTO"
        sizes = FirstFrameSize(path) if resize is None else None
        for index, time, frame in _numbered_frames(container, stream, path, seek):
            if index == 0 and (caveat := ColourTags.of(frame).caveat()):
                warn(f"{path}: {caveat}")
            displayed = _displayed_size(frame)
            refit = sizes is not None and sizes.differs(*displayed, f"frame {index}")
            if end is not None and time >= end:
                break
            if start is not None and time < start:
                continue
            if index % every or (keep is not None and not keep(index)):
                continue
            rgb = _to_rgb(frame, resize(*displayed) if resize else None, _rgb_format(frame, deep))
            rgb, plate = split_plate(sizes.fit(rgb) if refit else rgb)
            yield Frame(index=index, time=time, pts=frame.pts, rgb=rgb, plate=plate)
    finally:
        container.close()


def _numbered_frames(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: Path, seek: tuple[int, int] | None
) -> Iterator[tuple[int, float, av.VideoFrame]]:
    """Every frame iter_frames decodes, as (index, time in seconds, frame): numbered from the clip's start, or from
    `seek`'s index at its pts (the frames decoded from the keyframe before it are dropped). A decode error part-way
    through ends them with a warning, decoding that ends well before the announced length warns
    (_warn_if_cut_short), and a clip where no frame decodes raises VidganError."""
    frame_period = 1 / float(_stream_fps(stream))
    index, frame_end = -1, 0.0
    if seek is not None:
        container.seek(seek[0], stream=stream, backward=True, any_frame=False)
        index = seek[1] - 1
    decoded = _progressive(container.decode(stream), stream, path)
    while True:
        try:
            frame = next(decoded)
        except StopIteration:
            if index >= 0:
                _warn_if_cut_short(path, container, stream, index + 1, frame_end)
            break
        except av.error.FFmpegError as exc:
            if index < 0:
                raise VidganError(f"{path}: no video frames could be decoded ({ffmpeg_reason(exc)})") from exc
            warn(f"{path}: decoding stopped at frame {index + 1} ({ffmpeg_reason(exc)}); keeping the frames before it")
            break
        if seek is not None and frame.pts is not None and frame.pts < seek[0]:
            continue
        index += 1
        time = frame.time if frame.time is not None else index * frame_period
        frame_end = time + frame_period
        yield index, time, frame
    if index < 0:
        raise VidganError(f"{path}: no video frames could be decoded")


def _progressive(
    frames: Iterator[av.VideoFrame], stream: av.video.stream.VideoStream, path: Path
) -> Iterator[av.VideoFrame]:
    """The decoded frames, deinterlaced with bwdif when the stream is interlaced (one warning says so).

    Deinterlacing is always done rather than offered: scaled or translated as one picture, the two fields of a
    frame blend into combs that no later step can undo, and bwdif leaves frames flagged progressive untouched.
    """
    first = next(frames, None)
    if first is None:
        return
    if not is_interlaced(stream, first):
        yield first
        yield from frames
        return
    warn(f"{path}: interlaced video; deinterlaced on decode with FFmpeg's bwdif (one frame per frame, timing kept)")
    deinterlacer = Deinterlacer()
    for frame in itertools.chain((first,), frames):
        yield from deinterlacer.push(frame)
    yield from deinterlacer.flush()


def _default_pix_fmt(width: int, height: int) -> str:
    # 4:2:0 subsampling halves both dimensions, so libx264 rejects odd sizes; 4:4:4 has no such limit
    # (at the cost of the High 4:4:4 profile, which some hardware players cannot play).
    return "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"


def _add_video_stream(
    container: av.container.OutputContainer,
    *,
    codec: VideoCodec,
    width: int,
    height: int,
    fps: Fraction,
    time_base: Fraction,
    crf: int,
    pix_fmt: str | None,
    tags: PictureTags,
) -> tuple[av.video.stream.VideoStream, ColourTags]:
    """The video stream, declaring `tags` (its colour as ColourTags.for_output makes it for this codec), and the
    colour tags frames are to be encoded with (encode_frame)."""
    stream = container.add_stream(codec.encoder, rate=fps)
    stream.width = width
    stream.height = height
    stream.pix_fmt = pix_fmt or codec.pix_fmt or _default_pix_fmt(width, height)
    # The same time base on stream and encoder keeps the caller's pts exact (no rounding to 1/fps).
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    stream.options = dict(codec.options) | ({"crf": str(crf)} if codec.takes_crf else {})
    rgb = av.VideoFormat(stream.pix_fmt).is_rgb
    colour = tags.colour.for_output(width, height, rgb_output=rgb, full_range_allowed=codec.full_range)
    tag_encoder(stream.codec_context, colour)
    stream.codec_context.sample_aspect_ratio = tags.sample_aspect
    if tags.hdr is not None and colour.is_hdr and codec.hdr_option is not None:
        stream.options = stream.options | {codec.hdr_option: tags.hdr.x264_params()}
    return stream, colour


def muxer_options(path: Path, time_base: Fraction) -> dict[str, str]:
    """Options of the muxer writing `path` with video in `time_base`. A QuickTime/MP4 file records the start of a
    stream that does not begin at 0 (a frame range) in an edit list, kept by default in milliseconds, which rounds
    29.97 fps timestamps; in the video's own time scale they stay exact."""
    if path.suffix.lower() in (".mov", ".mp4", ".m4v"):
        return {"movie_timescale": str(time_base.denominator)}
    return {}


# What starting a writer raises when FFmpeg refuses the codec, the container or a track.
_START_ERRORS = (VidganError, UnknownCodecError, av.error.FFmpegError, ValueError, TypeError)


class VideoWriter:
    """Encodes RGB frames to a video file; writes to a temporary name in the same folder and renames into place on close().

    `codec` is a VIDEO_CODECS name: h264 (yuv420p, yuv444p when width or height is odd; quality `crf`),
    prores (422 HQ, 10-bit), prores4444 (10-bit 4:4:4 with alpha) or ffv1 (lossless RGB). Pass each input frame's
    pts with the input's time_base to keep its timestamps (variable frame rate, 29.97). `audio_from` carries every
    audio and subtitle track of that file (vidgan.io.tracks: copied, or converted to what the container takes, with
    language and title), those of its packets within `audio_span` (seconds, vidgan.io.tracks); tracks never fail
    the video: what cannot be written is left out with a warning. `tags`
    (the source's) are declared: colour primaries, transfer, matrix and range (frames are converted to Y'CbCr with
    the matrix and range declared), sample aspect ratio and start timecode.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        width: int,
        height: int,
        fps: Fraction,
        time_base: Fraction | None = None,
        codec: str = "h264",
        crf: int = 18,
        audio_from: str | Path | None = None,
        audio_span: tuple[float | None, float | None] = (None, None),
        pix_fmt: str | None = None,
        tags: PictureTags | None = None,
    ) -> None:
        self.path = Path(path)
        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        if self.path.is_dir():
            raise VidganError(f"{self.path}: is a folder, expected a video file name")
        self.width = width
        self.height = height
        self.fps = Fraction(fps)
        self.time_base = Fraction(time_base) if time_base else 1 / self.fps
        self._frames = 0
        self._last_pts: int | None = None
        # Kept as an exact fraction so frames written without pts do not drift when 1/fps is not a whole tick.
        self._next_pts = Fraction(0)
        self._step = 1 / (self.fps * self.time_base)
        self._done = False
        self._tracks: SourceTracks | None = None
        self._audio_span = audio_span

        # Through a symbolic link (shot_latest.mp4 -> shot_v003.mp4) the target is replaced and the link stays.
        self._target = through_links(self.path)
        try:
            self._target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VidganError(f"{self.path}: cannot create its folder ({ffmpeg_reason(exc)})") from exc
        if codec not in VIDEO_CODECS:
            raise VidganError(f"{self.path}: unknown video codec {codec!r} (choose from {', '.join(VIDEO_CODECS)})")
        self.codec = VIDEO_CODECS[codec]
        self._temp = temp_path_for(self._target)
        self.tags = tags or PictureTags()
        video = {"codec": VIDEO_CODECS[codec], "width": width, "height": height, "fps": self.fps,
                 "time_base": self.time_base, "crf": crf, "pix_fmt": pix_fmt, "tags": self.tags}
        self._start_with_tracks(video, codec, audio_from)
        self._warn_of_what_is_left_out(codec, audio_from)

    def _start_with_tracks(self, video: dict, codec: str, audio_from: str | Path | None) -> None:
        """`_start` with the tracks of `audio_from`, or, when FFmpeg refuses them, without (with a warning);
        VidganError naming `codec` when the video alone cannot start either."""
        try:
            self._start(video, audio_from)
        except _START_ERRORS as exc:
            if audio_from is None:
                raise self._start_error(codec, exc) from exc
            try:  # perhaps the tracks were the trouble: the video alone is still worth writing
                self._start(video, None)
            except _START_ERRORS as bare:
                raise self._start_error(codec, bare) from bare
            warn(f"{self.path}: the audio and subtitle tracks of {audio_from} cannot be written into it"
                 f" ({ffmpeg_reason(exc)}); writing the video without them")

    def _warn_of_what_is_left_out(self, codec: str, audio_from: str | Path | None) -> None:
        """One warning each for the source's tracks, HDR10 metadata and sample aspect ratio that the output
        cannot carry."""
        if self._tracks is not None and self._tracks.summary:
            warn(f"{self.path}: from {audio_from}: {self._tracks.summary}")
        if self.tags.hdr is not None and self._colour.is_hdr and self.codec.hdr_option is None:
            warn(f"{self.path}: {codec} cannot carry the source's HDR10 mastering-display and content-light-level"
                 " metadata here; the output declares its HDR transfer without them (render to h264 to keep them)")
        if self.tags.sample_aspect != 1 and not VIDEO_CODECS[codec].keeps_aspect:
            aspect = self.tags.sample_aspect
            warn(f"{self.path}: {codec} in this container cannot record the source's sample aspect ratio"
                 f" {aspect.numerator}:{aspect.denominator}; players show its pixels square (render to .mp4 or .mov"
                 " to keep it)")

    def _start(self, video: dict, tracks_from: str | Path | None) -> None:
        """Open the temporary file, add the video stream and the source's tracks, and write the header.

        Writing the header here, before any frame, means a container that refuses a track fails now, while the
        writer can still start again without it. On failure nothing is left open and the temporary file is gone.
        """
        try:
            self._out = av.open(str(self._temp), "w", options=muxer_options(self._target, self.time_base))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self._temp.unlink(missing_ok=True)
            raise VidganError(f"{self.path}: cannot write a video here ({ffmpeg_reason(exc)})") from exc
        try:
            if self.tags.timecode is not None:
                self._out.metadata["timecode"] = self.tags.timecode  # mov/mp4: a tmcd track; Matroska: a tag
            self._video, self._colour = _add_video_stream(self._out, **video)
            if tracks_from is not None:
                self._tracks = SourceTracks(_open_input(Path(tracks_from)), self._out, self.path, self._audio_span)
            self._out.start_encoding()
        except BaseException:
            self._discard()
            raise

    def _start_error(self, codec: str, exc: BaseException) -> VidganError:
        if isinstance(exc, VidganError):
            return exc
        if isinstance(exc, UnknownCodecError):
            return VidganError(f"{self.path}: this FFmpeg build has no {VIDEO_CODECS[codec].encoder} encoder")
        return VidganError(f"{self.path}: cannot encode with {codec} ({ffmpeg_reason(exc)})")

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Encode one H×W×3 RGB or H×W×4 RGBA frame, uint8 or uint16; pts is in time_base, None means one frame
        after the previous."""
        if self._done:
            raise RuntimeError(f"{self.path}: writer is already closed")
        layout_ok = rgb.dtype in (np.uint8, np.uint16) and rgb.shape[2:] in ((3,), (4,))
        if rgb.shape[:2] != (self.height, self.width) or not layout_ok:
            raise ValueError(
                f"expected a {self.height}x{self.width}x3 (or x4) uint8 or uint16 frame, got {rgb.shape} {rgb.dtype}"
            )
        if pts is None:
            pts = round(self._next_pts)
        else:
            self._next_pts = Fraction(pts)
        if self._last_pts is not None and pts <= self._last_pts:
            # Encoders reject repeated or backward timestamps (seen in damaged inputs); nudge forward instead.
            pts = self._last_pts + 1
        frame = encode_frame(rgb, self._video.pix_fmt, self._colour)
        frame.pts = pts
        frame.time_base = self.time_base
        try:
            for packet in self._video.encode(frame):
                self._out.mux(packet)
        except av.error.FFmpegError as exc:
            self.abort()
            raise VidganError(f"{self.path}: encoding failed ({ffmpeg_reason(exc)})") from exc
        self._last_pts = pts
        self._next_pts += self._step
        self._frames += 1
        if self._tracks is not None:
            self._tracks.mux_until(float(pts * self.time_base))

    def write_frame(self, frame: Frame, picture: np.ndarray, alpha: np.ndarray | None = None) -> None:
        """Encode `picture` (H×W×3 uint8, or float32 display-referred for a frame with a Plate) at the timestamp of
        the source `frame` (a FrameWriter, vidgan.render.formats): at 16 bits where the codec holds more than 8 (the
        untouched pixels of a 10-bit source keep their 10 bits), with `alpha` (H×W float32 in [0, 1]) or else
        the frame's own where the codec stores alpha."""
        deep = self.codec.bits > 8 and (picture.dtype != np.uint8 or frame.plate is not None)
        sample = np.uint16 if deep else np.uint8
        pixels = at_depth(picture, sample)
        if self.codec.alpha:
            if alpha is None and frame.plate is not None and frame.plate.alpha is not None:
                alpha = frame.plate.alpha
            opaque = np.ones(picture.shape[:2], np.float32)
            pixels = np.dstack([pixels, at_depth(opaque if alpha is None else alpha, sample)])
        self.write(pixels, frame.pts)

    def existing(self, frame: Frame) -> None:
        """A video keeps no frames of an earlier render: it is written whole or not at all."""
        return None

    def written(self) -> list[Path]:
        """The finished file, once closed (until then nothing is under the final name)."""
        return [self.path] if self._done and self.path.exists() else []

    def close(self) -> None:
        """Flush the encoder, copy the rest of the tracks, and move the finished file to its final name."""
        if self._done:
            return
        if self._frames == 0:
            self.abort()
            raise VidganError(f"{self.path}: no frames were written")
        try:
            for packet in self._video.encode():
                self._out.mux(packet)
            if self._tracks is not None:
                self._tracks.mux_until(None)
                self._tracks.close()
            self._out.close()
            os.replace(self._temp, self._target)
        except (av.error.FFmpegError, OSError) as exc:
            self.abort()
            raise VidganError(f"{self.path}: could not finish writing ({ffmpeg_reason(exc)})") from exc
        self._done = True

    def abort(self) -> None:
        """Stop writing and delete the temporary file; an existing file at the final path is left untouched."""
        if self._done:
            return
        self._done = True
        self._discard()

    def _discard(self) -> None:
        """Close the source tracks and the output, and delete the temporary file."""
        if self._tracks is not None:
            self._tracks.close()
            self._tracks = None
        try:
            self._out.close()
        except (av.error.FFmpegError, OSError, AttributeError):
            pass  # the output is being thrown away; a half-written trailer does not matter
        self._temp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _test_pattern(i: int, *, width: int, height: int, n_frames: int) -> np.ndarray:
    """A colour gradient with a white rectangle sliding left to right over the clip."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = x.astype(np.uint8)
    rgb[..., 1] = y.astype(np.uint8)
    rgb[..., 2] = (255 * i / max(1, n_frames - 1))
    box_w, box_h = max(1, width // 6), max(1, height // 3)
    left = (width - box_w) * i // max(1, n_frames - 1)
    top = (height - box_h) // 2
    rgb[top : top + box_h, left : left + box_w] = 255
    return rgb


def write_test_clip(
    path: str | Path,
    *,
    width: int,
    height: int,
    fps: Fraction,
    n_frames: int,
    audio: bool = False,
    draw: Callable[[int], np.ndarray] | None = None,
) -> Path:
    """Write a synthetic clip (moving pattern, or `draw(i)` frames) with an optional 440 Hz AAC track of equal length."""
    path = Path(path)
    fps = Fraction(fps)
    time_base = 1 / fps
    sample_rate = 44100
    with av.open(str(path), "w") as out:
        video, colour = _add_video_stream(
            out, codec=VIDEO_CODECS["h264"], width=width, height=height, fps=fps, time_base=time_base, crf=18,
            pix_fmt=None, tags=PictureTags(),
        )
        sound = out.add_stream("aac", rate=sample_rate, layout="mono") if audio else None
        total_samples = round(n_frames / fps * sample_rate)
        samples_done = 0
        for i in range(n_frames):
            rgb = draw(i) if draw else _test_pattern(i, width=width, height=height, n_frames=n_frames)
            frame = encode_frame(np.asarray(rgb, dtype=np.uint8), video.pix_fmt, colour)
            frame.pts = i
            frame.time_base = time_base
            out.mux(video.encode(frame))
            if sound is not None:
                # Keep the audio in step with the video so the muxer interleaves without buffering the clip.
                samples_done = _encode_sine(out, sound, samples_done, round((i + 1) / fps * sample_rate))
        out.mux(video.encode())
        if sound is not None:
            _encode_sine(out, sound, samples_done, total_samples)
            out.mux(sound.encode())
    return path


def _encode_sine(
    out: av.container.OutputContainer, sound: av.audio.stream.AudioStream, first: int, stop: int
) -> int:
    """Encode samples first..stop of a 440 Hz tone in 1024-sample frames; returns how far it got."""
    rate = sound.codec_context.sample_rate
    while first < stop:
        n = min(1024, stop - first)
        t = np.arange(first, first + n) / rate
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = first
        frame.time_base = Fraction(1, rate)
        out.mux(sound.encode(frame))
        first += n
    return first
