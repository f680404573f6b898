"""The `vidgan` command line: parses options, calls one pipeline function per command, reports the result."""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import Field, fields
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_type_hints

import typer
import typer.core

from vidgan.core.directions import DIRECTION_NAMES
from vidgan.core.errors import UsageError, VidganError, sigterm_as_interrupt
from vidgan.core.options import one_of
from vidgan.core.progress import console
from vidgan.eval.options import SAMPLES, ClassifierSettings, EvalOptions
from vidgan.models.reference_archs import REFERENCE_ARCHS
from vidgan.render.detail import DETAILS
from vidgan.render.export import EXPORT_FORMATS
from vidgan.render.options import (
    ALPHAS,
    FITS,
    OUTPUT_CODECS,
    RENDER_DIRECTIONS,
    RUNTIMES,
    RenderOptions,
    TranslateOptions,
    parse_segments,
    render_directions,
)
from vidgan.runs.kinds import DEFAULT_KIND, MODEL_KINDS, TWO_DOMAINS, ModelKind, kind_names
from vidgan.training.options import TrainOptions

if TYPE_CHECKING:
    from vidgan.training.loop import TrainResult

# Typer re-exports click's exception classes only through BadParameter's bases (it vendors click in newer
# releases), so take them from there rather than importing click, which may not be installed.
_ClickUsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

app = typer.Typer(
    help="GAN-based image and video translation: extract frames, train a CycleGAN, render footage; "
    "also DCGAN, MLP GAN and VAE image models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# Choices come from the library's own constants, so the CLI never restates them.
Direction = Enum("Direction", {name: name for name in DIRECTION_NAMES}, type=str)
Runtime = Enum("Runtime", {name: name for name in RUNTIMES}, type=str)


class Crop(str, Enum):
    center = "center"
    none = "none"


DeviceOption = Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
RuntimeOption = Annotated[
    Runtime,
    typer.Option(
        help="Who runs the generator: torch; onnxruntime or openvino (CPU, an ONNX export cached in the run "
        "folder, about 2x torch); auto: torch on CUDA, the fastest installed ONNX runtime on the CPU."
    ),
]


@app.command()
def extract(
    out: Annotated[Path, typer.Option(help="Output folder: OUT/a/*.png, OUT/b/*.png, OUT/manifest.json.")],
    a: Annotated[
        list[Path],
        typer.Option("--a", help="Clip for domain a: a video file or an image sequence (folder, or shot_%04d.png); repeat for several."),
    ],
    b: Annotated[list[Path], typer.Option("--b", help="Clip for domain b (repeat for several).")],
    every: Annotated[int, typer.Option(help="Keep frames 0, N, 2N, … of each clip (decode order).")] = 15,
    pair_gap: Annotated[
        int,
        typer.Option(
            help="Also keep each kept frame's frame N later in its clip and the optical flow between them, in "
            "OUT/a/pairs/ and OUT/b/pairs/, for `vidgan train --temporal-form frames` (0: off)."
        ),
    ] = 0,
    size: Annotated[int | None, typer.Option(help="Side of the square images written (default 128).")] = None,
    crop: Annotated[
        Crop | None, typer.Option(help="center: largest centred square (default); none: stretch.")
    ] = None,
    scale: Annotated[
        int | None,
        typer.Option(
            help="Write whole frames (aspect kept, no square crop) with their short side at S px, for "
            "`vidgan train --crop C`; replaces --size and --crop."
        ),
    ] = None,
    start: Annotated[float | None, typer.Option(help="Start time in seconds.")] = None,
    end: Annotated[float | None, typer.Option(help="End time in seconds.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the frames of an earlier extraction into OUT.")
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Take every Nth frame of the clips into two unpaired image domains."""
    from vidgan.io.extract import extract_frames

    options = dict(every=every, pair_gap=pair_gap, size=size, crop=_value(crop), scale=scale, start=start, end=end, overwrite=overwrite)
    result = extract_frames({"a": a, "b": b}, out, **options, quiet=quiet)
    paired = {domain: f" ({n} with pairs)" if pair_gap else "" for domain, n in result.pairs.items()}
    counts = ", ".join(f"{n} in {domain}/{paired[domain]}" for domain, n in result.counts.items())
    console.print(f"wrote {counts} under {result.out_dir}")


class TrainGroup(typer.core.TyperGroup):
    """`vidgan train MODEL …`, which also takes the forms older commands use: a first argument that is no model
    (a DATA folder, an option) trains a CycleGAN, `--model MODEL` names the model, and `--resume` continues a run."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _route_train(list(args), self.commands))


def _route_train(args: list[str], commands: dict[str, Any]) -> list[str]:
    """The arguments of `vidgan train` as one subcommand's: MODEL …, or `resume` … for --resume."""
    if not args or args[0] == "--help":
        return args
    model = args.pop(0) if args[0] in kind_names() else _take_model(args)
    if "--resume" in args:
        args.remove("--resume")
        return ["resume", *args, *(["--model", model] if model else [])]
    if model is None and args[0] in commands:
        return args
    return [model or DEFAULT_KIND, *args]


def _take_model(args: list[str]) -> str | None:
    """Remove `--model X` (or --model=X) from `args` and return X, checked."""
    for i, arg in enumerate(args):
        if arg == "--model" or arg.startswith("--model="):
            value = arg.partition("=")[2] or (args[i + 1] if i + 1 < len(args) else "")
            del args[i : i + (1 if "=" in arg else 2)]
            if value not in kind_names():
                raise UsageError(f"--model must be {one_of(kind_names())}, got {value!r}")
            return value
    return None


class TrainCommand(typer.core.TyperCommand):
    """A `vidgan train` subcommand; an option it lacks is refused naming the models that take it."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _ClickUsageError as error:
            if type(error).__name__ != "NoSuchOption":
                raise
            option = error.option_name
            if self.hidden:  # `resume`, which `vidgan train … --resume` runs
                takes = ", ".join(p.opts[0] for p in self.params if p.param_type_name == "option")
                raise UsageError(f"{option}: --resume continues a run with the options it started with; it takes {takes}") from None
            siblings = ctx.parent.command.commands if ctx.parent else {}
            users = [
                name
                for name, command in siblings.items()
                if not command.hidden and any(option in (*p.opts, *p.secondary_opts) for p in command.params)
            ]
            if not users:
                raise
            raise UsageError(f"{option} is an option of vidgan train {' / '.join(users)}, not of {self.name}") from None


train_app = typer.Typer(
    cls=TrainGroup,
    help="Train a model: `vidgan train cyclegan|dcgan|mlp-gan|vae DATA …` (each model's options: vidgan train MODEL "
    "--help). Without a model word, or with --model cyclegan, DATA is a folder with a/ and b/ for a CycleGAN. "
    "`vidgan train --out RUN --resume [--iters N]` continues a run from its newest checkpoint.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(train_app, name="train")


def _cli_type(name: str, hint: Any, choices: tuple) -> Any:
    """The type Typer parses a field as: an Enum of its choices for text fields, optional where the field is."""
    optional = type(None) in get_args(hint)
    kind = next(t for t in get_args(hint) if t is not type(None)) if optional else hint
    if choices and kind is str:
        kind = Enum(name.title().replace("_", ""), {choice: choice for choice in choices}, type=str)
    return kind | None if optional else kind


def _field_parameter(f: Field, hint: Any) -> inspect.Parameter:
    """One field of an options dataclass as a parameter of a Typer command: its flag, type, default and help."""
    cli_type = _cli_type(f.name, hint, f.metadata["choices"])
    default = f.default
    enum = next((t for t in get_args(cli_type) or (cli_type,) if isinstance(t, type) and issubclass(t, Enum)), None)
    if enum is not None and default is not None:
        default = enum(default)
    info = typer.Option(*f.metadata["flags"], help=f.metadata["help"])
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[cli_type, info])


def _input_parameters(kind: ModelKind) -> list[inspect.Parameter]:
    """What a train command takes besides its options' flags: the image folder, or two domains' (and --no-cycle
    where the options have a cycle weight)."""

    def parameter(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)

    if kind.data != TWO_DOMAINS:
        return [parameter("data", Annotated[Path, typer.Argument(metavar="DATA", help="Image folder to train on.", show_default=False)])]
    folder = Annotated[Path | None, typer.Argument(metavar="[DATA]", help="A folder with a/ and b/ (from vidgan extract).")]
    domains = [
        parameter("data", folder, None),
        parameter("a", Annotated[Path | None, typer.Option("--a", help="Image folder of domain a (instead of DATA).")], None),
        parameter("b", Annotated[Path | None, typer.Option("--b", help="Image folder of domain b (instead of DATA).")], None),
    ]
    if "cycle_weight" not in {f.name for f in fields(kind.options_type)}:
        return domains
    return [*domains, parameter("no_cycle", Annotated[bool, typer.Option("--no-cycle", help="Train without cycle-consistency.")], False)]


def _train_options(kind: ModelKind, values: dict[str, Any]) -> TrainOptions:
    """The options object a train command's parsed values describe."""
    values = {name: value.value if isinstance(value, Enum) else value for name, value in values.items()}
    if kind.data != TWO_DOMAINS:
        return kind.options_type(**values)
    from vidgan.training.launch import resolve_domains

    a_dir, b_dir = resolve_domains(values.pop("data"), values.pop("a"), values.pop("b"))
    if values.pop("no_cycle", False):
        values["cycle_weight"] = 0.0
    return kind.options_type(a_dir=a_dir, b_dir=b_dir, **values)


def _add_train_command(kind: ModelKind) -> None:
    """`vidgan train KIND`: the image folders, then a flag per field of the kind's options (--out first, then the
    model's own, then those of every job), each with the field's default, help and choices."""
    options_type = kind.options_type
    hints = get_type_hints(options_type)
    shared = {f.name for f in fields(TrainOptions)}
    flags = sorted(
        (f for f in fields(options_type) if f.metadata.get("cli", True)),
        key=lambda f: 0 if f.name == "out" else 2 if f.name in shared else 1,
    )

    def command(**values: Any) -> None:
        from vidgan.training.launch import train

        _report_training(train(_train_options(kind, values)))

    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*_input_parameters(kind), *(_field_parameter(f, hints[f.name]) for f in flags)]
    )
    train_app.command(kind.name, cls=TrainCommand, help=options_type.__doc__)(command)


_TRAIN_COMMANDS: dict[str, ModelKind] = {}  # the kind each `vidgan train KIND` command was built for


def sync_train_commands() -> None:
    """One `vidgan train KIND` command per registered model kind (vidgan.runs.kinds): vidgan's own at import, and
    before `main` builds the command line, those a caller registered, replaced or removed since."""
    stale = {name for name, kind in _TRAIN_COMMANDS.items() if MODEL_KINDS.get(name) is not kind}
    train_app.registered_commands[:] = [c for c in train_app.registered_commands if c.name not in stale]
    for name in stale:
        del _TRAIN_COMMANDS[name]
    for name, kind in MODEL_KINDS.items():
        if name not in _TRAIN_COMMANDS:
            _add_train_command(kind)
            _TRAIN_COMMANDS[name] = kind


sync_train_commands()


@train_app.command("resume", cls=TrainCommand, hidden=True)
def train_resume(
    out: Annotated[Path, typer.Option(help="Run folder to continue.")] = TrainOptions.out,
    iters: Annotated[int | None, typer.Option(help="Train to this step (default: the run's --iters).")] = None,
    model: Annotated[str | None, typer.Option(help="The run's model (checked).")] = None,
    device: DeviceOption = "auto",
    quiet: QuietOption = False,
) -> None:
    """Continue a run from its newest readable checkpoint (`vidgan train --out RUN --resume`)."""
    from vidgan.training.launch import resume_training

    _report_training(resume_training(out, iters=iters, device=device, quiet=quiet, model=model))


def _report_training(result: TrainResult) -> None:
    from vidgan.core.distributed import is_main_process

    # No checkpoint: a resumed run that was complete already, as resume_training has said; under torchrun,
    # rank 0 reports for all.
    if result.checkpoint is None or not is_main_process():
        return
    console.print(f"trained to step {result.step}; checkpoint {result.checkpoint}")
    console.print(f"plots: {result.run_dir / 'losses.png'}, {result.run_dir / 'progress.gif'}")


def _value(choice: Enum | None) -> str | None:
    return None if choice is None else choice.value


@app.command()
def sample(
    run: Annotated[Path, typer.Option(help="A dcgan, mlp-gan or vae run folder (or one of its checkpoint files).")],
    out: Annotated[Path, typer.Option(help="Image file for the grid (e.g. grid.png).")] = Path("samples.png"),
    n: Annotated[int, typer.Option("-n", help="Number of images.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed of the random latents (same seed, same images).")] = 0,
    interpolate: Annotated[bool, typer.Option("--interpolate", help="Rows of 8-step walks between random latents.")] = False,
    device: DeviceOption = "auto",
) -> None:
    """Draw new images from a trained generator (or VAE decoder) into one grid image."""
    from vidgan.render.sample import sample_images

    result = sample_images(run, out, count=n, seed=seed, interpolate=interpolate, device=device)
    console.print(f"wrote {result.count} {result.kind} samples to {result.out}")


@app.command()
def translate(
    input: Annotated[Path, typer.Argument(help="Folder of images to translate.")],
    run: Annotated[Path, typer.Option(help="A cyclegan run folder (or one of its checkpoint files).")],
    out: Annotated[Path, typer.Option(help="Folder for the results (not the input folder).")],
    direction: Annotated[Direction, typer.Option(help="a2b or b2a.")] = TranslateOptions.direction.name,
    device: DeviceOption = TranslateOptions.device,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = TranslateOptions.overwrite,
    runtime: RuntimeOption = TranslateOptions.runtime,
    quiet: QuietOption = False,
) -> None:
    """Translate every image of a folder: one PNG per input, same name and size, in --out."""
    from vidgan.core import directions
    from vidgan.render.translate import translate_folder

    options = TranslateOptions(
        out, directions.Direction.parse(direction.value), overwrite=overwrite, runtime=runtime.value, device=device, quiet=quiet
    )
    result = translate_folder(input, run, options)
    skipped = f" ({result.skipped} unreadable skipped)" if result.skipped else ""
    console.print(f"wrote {result.written} images to {result.out_dir}{skipped}")


@app.command()
def plot(run: Annotated[Path, typer.Argument(help="Run folder.")]) -> None:
    """Redraw a run's losses.png and progress.gif (training refreshes them with each sample grid)."""
    from vidgan.runs.plots import plot_run

    for path in plot_run(run):
        console.print(f"wrote {path}")


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A Typer choice type of a library constant's values."""
    return Enum(name, {value: value for value in values}, type=str)


RenderDirection = _choices("RenderDirection", RENDER_DIRECTIONS)
Codec = _choices("Codec", OUTPUT_CODECS)
Alpha = _choices("Alpha", ALPHAS)
Fit = _choices("Fit", FITS)
Arch = _choices("Arch", REFERENCE_ARCHS)
Detail = _choices("Detail", DETAILS)
_RENDER = RenderOptions()


@app.command()
def render(
    inputs: Annotated[list[Path], typer.Argument(help="Videos, image-sequence folders or patterns (shot_%04d.png).")],
    run: Annotated[Path | None, typer.Option(help="Run folder (uses its latest checkpoint).")] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="A checkpoint file (or a run folder: under torchrun, whose parser claims --run) instead of --run "
            "(with --arch: a reference CycleGAN .pth)."
        ),
    ] = None,
    arch: Annotated[Arch | None, typer.Option(help="Architecture of a reference CycleGAN --checkpoint (latest_net_G_A.pth).")] = None,
    direction: Annotated[RenderDirection, typer.Option(help="a2b, b2a, or both (one output each).")] = _RENDER.direction_label,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output for one input: .mp4, .mov, .mkv, or a folder for an image sequence (default: INPUT_<direction>.mp4 beside it)."
        ),
    ] = None,
    out_dir: Annotated[Path | None, typer.Option(help="Folder for the outputs of several inputs (STEM_<direction>).")] = None,
    codec: Annotated[
        Codec | None,
        typer.Option(
            help="h264 (.mp4), prores (422 HQ 10-bit, .mov), prores4444 (10-bit with alpha, .mov), ffv1 (lossless, .mkv); "
            "image sequences in a folder: png (8 or 16-bit), tiff (8, 16 or 32-bit float), exr (half or float, linear). "
            "Default: from --out, else h264 for videos and a sequence's own format (exr, tiff, else png) for sequences."
        ),
    ] = None,
    crf: Annotated[int, typer.Option(help="H.264 quality: 0 lossless … 51 worst.")] = _RENDER.crf,
    fit: Annotated[
        Fit,
        typer.Option(
            help="short-side: short side to the training size; stretch: squash to the square; crop: centre square only; "
            "native: full resolution. Fits and scales work on stored pixels: a clip with non-square pixels (a DVD's "
            "32:27) is translated as stored, and the output declares the source's sample aspect ratio."
        ),
    ] = _RENDER.fit,
    scale: Annotated[
        int | None,
        typer.Option(
            help="Working scale: the generator runs on frames scaled so their short side is S stored px (stretch, crop: "
            "an S x S square). Default: the run's recorded working scale, else its training size."
        ),
    ] = _RENDER.scale,
    detail: Annotated[
        Detail,
        typer.Option(
            help="source: the full-resolution source everywhere the translation leaves it alone, the translation "
            "composited in through a soft change matte (with the source's fine detail where it keeps the structure); "
            "model: the translation scaled up everywhere."
        ),
    ] = _RENDER.detail,
    matte: Annotated[
        bool, typer.Option("--matte", help="Also write each output's change matte: 16-bit grey PNGs in OUTPUT_matte/.")
    ] = _RENDER.matte,
    alpha: Annotated[
        Alpha,
        typer.Option(
            help="What the alpha channel of prores4444 and image-sequence outputs carries: source (the source's own "
            "alpha, passed through; where it has none, a sequence gets none and prores4444 an opaque one) or matte "
            "(the change matte, to key the translation over the plate; `--matte alpha` says the same)."
        ),
    ] = _RENDER.alpha,
    tile: Annotated[
        int | None,
        typer.Option(
            help="Run the generator on overlapping N-px tiles (a multiple of its stride; 0: never). "
            "Default: tiles only where a frame would not fit in memory."
        ),
    ] = _RENDER.tile,
    roi: Annotated[
        str | None,
        typer.Option(help="Translate only this box X,Y,W,H (source pixels); the rest stays untouched.", metavar="X,Y,W,H"),
    ] = None,
    roi_track: Annotated[Path | None, typer.Option(help="CSV of frame,x,y,w,h: a box that moves with the subject.")] = None,
    feather: Annotated[int, typer.Option(help="Width in pixels of the soft edge inside the region.")] = _RENDER.feather,
    fps: Annotated[str, typer.Option(help="Frame rate of image-sequence inputs (25, 29.97, 30000/1001).")] = str(_RENDER.fps),
    colorspace: Annotated[
        str,
        typer.Option(
            help="Colour space of image-sequence inputs, converted to display sRGB for the generator and back for the "
            "output: auto (linear for OpenEXR, srgb otherwise), linear (Rec.709 primaries), srgb, or a colour space of "
            "OpenColorIO's built-in config (ACEScg, 'Linear Rec.2020', ...)."
        ),
    ] = _RENDER.colorspace,
    temporal_smooth: Annotated[
        float,
        typer.Option(help="0..1: blend in the previous output, moved by the source's optical flow, against flicker (0 = off)."),
    ] = _RENDER.temporal_smooth,
    warp_error_every: Annotated[
        int,
        typer.Option(
            help="Measure the warp error on every Nth pair of frames (1 = all pairs, 0 = off); "
            "each measured pair costs two optical flows."
        ),
    ] = _RENDER.warp_error_every,
    compare: Annotated[
        bool, typer.Option("--compare", help="Also write a labelled side-by-side (source | result) beside each output.")
    ] = _RENDER.compare,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Do not carry the input's audio and subtitle tracks.")] = not _RENDER.audio,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = _RENDER.overwrite,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted image-sequence render (frames already there are kept).")
    ] = _RENDER.resume,
    segments: Annotated[
        str,
        typer.Option(
            help="Cut each clip into N time segments, rendered by separate torchrun processes and joined exactly "
            "(in one process: one after another); auto: one per process when there are fewer inputs than processes.",
            metavar="auto|N",
        ),
    ] = "auto",
    batch_size: Annotated[int | None, typer.Option(help="Frames per batch (default 4 on CPU, 16 on CUDA).")] = None,
    half: Annotated[
        bool, typer.Option("--half", help="Half-precision inference (bf16, or fp16 where unsupported); CUDA only.")
    ] = _RENDER.half,
    runtime: RuntimeOption = _RENDER.runtime,
    device: DeviceOption = _RENDER.device,
    quiet: QuietOption = False,
) -> None:
    """Translate every frame of videos or image sequences; keeps resolution, frame numbers, timestamps and audio."""
    from vidgan.core.distributed import is_main_process
    from vidgan.io.sequences import parse_fps
    from vidgan.render.boxes import parse_box
    from vidgan.render.video import render_video

    options = RenderOptions(
        out=out,
        out_dir=out_dir,
        directions=render_directions(direction.value),
        arch=arch.value if arch else None,
        codec=codec.value if codec else None,
        crf=crf,
        fit=fit.value,
        scale=scale,
        detail=detail.value,
        matte=matte,
        alpha=alpha.value,
        tile=tile,
        roi=parse_box(roi) if roi is not None else None,
        roi_track=roi_track,
        feather=feather,
        fps=parse_fps(fps),
        colorspace=colorspace,
        temporal_smooth=temporal_smooth,
        warp_error_every=warp_error_every,
        compare=compare,
        audio=not no_audio,
        overwrite=overwrite,
        resume=resume,
        segments=parse_segments(segments),
        batch_size=batch_size,
        half=half,
        runtime=runtime.value,
        device=device,
        quiet=quiet,
    )
    result = render_video(inputs, _model_source(run, checkpoint), options)
    if not is_main_process():  # under torchrun, rank 0 reports every rank's clips
        return
    for clip in result.clips:
        for d, path in clip.outputs.items():
            kept = f", {clip.resumed} kept from before" if clip.resumed else ""
            console.print(f"wrote {path} ({clip.frames} frames{kept})")
            if d in clip.compares:
                console.print(f"side by side: {clip.compares[d]}")
            if d in clip.mattes:
                console.print(f"change matte: {clip.mattes[d]}")
            if warp_error_every:
                console.print(f"  warp error (flicker): {_warp_report(clip.warp_errors[d], clip.source_warp_error)}")
    console.print(f"{result.frames} frames in {result.seconds:.1f} s ({result.fps:.1f} fps)")


def _warp_report(output: float | None, source: float | None) -> str:
    if output is None or source is None:
        return "not measured (needs two frames with trackable motion)"
    ratio = f", {output / source:.2f}x the source's" if source > 0 else ""
    return f"output {output:.6f}, source {source:.6f}{ratio}"


@app.command("eval")
def eval_run(
    run: Annotated[Path, typer.Option(help="Run folder to evaluate (its latest checkpoint).")],
    a: Annotated[Path | None, typer.Option("--a", help="Evaluate on this folder of domain a (default: held-out images).")] = None,
    b: Annotated[Path | None, typer.Option("--b", help="Evaluate on this folder of domain b (default: held-out images).")] = None,
    samples: Annotated[int | None, typer.Option(help=f"[dcgan/mlp-gan/vae] Generated images to measure (default {SAMPLES}).")] = None,
    classifier_steps: Annotated[int, typer.Option(help="Training steps of each judging classifier.")] = ClassifierSettings.steps,
    c2st_repeats: Annotated[
        int, typer.Option(help="[cyclegan] Average C2ST over this many classifier seeds (steadier on few images).")
    ] = ClassifierSettings.c2st_repeats,
    runtime: RuntimeOption = EvalOptions.runtime,
    device: DeviceOption = EvalOptions.device,
    quiet: QuietOption = False,
) -> None:
    """Measure a run. CycleGAN: domain classifier, translation scores, C2ST, cycle/identity error, colour, structure.
    DCGAN, MLP GAN, VAE: C2ST realism, sample diversity (mode collapse) and memorisation, beside real images'."""
    from vidgan.eval.run import eval_table, evaluate_run
    from vidgan.runs.folder import RunFolder

    classifier = ClassifierSettings(steps=classifier_steps, c2st_repeats=c2st_repeats)
    options = EvalOptions(a=a, b=b, samples=samples, classifier=classifier, runtime=runtime.value, device=device, quiet=quiet)
    console.print(eval_table(evaluate_run(run, options)))
    console.print(f"wrote {RunFolder(run).eval_path}")


@app.command("eval-video")
def eval_video(
    output: Annotated[Path, typer.Argument(help="Rendered video or image sequence.")],
    source: Annotated[Path, typer.Option(help="The clip it was rendered from (its motion is the reference).")],
    quiet: QuietOption = False,
) -> None:
    """Temporal warp error (flicker) of a rendered clip, beside the source clip's own."""
    from vidgan.eval.video import evaluate_video

    result = evaluate_video(output, source, quiet=quiet)
    console.print(f"warp error over {result.frames} frames: {_warp_report(result.output_error, result.source_error)}")


@app.command()
def report(run: Annotated[Path, typer.Argument(help="Run folder.")]) -> None:
    """Write RUN/report.html: config, split, loss curves, sample progress and the eval table, images embedded."""
    from vidgan.eval.report import write_report

    console.print(f"wrote {write_report(run)}")


ExportFormat = Enum("ExportFormat", {name: name for name in EXPORT_FORMATS}, type=str)


@app.command("export")
def export_model(
    run: Annotated[Path, typer.Option(help="A cyclegan run folder (or one of its checkpoint files).")],
    out: Annotated[Path, typer.Option(help="File to write: .onnx for --format onnx, .pt for torchscript.")],
    format: Annotated[
        ExportFormat, typer.Option(help="onnx (Flame's Inference node, ONNX Runtime, OpenVINO) or torchscript (Nuke's CatFileCreator).")
    ],
    direction: Annotated[Direction, typer.Option(help="a2b or b2a.")] = Direction.a2b,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
    arch: Annotated[Arch | None, typer.Option(help="Architecture of a reference CycleGAN --run file (latest_net_G_A.pth).")] = None,
) -> None:
    """Write one direction's generator as a self-contained file for compositing applications: float RGB in [0, 1]
    in and out, any height and width, the working scale and direction in its metadata."""
    from vidgan.render.export import ExportOptions, export_generator

    options = ExportOptions(run=run, out=out, direction=direction.value, format=format.value, overwrite=overwrite, arch=_value(arch))
    result = export_generator(options)
    scale = result.metadata["working_scale"]
    console.print(f"wrote {result.out} ({options.format}, {result.metadata['direction']}, working scale {scale} px)")


def _model_source(run: Path | None, checkpoint: Path | None) -> Path:
    if (run is None) == (checkpoint is None):
        raise UsageError("give exactly one of --run RUN or --checkpoint FILE")
    return run if run is not None else checkpoint


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's clips, data, run and videos.")] = Path("vidgan-demo"),
    device: DeviceOption = "auto",
    quiet: QuietOption = False,
) -> None:
    """Remove a glove from a synthetic shot: builds clips, then extract → train → render (a few CPU minutes)."""
    from vidgan.demo import run_demo

    result = run_demo(out, device=device, quiet=quiet)
    console.print(f"translated clip: {result.translated}")
    console.print(f"side by side:    {result.side_by_side}")
    console.print(f"training run:    {result.run_dir} (sample grids in samples/)")


def _matte_alpha(args: list[str]) -> list[str]:
    """`render --matte alpha` is `render --alpha matte` (the change matte in the output's alpha): Typer's flags take
    no value, so the spelling is mapped here. An input file named `alpha` keeps its meaning."""
    if args[:1] != ["render"]:
        return args
    for i in range(1, len(args) - 1):
        if args[i] == "--matte" and args[i + 1] == "alpha" and not Path("alpha").exists():
            return [*args[:i], "--alpha", "matte", *args[i + 2 :]]
    return args


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage errors and VidganErrors become one line on stderr; --debug shows tracebacks."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    args = _matte_alpha(args)
    sync_train_commands()
    command = typer.main.get_command(app)
    try:
        with sigterm_as_interrupt():  # `kill` cleans up like Ctrl-C: temporary files go, train checkpoints
            status = command.main(args, prog_name="vidgan", standalone_mode=False)
        # Outside standalone mode, Typer turns Ctrl-C into a returned 130 (and typer.Exit into its code).
        if status == 130:
            raise KeyboardInterrupt
        if isinstance(status, int) and status:
            sys.exit(status)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        _fail("interrupted", 130)
    except _ClickUsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            print(error.format_message())  # the message is the help text
            sys.exit(0)
        where = f"{error.ctx.command_path}: " if error.ctx and error.ctx.parent else "vidgan: "
        _fail(f"{where}{error.format_message()}", 2)
    except _ClickException as error:
        _fail(error.format_message(), error.exit_code)
    except VidganError as error:
        if debug:
            raise
        _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except OSError as error:  # the file system refused (disk full, permissions, a file where a folder must go)
        if debug:
            raise
        where = f"{os.fsdecode(error.filename)}: " if error.filename is not None else ""
        _fail(f"{where}{error.strerror or error}", 1)
    except Exception as error:  # a bug, not the user's fault: still one line unless --debug
        if debug:
            raise
        _fail(f"internal error: {type(error).__name__}: {error} (run again with --debug for the traceback)", 1)


def _fail(message: str, code: int) -> None:
    if os.environ.get("WORLD_SIZE", "1") != "1":  # one of several torchrun processes: say which (torch not imported)
        message = f"rank {os.environ.get('RANK', '?')}: {message}"
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)
