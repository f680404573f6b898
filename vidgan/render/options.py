"""The options of `vidgan render` and `vidgan translate`: one frozen dataclass per job, with its defaults and checks.

No torch here, so the command line imports these (and the choices below) when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vidgan.core.directions import A2B, DIRECTION_NAMES, DIRECTIONS, Direction
from vidgan.core.errors import UsageError
from vidgan.core.options import AT_LEAST_1, NOT_NEGATIVE, POSITIVE, UNIT, Bounds, check_fields, option
from vidgan.io.ranges import FrameRange
from vidgan.models.reference_archs import REFERENCE_ARCHS
from vidgan.render.boxes import Box
from vidgan.render.detail import check_detail
from vidgan.render.formats import output_format

# How a frame meets the generator (vidgan.render.framing.Fit): short side to the training size, squashed to the
# square, the centre square only, or the full resolution.
FITS = ("short-side", "stretch", "crop", "native")
BOTH = "both"
# Who runs the generator (vidgan.render.runtimes): auto is torch on CUDA and on the CPU the fastest ONNX runtime
# installed. The default for render, translate and eval is torch: see DEFAULT_RUNTIME.
RUNTIMES = ("auto", "torch", "onnxruntime", "openvino")
DEFAULT_RUNTIME = "torch"
# The arithmetic of the ONNX runtimes: float32, or int8 after post-training quantisation (vidgan.render.quantise),
# which the ONNX runtimes alone run; torch's lever is --half (CUDA).
PRECISIONS = ("fp32", "int8")
INT8_RUNTIMES = ("onnxruntime", "openvino")
# Training frames an int8 quantisation is calibrated on: a few dozen, as ONNX Runtime's calibrator holds every
# intermediate tensor of every frame in memory.
DEFAULT_CALIBRATION_FRAMES = 32
RENDER_DIRECTIONS = (*DIRECTION_NAMES, BOTH)  # what `render --direction` takes
# What the alpha channel of an output that holds one carries: the source's own (opaque where it has none), or the
# change matte (vidgan.render.detail), for keying the translation over the plate in a compositing application.
ALPHAS = ("source", "matte")


def render_directions(choice: str) -> tuple[Direction, ...]:
    """The directions a `render --direction` value names: "both" is a2b and b2a, else the one direction."""
    return DIRECTIONS if choice == BOTH else (Direction.parse(choice),)


def parse_segments(text: str) -> int | None:
    """`render --segments`: "auto" (None) or a whole number of segments per clip, 1 or more."""
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"--segments must be auto or a whole number of segments, 1 or more, got {text!r}")
    return int(text)


def parse_segment(text: str) -> tuple[int, int]:
    """`render --segment K/N`: part K (1 … N) of N."""
    number, _, count = text.partition("/")
    if not (number.isdigit() and count.isdigit() and 1 <= int(number) <= int(count)):
        raise UsageError(f"--segment must be K/N, part K of N with 1 <= K <= N (as 2/8), got {text!r}")
    return int(number), int(count)


def check_precision(precision: str, runtime: str) -> None:
    """UsageError (one line) for --precision int8 with --runtime torch: int8 runs on INT8_RUNTIMES (or auto)."""
    if precision == "int8" and runtime == "torch":
        raise UsageError(
            f"--precision int8 runs on the ONNX runtimes: give --runtime {' or '.join(INT8_RUNTIMES)} (or auto); "
            "torch's lever is --half (CUDA)"
        )


def _check_direction(direction: object) -> None:
    if not isinstance(direction, Direction):
        raise UsageError(f"--direction must be {' or '.join(DIRECTION_NAMES)}, got {direction!r}")


def _as_path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


@dataclass(frozen=True)
class RenderOptions:
    """How `vidgan render` (vidgan.render.video.render_video) translates clips; paths may be given as strings."""

    out: Path | None = None  # the output of one input: .mp4, .mov, .mkv, or a folder for an image sequence
    out_dir: Path | None = None  # folder for the outputs of several inputs; default: beside each input
    directions: tuple[Direction, ...] = (A2B,)  # one output per direction
    arch: str | None = None  # one of REFERENCE_ARCHS: the model source is a reference CycleGAN state dict
    # A name in vidgan.render.formats' table (registered formats too); default: from out's suffix, else h264
    # (sequences: their own format).
    codec: str | None = None
    crf: int = option(18, bounds=Bounds(0, 51))  # H.264 quality: 0 lossless … 51 worst
    fit: str = "short-side"  # one of FITS
    scale: int | None = None  # working scale in px (the side the fit scales to); default the run's (else its training size)
    detail: str = "source"  # one of vidgan.render.detail.DETAILS: keep the source's pixels outside the change matte, or not
    matte: bool = False  # also write each output's change matte: a 16-bit grey PNG sequence OUTPUT_matte/
    alpha: str = "source"  # one of ALPHAS: the alpha channel of prores4444 and image-sequence outputs
    tile: int | None = None  # tile side in px for the generator (0: never tile); default: tiles only where memory is short
    roi: Box | None = None  # translate only this box (source pixels) …
    roi_track: Path | None = None  # … or a box per frame from a CSV of frame,x,y,w,h
    feather: int = option(16, bounds=NOT_NEGATIVE)  # width in pixels of the region's soft edge
    fps: Fraction = Fraction(25)  # frame rate of image-sequence inputs
    colorspace: str = "auto"  # of image-sequence inputs' values (vidgan.io.colorspaces; auto: linear for OpenEXR)
    temporal_smooth: float = option(0.0, bounds=UNIT)  # 0..1: blend in the previous output moved by the source's flow (0 = off)
    warp_error_every: int = option(10, bounds=NOT_NEGATIVE)  # measure the warp error on every Nth pair of frames (0 = off)
    compare: bool = False  # also write a labelled side-by-side (source | result) per output
    audio: bool = True  # carry the input video's audio and subtitle tracks
    overwrite: bool = False  # replace existing outputs
    resume: bool = False  # continue an interrupted image-sequence render
    # Time segments per clip, rendered by separate processes and joined (vidgan.render.segments); None: auto, one
    # per torchrun process when there are fewer inputs than processes, else whole clips.
    segments: int | None = option(None, bounds=AT_LEAST_1)
    # Only frames A-B (vidgan.io.ranges: a video's from 0, a sequence's by file number; both included) …
    frames: FrameRange | None = None
    start: float | None = option(None, bounds=NOT_NEGATIVE)  # … or from this time (seconds) …
    end: float | None = option(None, bounds=POSITIVE)  # … to before this one
    # Render only part K of N (1-based) of the one input's segments, into the folder `parts`, as a task of a render
    # farm (vidgan.render.farm); `vidgan join` then makes the output.
    segment: tuple[int, int] | None = None
    parts: Path | None = None
    batch_size: int | None = option(None, bounds=AT_LEAST_1)  # frames per batch; default vidgan.render.translator.default_batch_size
    half: bool = False  # half-precision inference (CUDA only)
    runtime: str = DEFAULT_RUNTIME  # one of RUNTIMES
    precision: str = option("fp32", choices=PRECISIONS)  # int8: the ONNX runtimes run a quantised export
    calibration_frames: int = option(DEFAULT_CALIBRATION_FRAMES, bounds=AT_LEAST_1)  # training frames int8 is calibrated on
    device: str = "auto"
    quiet: bool = False

    def __post_init__(self) -> None:
        for name in ("out", "out_dir", "roi_track", "parts"):
            object.__setattr__(self, name, _as_path(getattr(self, name)))

    def validate(self) -> None:
        """Raises UsageError naming the first option that cannot work, before any input is read: numbers outside
        their field's bounds (NaN and infinities too), then choices and combinations."""
        check_fields(self)
        if not self.directions or len(set(self.directions)) < len(self.directions):
            raise UsageError(f"give each direction once: {' or '.join(RENDER_DIRECTIONS)}")
        for direction in self.directions:
            _check_direction(direction)
        if self.arch is not None:
            if self.arch not in REFERENCE_ARCHS:
                raise UsageError(f"--arch must be one of {', '.join(REFERENCE_ARCHS)}, got {self.arch!r}")
            if len(self.directions) > 1:
                raise UsageError("--arch: a reference checkpoint holds one generator; --direction both needs a vidgan run")
        if self.codec is not None:
            output_format(self.codec)  # UsageError naming the formats in the table
        if self.fit not in FITS:
            raise UsageError(f"--fit must be one of {', '.join(FITS)}, got {self.fit!r}")
        if self.alpha not in ALPHAS:
            raise UsageError(f"--alpha must be one of {', '.join(ALPHAS)}, got {self.alpha!r}")
        self._validate_region()
        self._validate_scale()
        if not self.fps > 0:
            raise UsageError(f"--fps must be positive, got {self.fps}")
        if self.overwrite and self.resume:
            raise UsageError("give --overwrite or --resume, not both")
        self._validate_range()

    def _validate_range(self) -> None:
        if self.frames is not None and (self.start is not None or self.end is not None):
            raise UsageError("give --frames or --start/--end, not both")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise UsageError(f"--start ({self.start:g}) must be before --end ({self.end:g})")
        if (self.segment is None) != (self.parts is None):
            raise UsageError("--segment K/N and --parts DIR go together: part K of N is rendered into DIR")
        if self.segment is not None and self.segments not in (None, self.segment[1]):
            raise UsageError(f"--segment {self.segment[0]}/{self.segment[1]} cuts the clip into {self.segment[1]}; leave out --segments")
        if self.segment is not None and self.resume:
            raise UsageError("--segment: a part is rendered whole or again; leave out --resume")

    def _validate_scale(self) -> None:
        check_detail(self.detail)
        if self.scale is not None and self.scale < 1:
            raise UsageError(f"--scale must be a positive number of pixels, got {self.scale}")
        if self.scale is not None and self.fit == "native":
            raise UsageError("--fit native runs the generator at the frame's own size; leave out --scale")
        if self.tile is not None and self.tile < 0:
            raise UsageError(f"--tile must be 0 (no tiles) or a positive multiple of the generator's stride, got {self.tile}")
        if self.runtime not in RUNTIMES:
            raise UsageError(f"--runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")
        check_precision(self.precision, self.runtime)
        if self.precision == "int8" and (self.half or (self.tile or 0) > 0):
            raise UsageError(f"--precision int8 runs the whole frame on an ONNX runtime: leave out {'--half' if self.half else '--tile'}")

    def _validate_region(self) -> None:
        if self.roi is not None and self.roi_track is not None:
            raise UsageError("give --roi or --roi-track, not both")
        if self.roi is not None and (self.roi.width < 1 or self.roi.height < 1):
            raise UsageError(f"--roi width and height must be positive, got {self.roi.width}x{self.roi.height}")

    @property
    def direction_label(self) -> str:
        """How progress bars name the directions rendered: "a2b", "b2a" or "both"."""
        return BOTH if len(self.directions) > 1 else self.directions[0].name


@dataclass(frozen=True)
class TranslateOptions:
    """How `vidgan translate` (vidgan.render.translate.translate_folder) writes a folder of translated images."""

    out: Path  # folder for the results: OUT/<name>.png per input (not the input folder)
    direction: Direction = A2B
    overwrite: bool = False  # replace existing output files
    runtime: str = option(DEFAULT_RUNTIME, choices=RUNTIMES)  # who runs the generator (vidgan.render.runtimes)
    precision: str = option("fp32", choices=PRECISIONS)  # int8: the ONNX runtimes run a quantised export
    calibration_frames: int = option(DEFAULT_CALIBRATION_FRAMES, bounds=AT_LEAST_1)  # training frames int8 is calibrated on
    device: str = "auto"
    quiet: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))

    def validate(self) -> None:
        """Raises UsageError for a direction that is not a Direction (a2b or b2a), a runtime or precision not among
        the choices, a calibration count below 1, or int8 with --runtime torch."""
        _check_direction(self.direction)
        check_fields(self)
        check_precision(self.precision, self.runtime)
