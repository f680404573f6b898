"""The options of `vidgan render` and `vidgan translate`: one frozen dataclass per job, with its defaults and checks.

No torch here, so the command line imports these (and the choices below) when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vidgan.core.directions import A2B, DIRECTION_NAMES, DIRECTIONS, Direction
from vidgan.core.errors import UsageError
from vidgan.core.options import AT_LEAST_1, NEGATED, NOT_NEGATIVE, POSITIVE, UNIT, Bounds, Spelling, check_fields, option
from vidgan.io.images import IMAGE_SUFFIXES
from vidgan.io.ranges import FrameRange, parse_frames
from vidgan.io.sequences import parse_fps
from vidgan.models.reference_archs import REFERENCE_ARCHS
from vidgan.render.boxes import Box, parse_box
from vidgan.render.detail import DETAILS, check_detail
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


def directions_label(directions: tuple[Direction, ...]) -> str:
    """How `render --direction` and progress bars name directions: "a2b", "b2a" or "both"."""
    return BOTH if len(directions) > 1 else directions[0].name


def _segments_label(segments: int | None) -> str:
    return "auto" if segments is None else str(segments)


DEVICE_HELP = "auto (CUDA when present), cpu or cuda."
RUNTIME_HELP = (
    "Who runs the generator: torch; onnxruntime or openvino (CPU, an ONNX export cached in the run folder, about 2x "
    "torch); auto: torch on CUDA, the fastest installed ONNX runtime on the CPU."
)
QUIET = {"help": "No progress bars.", "flags": ("--quiet", "-q")}
PRECISION_HELP = (
    "fp32, or int8: the ONNX runtimes run the export quantised after training, calibrated on the run's training "
    "frames and cached beside it (not --runtime torch; torch's lever is --half)."
)
CALIBRATION_HELP = "Training frames an int8 quantisation is calibrated on (evenly spaced, at the working scale)."


@dataclass(frozen=True)
class RenderOptions:
    """How `vidgan render` (vidgan.render.video.render_video) translates clips; paths may be given as strings."""

    out: Path | None = option(
        None,
        "Output for one input: .mp4, .mov, .mkv, or a folder for an image sequence (default: INPUT_<direction>.mp4 beside it).",
    )
    out_dir: Path | None = option(None, "Folder for the outputs of several inputs (STEM_<direction>).")
    directions: tuple[Direction, ...] = option(
        (A2B,),
        "a2b, b2a, or both (one output each).",
        flags=("--direction",),
        spelling=Spelling(render_directions, directions_label, choices=RENDER_DIRECTIONS),
    )
    arch: str | None = option(
        None, "Architecture of a reference CycleGAN --checkpoint (latest_net_G_A.pth).", choices=REFERENCE_ARCHS
    )
    codec: str | None = option(
        None,
        "h264 (.mp4), prores (422 HQ 10-bit, .mov), prores4444 (10-bit with alpha, .mov), ffv1 (lossless, .mkv); "
        "image sequences in a folder: png (8 or 16-bit), tiff (8, 16 or 32-bit float), exr (half or float, linear), "
        "dpx (8, 10, 12 or 16-bit, the source's transfer). "
        "Default: from --out, else h264 for videos and a sequence's own format (exr, tiff, dpx for DPX and Cineon, "
        "else png) for sequences. "
        "Formats registered with vidgan.render.formats.register_format are named here too.",
        metavar="CODEC",  # a plain name, checked against the format table, which a plug-in may have added to
    )
    crf: int = option(18, "H.264 quality: 0 lossless … 51 worst.", bounds=Bounds(0, 51))
    fit: str = option(
        "short-side",
        "short-side: short side to the training size; stretch: squash to the square; crop: centre square only; "
        "native: full resolution. Fits and scales work on stored pixels: a clip with non-square pixels (a DVD's "
        "32:27) is translated as stored, and the output declares the source's sample aspect ratio.",
        choices=FITS,
    )
    scale: int | None = option(
        None,
        "Working scale: the generator runs on frames scaled so their short side is S stored px (stretch, crop: "
        "an S x S square). Default: the run's recorded working scale, else its training size.",
    )
    detail: str = option(
        "source",
        "source: the full-resolution source everywhere the translation leaves it alone, the translation "
        "composited in through a soft change matte (with the source's fine detail where it keeps the structure); "
        "model: the translation scaled up everywhere.",
        choices=DETAILS,
    )
    matte: bool = option(False, "Also write each output's change matte: 16-bit grey PNGs in OUTPUT_matte/.", flags=("--matte",))
    alpha: str = option(
        "source",
        "What the alpha channel of prores4444 and image-sequence outputs carries: source (the source's own "
        "alpha, passed through; where it has none, a sequence gets none and prores4444 an opaque one) or matte "
        "(the change matte, to key the translation over the plate; `--matte alpha` says the same).",
        choices=ALPHAS,
        aliases={("--matte", "alpha"): ("--alpha", "matte")},
    )
    tile: int | None = option(
        None,
        "Run the generator on overlapping N-px tiles (a multiple of its stride; 0: never). "
        "Default: tiles only where a frame would not fit in memory.",
    )
    roi: Box | None = option(
        None,
        "Translate only this box X,Y,W,H (source pixels); the rest stays untouched.",
        spelling=Spelling(parse_box),
        metavar="X,Y,W,H",
    )
    roi_track: Path | None = option(None, "CSV of frame,x,y,w,h: a box that moves with the subject.")
    feather: int = option(16, "Width in pixels of the soft edge inside the region.", bounds=NOT_NEGATIVE)
    fps: Fraction = option(
        Fraction(25), "Frame rate of image-sequence inputs (25, 29.97, 30000/1001).", spelling=Spelling(parse_fps)
    )
    colorspace: str = option(
        "auto",
        "Colour space of image-sequence inputs, converted to display sRGB for the generator and back for the "
        "output: auto (what the files declare: linear for OpenEXR, cineon for DPX in printing density and Cineon "
        "files, srgb otherwise), linear (Rec.709 primaries), srgb, cineon (film log), or a colour space of "
        "OpenColorIO's built-in config (ACEScg, 'Linear Rec.2020', ...).",
    )
    layer: str | None = option(
        None,
        "The layer (diffuse for diffuse.R/G/B) or part of multi-layer OpenEXR inputs to translate; the other "
        "channels and parts are written to the output unchanged. Default: the plain R, G, B(, A) channels.",
    )
    temporal_smooth: float = option(
        0.0,
        "0..1: blend in the previous output, moved by the source's optical flow, against flicker (0 = off).",
        bounds=UNIT,
    )
    warp_error_every: int = option(
        10,
        "Measure the warp error on every Nth pair of frames (1 = all pairs, 0 = off); "
        "each measured pair costs two optical flows.",
        bounds=NOT_NEGATIVE,
    )
    compare: bool = option(False, "Also write a labelled side-by-side (source | result) beside each output.", flags=("--compare",))
    audio: bool = option(True, "Do not carry the input's audio and subtitle tracks.", flags=("--no-audio",), spelling=NEGATED)
    overwrite: bool = option(False, "Replace existing outputs.", flags=("--overwrite",))
    resume: bool = option(
        False, "Continue an interrupted image-sequence render (frames already there are kept).", flags=("--resume",)
    )
    # None: auto, one segment per torchrun process when there are fewer inputs than processes, else whole clips.
    segments: int | None = option(
        None,
        "Cut each clip into N time segments, rendered by separate torchrun processes and joined exactly "
        "(in one process: one after another); auto: one per process when there are fewer inputs than processes.",
        bounds=AT_LEAST_1,
        spelling=Spelling(parse_segments, _segments_label),
        metavar="auto|N",
    )
    # A frame range (vidgan.io.ranges), rendered like a segment: seeking to its first frame.
    frames: FrameRange | None = option(
        None,
        "Render only frames A-B, both included: a video's counted from 0 in presentation order, an image "
        "sequence's by its file numbers. The output keeps their numbers and timestamps, the audio cut to them.",
        spelling=Spelling(parse_frames),
        metavar="A-B",
    )
    start: float | None = option(None, "Render only the frames from this time on (seconds).", bounds=NOT_NEGATIVE)
    end: float | None = option(None, "Render only the frames before this time (seconds).", bounds=POSITIVE)
    # Part K of N (1-based) of the one input's segments, as a render farm's task (vidgan.render.farm).
    segment: tuple[int, int] | None = option(
        None,
        "Render only part K of N of the clip (as --segments N cuts it) into the folder --parts, as a render "
        "farm's task; `vidgan join PARTS` then writes the output. A part already rendered is skipped.",
        spelling=Spelling(parse_segment, lambda part: None if part is None else f"{part[0]}/{part[1]}"),
        metavar="K/N",
    )
    parts: Path | None = option(None, "Folder of the parts of --segment K/N (shared by every task).")
    # None: vidgan.render.translator.default_batch_size
    batch_size: int | None = option(None, "Frames per batch (default 4 on CPU, 16 on CUDA).", bounds=AT_LEAST_1)
    half: bool = option(False, "Half-precision inference (bf16, or fp16 where unsupported); CUDA only.", flags=("--half",))
    runtime: str = option(DEFAULT_RUNTIME, RUNTIME_HELP, choices=RUNTIMES)
    precision: str = option("fp32", PRECISION_HELP, choices=PRECISIONS)
    calibration_frames: int = option(DEFAULT_CALIBRATION_FRAMES, CALIBRATION_HELP, bounds=AT_LEAST_1)
    device: str = option("auto", DEVICE_HELP)
    quiet: bool = option(False, **QUIET)

    def __post_init__(self) -> None:
        for name in ("out", "out_dir", "roi_track", "parts"):
            object.__setattr__(self, name, _as_path(getattr(self, name)))

    def validate(self) -> None:
        """Raises UsageError naming the first option that cannot work, before any input is read: choices, numbers
        outside their field's bounds (NaN and infinities too), then combinations."""
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
        self._validate_scale()
        check_fields(self)
        self._validate_region()
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
        return directions_label(self.directions)


@dataclass(frozen=True)
class TranslateOptions:
    """How `vidgan translate` (vidgan.render.translate.translate_folder) writes a folder of translated images."""

    out: Path = option(help="Folder for the results (not the input folder).")
    direction: Direction = option(
        A2B, "a2b or b2a.", spelling=Spelling(Direction.parse, lambda direction: direction.name, choices=DIRECTION_NAMES)
    )
    overwrite: bool = option(False, "Replace existing output files.", flags=("--overwrite",))
    runtime: str = option(DEFAULT_RUNTIME, RUNTIME_HELP, choices=RUNTIMES)  # vidgan.render.runtimes
    precision: str = option("fp32", PRECISION_HELP, choices=PRECISIONS)
    calibration_frames: int = option(DEFAULT_CALIBRATION_FRAMES, CALIBRATION_HELP, bounds=AT_LEAST_1)
    device: str = option("auto", DEVICE_HELP)
    quiet: bool = option(False, **QUIET)

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))

    def validate(self) -> None:
        """Raises UsageError for a direction that is not a Direction (a2b or b2a), a runtime or precision not among
        the choices, a calibration count below 1, or int8 with --runtime torch."""
        _check_direction(self.direction)
        check_fields(self)
        check_precision(self.precision, self.runtime)


@dataclass(frozen=True)
class SampleOptions:
    """What `vidgan sample` (vidgan.render.sample.sample_images) draws from a dcgan, mlp-gan or vae run."""

    out: Path = option(Path("samples.png"), "Image file for the grid (e.g. grid.png).")
    count: int = option(64, "Number of images.", bounds=AT_LEAST_1, flags=("-n",))
    seed: int = option(0, "Seed of the random latents (same seed, same images).", bounds=NOT_NEGATIVE)
    interpolate: bool = option(False, "Rows of 8-step walks between random latents.", flags=("--interpolate",))
    device: str = option("auto", DEVICE_HELP)

    def validate(self) -> None:
        """Raises UsageError for a count or seed outside its bounds, or an --out that is no image file name."""
        check_fields(self)
        if Path(self.out).suffix.lower() not in IMAGE_SUFFIXES:
            raise UsageError(f"--out {self.out}: give an image file name ({', '.join(sorted(IMAGE_SUFFIXES))})")
