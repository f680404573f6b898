"""The `vidgan` command line: parses options, calls one pipeline function per command, reports the result."""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import MISSING, Field, asdict, dataclass, fields, is_dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar, get_args, get_type_hints

import typer
import typer.core

from vidgan import __version__
from vidgan.core.errors import UsageError, VidganError, sigterm_as_interrupt
from vidgan.core.options import Spelling, one_of
from vidgan.core.options import flag as flag_name
from vidgan.core.progress import console
from vidgan.demo import DemoOptions
from vidgan.eval.options import EvalOptions, VideoEvalOptions
from vidgan.io.extract import ExtractOptions
from vidgan.render.export import ExportOptions
from vidgan.render.farm import JoinOptions
from vidgan.render.openjd import OpenJDOptions
from vidgan.render.options import RenderOptions, SampleOptions, TranslateOptions
from vidgan.runs.kinds import DEFAULT_KIND, MODEL_KINDS, TEACHER_RUN, TWO_DOMAINS, ModelKind
from vidgan.runs.options import RunFolderOptions
from vidgan.training.options import TrainOptions

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, from PyPI, before Python 3.11
    import tomli as tomllib

if TYPE_CHECKING:
    from vidgan.training.loop import TrainResult

Options = TypeVar("Options")
Action = Callable[..., None]

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


def _print_version(asked: bool) -> None:
    if asked:
        print(f"vidgan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print vidgan's version and exit.", callback=_print_version, is_eager=True),
) -> None:
    """The commands below; `vidgan COMMAND --help` for each."""


CONFIG_HELP = (
    "A TOML (or .json) file of options by their field names (batch_size = 2); flags given on the line win. "
    "vidgan train also takes a run's config.json."
)


# ---- Commands built from options dataclasses: one flag (or positional argument) per field -----------------------
#
# Each field's metadata (vidgan.core.options) gives its flag names, help, choices and the form the command line
# takes it in; the field's type and default give the rest. A nested dataclass field (eval's classifier settings)
# gives a flag per field of its own that the command line takes, as OUTER_INNER in config files' flat form.


@dataclass(frozen=True)
class _Flag:
    """One command-line parameter made from a dataclass field (`path`: the field names down to it)."""

    name: str
    path: tuple[str, ...]
    field: Field
    hint: Any

    @property
    def spelling(self) -> Spelling | None:
        return self.field.metadata.get("spelling")

    def shown(self, value: Any) -> Any:
        """A field value as the command line gives it."""
        return value if self.spelling is None else self.spelling.show(value)

    def parsed(self, value: Any) -> Any:
        """The field value the command line's `value` gives."""
        value = value.value if isinstance(value, Enum) else value
        if self.spelling is None or (value is None and self.spelling.type is str):
            return value
        return self.spelling.parse(value)


def option_flags(options_type: type, path: tuple[str, ...] = ()) -> list[_Flag]:
    """The fields of the dataclass `options_type` that the command line takes, nested dataclasses' flattened."""
    hints = get_type_hints(options_type)
    found = []
    for f in fields(options_type):
        if not f.metadata.get("cli", True):
            continue
        if is_dataclass(hints[f.name]) and not f.metadata.get("spelling"):
            found += option_flags(hints[f.name], (*path, f.name))
        else:
            found.append(_Flag("_".join((*path, f.name)), (*path, f.name), f, hints[f.name]))
    return found


def _cli_type(flag: _Flag, optional: bool) -> Any:
    """The type Typer parses a field as: an Enum of its choices for text, optional where its default is None."""
    spelling, args = flag.spelling, get_args(flag.hint)
    if spelling:
        kind = spelling.type
    elif type(None) in args:  # X | None
        kind = next(t for t in args if t is not type(None))
    else:  # int, str, list[Path], …
        kind = flag.hint
    choices = spelling.choices if spelling else flag.field.metadata.get("choices", ())
    if choices and kind is str:
        kind = Enum(flag.name.title().replace("_", ""), {choice: choice for choice in choices}, type=str)
    return kind | None if optional else kind


def _parameter(flag: _Flag) -> inspect.Parameter:
    """A flag as a parameter of a Typer command: its flag names, type, default and help."""
    f = flag.field
    default = inspect.Parameter.empty
    if f.default is not MISSING or f.default_factory is not MISSING:
        default = flag.shown(f.default if f.default is not MISSING else f.default_factory())
    cli_type = _cli_type(flag, default is None)
    enum = next((t for t in get_args(cli_type) or (cli_type,) if isinstance(t, type) and issubclass(t, Enum)), None)
    if enum is not None and default not in (None, inspect.Parameter.empty):
        default = enum(default)
    metavar = {"metavar": f.metadata["metavar"]} if f.metadata.get("metavar") else {}
    if f.metadata.get("argument"):
        info = typer.Argument(help=f.metadata.get("help", ""), **metavar)
    else:
        # Typer names a flag after its parameter (and a bool's --no- form too) unless told; a nested field's
        # parameter name carries its outer field's, which its flag does not.
        names = f.metadata.get("flags") or ((flag_name(f.name),) if len(flag.path) > 1 else ())
        info = typer.Option(*names, help=f.metadata.get("help", ""), **metavar)
    return inspect.Parameter(flag.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[cli_type, info])


def options_of(options_type: type[Options], values: dict[str, Any], path: tuple[str, ...] = (), **given: Any) -> Options:
    """The `options_type` object that a command's parsed `values` describe (with `given` for the fields the command
    line takes otherwise)."""
    hints = get_type_hints(options_type)
    flags = {flag.path[-1]: flag for flag in option_flags(options_type, path) if len(flag.path) == len(path) + 1}
    for f in fields(options_type):
        if f.name in flags:
            given[f.name] = flags[f.name].parsed(values[flags[f.name].name])
        elif is_dataclass(hints[f.name]) and f.metadata.get("cli", True) and not f.metadata.get("spelling"):
            given[f.name] = options_of(hints[f.name], values, (*path, f.name))
    return options_type(**given)


def given_on_line(ctx: typer.Context, names: Iterable[str]) -> set[str]:
    """Of the parameters `names`, those the command line or a --config file gave."""
    return {name for name in names if (source := ctx.get_parameter_source(name)) is not None and source.name != "DEFAULT"}


def usage_name(param: Any) -> str:
    """How a usage line names the positional argument `param`: its metavar or its name in capitals, in brackets
    when optional, with ... when it takes several (RUN, [DATA], INPUTS...)."""
    name = param.metavar or param.name.upper()
    if param.nargs == -1 and not name.endswith(("...", "…")):
        name += "..."
    return name if param.required or name.startswith("[") else f"[{name}]"


class Command(typer.core.TyperCommand):
    """A vidgan command, whose usage line names its arguments by `usage_name` (Typer's shows `{run}`)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        arguments = [usage_name(param) for param in self.get_params(ctx) if param.param_type_name == "argument"]
        return [self.options_metavar, *arguments] if self.options_metavar else arguments


class OptionsCommand(Command):
    """A command built by `options_command`: it also takes the words its fields declare as aliases of a flag and
    value (`render --matte alpha` for `--alpha matte`), unless the alias's last word names a file (an input)."""

    aliases: ClassVar[dict[tuple[str, ...], tuple[str, ...]]] = {}

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        for words, meaning in self.aliases.items():
            n = len(words)
            at = next((i for i in range(len(args) - n + 1) if tuple(args[i : i + n]) == words), None)
            if at is not None and not Path(words[-1]).exists():
                args = [*args[:at], *meaning, *args[at + n :]]
        return super().parse_args(ctx, args)


def _command_class(base: type[OptionsCommand], flags: list[_Flag]) -> type[OptionsCommand]:
    aliases = {words: meaning for flag in flags for words, meaning in flag.field.metadata.get("aliases", {}).items()}
    return type(base.__name__, (base,), {"aliases": aliases}) if aliases else base


def command_signature(inputs: Iterable[inspect.Parameter], flags: list[_Flag], *, train: bool = False) -> inspect.Signature:
    """A command's parameters: the Typer context, the fields it takes as arguments, its inputs, a flag per other
    field, and --config (so a field's argument comes before the inputs: `farm openjd BUNDLE -- RENDER-ARGS…`)."""
    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)

    def loader(ctx: typer.Context, value: Path | None) -> None:  # Typer reads a callback's own signature
        _load_config(ctx, value, flags=flags, train=train)

    config_info = typer.Option("--config", help=CONFIG_HELP, metavar="FILE", is_eager=True, callback=loader)
    config = inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[Path | None, config_info])
    inputs = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in inputs]
    arguments = [_parameter(flag) for flag in flags if flag.field.metadata.get("argument")]
    options = [_parameter(flag) for flag in flags if not flag.field.metadata.get("argument")]
    return inspect.Signature([context, *arguments, *inputs, *options, config])


def options_command(group: typer.Typer, options_type: type, name: str | None = None) -> Callable[[Action], Action]:
    """Register `action(options, **inputs)` as the command `name` of `group`: its own parameters after the first
    (inputs, declared as Typer parameters) and the fields of `options_type` as command_signature orders them."""

    def register(action: Callable[..., None]) -> Callable[..., None]:
        flags = option_flags(options_type)
        inputs = list(inspect.signature(action, eval_str=True).parameters.values())[1:]

        def command(ctx: typer.Context, **values: Any) -> None:
            values.pop("config")
            action(options_of(options_type, values), **{p.name: values.pop(p.name) for p in inputs})

        command.__signature__ = command_signature(inputs, flags)  # type: ignore[attr-defined]
        command.__doc__ = action.__doc__
        cls = _command_class(OptionsCommand, flags)
        group.command(name or action.__name__.replace("_", "-"), cls=cls)(command)
        return action

    return register


def _load_config(ctx: typer.Context, value: Path | None, *, flags: list[_Flag], train: bool) -> None:
    """--config FILE: its options become the command's defaults (so flags on the line win). A run's config.json
    (for vidgan train) gives the options the command takes and leaves its records (kind, versions, networks)."""
    if value is None:
        return
    entries = _flattened(_read_config(value), flags)
    names = {param.name for param in ctx.command.params} - {"config"}
    if "kind" in entries and "versions" in entries:  # a run's config.json
        if not train:
            raise UsageError(f"--config {value}: a run's config.json configures vidgan train, not vidgan {ctx.info_name}")
        if entries["kind"] != ctx.info_name:
            raise UsageError(f"--config {value}: records a {entries['kind']} run; give it to vidgan train {entries['kind']}")
        entries = {key: item for key, item in entries.items() if key in names}
    unknown = sorted(set(entries) - names)
    if unknown:
        raise UsageError(f"--config {value}: unknown option {unknown[0]!r} (vidgan {ctx.info_name} has no {flag_name(unknown[0])})")
    by_name = {flag.name: flag for flag in flags}
    for key, item in entries.items():
        if key in by_name and not _is_text(by_name[key], item):
            entries[key] = by_name[key].shown(item)
    ctx.default_map = {**(ctx.default_map or {}), **entries}


def _is_text(flag: _Flag, item: Any) -> bool:
    """Whether a config file gives a field that the command line takes as text in that text form already."""
    return flag.spelling is not None and flag.spelling.type is str and isinstance(item, str)


def _read_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"--config {path}: {error.strerror or error}") from None
    try:
        entries = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"--config {path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'} ({error})") from None
    if not isinstance(entries, dict):
        raise UsageError(f"--config {path}: holds no table of options")
    return entries


def _flattened(entries: dict[str, Any], flags: list[_Flag]) -> dict[str, Any]:
    """{"classifier": {"steps": 50}} → {"classifier_steps": 50}: nested options as the command's flags name them."""
    outer = {flag.path[0] for flag in flags if len(flag.path) > 1}
    nested = {key: item for key, item in entries.items() if key in outer and isinstance(item, dict)}
    flat = {f"{key}_{inner}": value for key, item in nested.items() for inner, value in item.items()}
    return {**{key: item for key, item in entries.items() if key not in nested}, **flat}


@options_command(app, ExtractOptions, "extract")
def extract_command(options: ExtractOptions) -> None:
    """Take every Nth frame of the clips into two unpaired image domains."""
    from vidgan.io.extract import extract

    result = extract(options)
    paired = {domain: f" ({n} with pairs)" if options.pair_gap else "" for domain, n in result.pairs.items()}
    counts = ", ".join(f"{n} in {domain}/{paired[domain]}" for domain, n in result.counts.items())
    console.print(f"wrote {counts} under {result.out_dir}")


class TrainGroup(typer.core.TyperGroup):
    """`vidgan train MODEL …`, which also takes the forms older commands use: without a model word the model is
    --model's, else a CycleGAN (`vidgan train DATA …`, `vidgan train --out RUN --resume`). The group passes the
    options it does not know on to that command (context setting ignore_unknown_options)."""

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        model = ctx.params.get("model")
        if model is not None and model not in self.commands:
            raise UsageError(f"--model must be {one_of(tuple(self.commands))}, got {model!r}")
        if args and args[0] in self.commands:
            ctx.meta[_CHOSEN_MODEL] = args[0]
            return super().resolve_command(ctx, args)
        ctx.meta[_CHOSEN_MODEL] = model
        kind = model or DEFAULT_KIND
        return kind, self.commands[kind], args

    def get_help(self, ctx: Any) -> str:
        """The group's help, or with --model (given before --help) that model's command's."""
        model = ctx.params.get("model")
        if model not in self.commands:
            return super().get_help(ctx)
        command = self.commands[model]
        return command.get_help(command.make_context(model, [], parent=ctx, resilient_parsing=True))


# ctx.meta's key for the model a `vidgan train` command line named (a model word or --model), None where it named
# none: `--resume` then continues a run of any kind.
_CHOSEN_MODEL = "vidgan.train.model"


class TrainCommand(OptionsCommand):
    """A `vidgan train` subcommand; an option it lacks is refused naming the models that take it."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _ClickUsageError as error:
            if type(error).__name__ != "NoSuchOption":
                raise
            option = error.option_name
            siblings = ctx.parent.command.commands if ctx.parent else {}
            users = [name for name, command in siblings.items() if any(option in (*p.opts, *p.secondary_opts) for p in command.params)]
            if not users:
                raise
            raise UsageError(f"{option} is an option of vidgan train {' / '.join(users)}, not of {self.name}") from None


train_app = typer.Typer(
    cls=TrainGroup,
    help="Train a model: `vidgan train cyclegan|dcgan|mlp-gan|vae DATA …` (each model's options: vidgan train MODEL "
    "--help). Without a model word, or with --model cyclegan, DATA is a folder with a/ and b/ for a CycleGAN. "
    "The same command with --resume added (or `vidgan train --out RUN --resume [--iters N]`) continues a run from "
    "its newest checkpoint.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"ignore_unknown_options": True},
)
app.add_typer(train_app, name="train")


@train_app.callback()
def train_group(
    # Eager, so that `--model vae --help` has the model when --help shows its command's help.
    model: Annotated[
        str | None, typer.Option(help="The model to train (instead of a model word), or the run's (checked).", is_eager=True)
    ] = None,
) -> None:
    """Train a model (see the group's help)."""


def _input_parameters(kind: ModelKind) -> list[inspect.Parameter]:
    """What a train command takes besides its options' flags: the image folder, or two domains' (named as the
    fields that hold them, for config files), --no-cycle where the options have a cycle weight, and --resume."""

    def parameter(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)

    resume_help = "Continue the run in --out from its newest checkpoint (with the options it started with; --iters may grow)."
    resume = parameter("resume", Annotated[bool, typer.Option("--resume", help=resume_help)], False)
    if kind.data == TEACHER_RUN:
        run = typer.Argument(metavar="RUN", help="The trained run to learn from.", show_default=False)
        return [parameter("teacher", Annotated[Path, run], inspect.Parameter.empty), resume]
    if kind.data != TWO_DOMAINS:
        data = Annotated[Path | None, typer.Argument(metavar="DATA", help="Image folder to train on.", show_default=False)]
        return [parameter("data", data), resume]
    folder = Annotated[Path | None, typer.Argument(metavar="[DATA]", help="A folder with a/ and b/ (from vidgan extract).")]
    domains = [
        parameter("data", folder),
        parameter("a_dir", Annotated[Path | None, typer.Option("--a", help="Image folder of domain a (instead of DATA).")]),
        parameter("b_dir", Annotated[Path | None, typer.Option("--b", help="Image folder of domain b (instead of DATA).")]),
    ]
    if "cycle_weight" not in {f.name for f in fields(kind.options_type)}:
        return [*domains, resume]
    no_cycle = Annotated[bool, typer.Option("--no-cycle", help="Train without cycle-consistency.")]
    return [*domains, parameter("no_cycle", no_cycle, False), resume]


def _input_values(kind: ModelKind, values: dict[str, Any], resume: bool) -> dict[str, Any]:
    """The fields a train command's inputs give (taken out of `values`): the image folders and --no-cycle's
    cycle weight; a resumed run needs no folders."""
    if kind.data == TEACHER_RUN:
        return {"teacher": values.pop("teacher")}
    data = values.pop("data")
    if kind.data != TWO_DOMAINS:
        if data is None and not resume:
            raise UsageError("give the image folder DATA to train on")
        return {} if data is None else {"data": data}
    a_dir, b_dir, no_cycle = values.pop("a_dir"), values.pop("b_dir"), values.pop("no_cycle", False)
    given = {"cycle_weight": 0.0} if no_cycle else {}
    if resume and data is None and a_dir is None and b_dir is None:
        return given
    from vidgan.training.launch import resolve_domains

    a_dir, b_dir = resolve_domains(data, a_dir, b_dir)
    return {**given, "a_dir": a_dir, "b_dir": b_dir}


def add_train_command(kind: ModelKind) -> None:
    """`vidgan train KIND`: the image folders, then a flag per field of the kind's options (--out first, then the
    model's own, then those of every job), each with the field's default, help and choices, then --resume and
    --config. With --resume, the options given must be the run's (vidgan.training.launch.resume_training)."""
    options_type = kind.options_type
    shared = {f.name for f in fields(TrainOptions)}
    flags = sorted(option_flags(options_type), key=lambda flag: 0 if flag.name == "out" else 2 if flag.name in shared else 1)
    inputs = _input_parameters(kind)

    def command(ctx: typer.Context, **values: Any) -> None:
        from vidgan.training.launch import resume_training, train

        values.pop("config")
        resume = values.pop("resume")
        inputs_given = _input_values(kind, values, resume)
        if not resume:
            _report_training(train(options_of(options_type, values, **inputs_given)))
            return
        on_line = given_on_line(ctx, [flag.name for flag in flags])
        given = {flag.name: flag.parsed(values[flag.name]) for flag in flags if flag.name in on_line}
        out = given.pop("out", options_type.out)
        model = ctx.meta.get(_CHOSEN_MODEL)
        _report_training(resume_training(out, {**given, **inputs_given}, model=model))

    command.__signature__ = command_signature(inputs, flags, train=True)  # type: ignore[attr-defined]
    cls = _command_class(TrainCommand, flags)
    train_app.command(kind.name, cls=cls, help=options_type.__doc__)(command)
    if kind.data == TEACHER_RUN:  # `vidgan distill RUN …`, the name users know, beside `vidgan train distill RUN …`
        app.command(kind.name, cls=cls, help=options_type.__doc__)(command)


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
            add_train_command(kind)
            _TRAIN_COMMANDS[name] = kind


sync_train_commands()


def _report_training(result: TrainResult) -> None:
    from vidgan.core.distributed import is_main_process

    # No checkpoint: a resumed run that was complete already, as resume_training has said; under torchrun,
    # rank 0 reports for all.
    if result.checkpoint is None or not is_main_process():
        return
    console.print(f"trained to step {result.step}; checkpoint {result.checkpoint}")
    console.print(f"plots: {result.run_dir / 'losses.png'}, {result.run_dir / 'progress.gif'}")


@options_command(app, SampleOptions)
def sample(
    options: SampleOptions,
    run: Annotated[Path, typer.Option(help="A dcgan, mlp-gan or vae run folder (or one of its checkpoint files).")],
) -> None:
    """Draw new images from a trained generator (or VAE decoder) into one grid image."""
    from vidgan.render.sample import sample_images

    result = sample_images(run, **asdict(options))
    console.print(f"wrote {result.count} {result.kind} samples to {result.out}")


@options_command(app, TranslateOptions)
def translate(
    options: TranslateOptions,
    input: Annotated[Path, typer.Argument(help="Folder of images to translate.")],
    run: Annotated[Path, typer.Option(help="A cyclegan run folder (or one of its checkpoint files).")],
) -> None:
    """Translate every image of a folder: one PNG per input, same name and size, in --out."""
    from vidgan.render.translate import translate_folder

    result = translate_folder(input, run, options)
    skipped = f" ({result.skipped} unreadable skipped)" if result.skipped else ""
    console.print(f"wrote {result.written} images to {result.out_dir}{skipped}")


@options_command(app, RunFolderOptions)
def plot(options: RunFolderOptions) -> None:
    """Redraw a run's losses.png and progress.gif (training refreshes them with each sample grid)."""
    from vidgan.runs.plots import plot_run

    for path in plot_run(options):
        console.print(f"wrote {path}")


@options_command(app, RenderOptions)
def render(
    options: RenderOptions,
    inputs: Annotated[list[Path], typer.Argument(help="Videos, image-sequence folders or patterns (shot_%04d.png).")],
    run: Annotated[Path | None, typer.Option(help="Run folder (uses its latest checkpoint).")] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="A checkpoint file (or a run folder: under torchrun, whose parser claims --run) instead of --run "
            "(with --arch: a reference CycleGAN .pth)."
        ),
    ] = None,
) -> None:
    """Translate every frame of videos or image sequences; keeps resolution, frame numbers, timestamps and audio."""
    from vidgan.core.distributed import is_main_process
    from vidgan.render.video import render_video

    result = render_video(inputs, _model_source(run, checkpoint), options)
    if not is_main_process():  # under torchrun, rank 0 reports every rank's clips
        return
    for note in result.notes:  # a --segment part with nothing to render
        console.print(note)
    for clip in result.clips:
        for d, path in clip.outputs.items():
            kept = f", {clip.resumed} kept from before" if clip.resumed else ""
            console.print(f"wrote {path} ({clip.frames} frames{kept})")
            if d in clip.compares:
                console.print(f"side by side: {clip.compares[d]}")
            if d in clip.mattes:
                console.print(f"change matte: {clip.mattes[d]}")
            if options.warp_error_every:
                console.print(f"  warp error (flicker): {_warp_report(clip.warp_errors[d], clip.source_warp_error)}")
    if result.clips:
        console.print(f"{result.frames} frames in {result.seconds:.1f} s ({result.fps:.1f} fps)")


@options_command(app, JoinOptions)
def join(options: JoinOptions) -> None:
    """Join the parts of a shot rendered with `render --segment K/N --parts DIR` into the one-pass output."""
    from vidgan.render.farm import join_parts

    result = join_parts(options)
    for path in result.outputs:
        console.print(f"wrote {path} ({result.frames} frames)")


farm_app = typer.Typer(
    help="Render a shot on a render farm: `vidgan farm openjd BUNDLE --tasks N -- RENDER-ARGS…` writes an Open Job "
    "Description job bundle of N `vidgan render --segment K/N` tasks and a `vidgan join` (docs/farm.md).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(farm_app, name="farm")


def _render_paths(args: list[str]) -> tuple[dict[str, Path], tuple[str, ...]]:
    """The arguments of a `vidgan render` command line (checked by its parser) split into its path options, by name
    (vidgan.render.openjd.RENDER_PATHS), and the rest as given."""
    from vidgan.render.openjd import RENDER_PATHS

    command = typer.main.get_command(app).commands["render"]
    if args:  # (none: OpenJDOptions.validate names what is missing)
        command.make_context("render", list(args))  # refuses what render would refuse
    options = {name: param for param in command.params for name in (*param.opts, *param.secondary_opts)}
    paths: dict[str, Path] = {}
    rest: list[str] = []
    words = iter(args)
    for word in words:
        name, equals, value = word.partition("=")
        param = options.get(name if word.startswith("--") else word)
        if param is None:  # an input
            if word.startswith("-"):
                rest.append(word)
            elif "inputs" in paths:
                raise UsageError("farm openjd: a job renders one input; give one bundle per shot")
            else:
                paths["inputs"] = Path(word)
            continue
        if param.is_flag:
            rest.append(word)
            continue
        value = value if equals else next(words)
        if param.name in ("segment", "segments", "parts", "out_dir"):
            raise UsageError(f"farm openjd: the job sets {name} itself (--tasks N); leave it out of the render's arguments")
        if param.name in RENDER_PATHS:
            paths[param.name] = Path(value)
        else:
            rest += [name, value]
    return paths, tuple(rest)


@options_command(farm_app, OpenJDOptions, "openjd")
def farm_openjd(
    options: OpenJDOptions,
    render_args: Annotated[
        list[str] | None,
        typer.Argument(help="After --: the arguments of `vidgan render` for the shot, --out included.", metavar="-- RENDER-ARGS…"),
    ] = None,
) -> None:
    """Write an Open Job Description job bundle (Deadline Cloud: `deadline bundle submit BUNDLE`; locally: `openjd run
    BUNDLE/template.yaml -p NAME=VALUE…`) rendering one shot as N segment tasks and a join."""
    from vidgan.render.openjd import write_openjd_bundle

    paths, rest = _render_paths(render_args or [])
    result = write_openjd_bundle(replace(options, paths=paths, args=rest))
    console.print(f"wrote {result.template} and {result.parameter_values}")


def _warp_report(output: float | None, source: float | None) -> str:
    if output is None or source is None:
        return "not measured (needs two frames with trackable motion, at least 16 px on the short side)"
    ratio = f", {output / source:.2f}x the source's" if source > 0 else ""
    return f"output {output:.6f}, source {source:.6f}{ratio}"


@options_command(app, EvalOptions, "eval")
def eval_run(
    options: EvalOptions, run: Annotated[Path, typer.Option(help="Run folder to evaluate (its latest checkpoint).")]
) -> None:
    """Measure a run. CycleGAN: domain classifier, translation scores, C2ST, cycle/identity error, colour, structure.
    DCGAN, MLP GAN, VAE: C2ST realism, sample diversity (mode collapse) and memorisation, beside real images'."""
    from vidgan.eval.run import eval_table, evaluate_run
    from vidgan.runs.folder import RunFolder

    console.print(eval_table(evaluate_run(run, options)))
    console.print(f"wrote {RunFolder(run).eval_path}")


@options_command(app, VideoEvalOptions, "eval-video")
def eval_video(options: VideoEvalOptions) -> None:
    """Temporal warp error (flicker) of a rendered clip, beside the source clip's own."""
    from vidgan.eval.video import evaluate_video

    result = evaluate_video(options)
    console.print(f"warp error over {result.frames} frames: {_warp_report(result.output_error, result.source_error)}")


@options_command(app, RunFolderOptions)
def report(options: RunFolderOptions) -> None:
    """Write RUN/report.html: config, split, loss curves, sample progress and the eval table, images embedded."""
    from vidgan.eval.report import write_report

    console.print(f"wrote {write_report(options)}")


@options_command(app, ExportOptions, "export")
def export_model(options: ExportOptions) -> None:
    """Write one direction's generator as a self-contained file for compositing applications: float RGB in [0, 1]
    in and out, any height and width, the working scale and direction in its metadata."""
    from vidgan.render.export import export_generator

    result = export_generator(options)
    scale = result.metadata["working_scale"]
    int8 = " int8" if options.precision == "int8" else ""
    beside = f" and {result.sidecar}" if result.sidecar else ""
    console.print(f"wrote {result.out}{beside} ({options.format}{int8}, {result.metadata['direction']}, working scale {scale} px)")


def _model_source(run: Path | None, checkpoint: Path | None) -> Path:
    if (run is None) == (checkpoint is None):
        raise UsageError("give exactly one of --run RUN or --checkpoint FILE")
    return run if run is not None else checkpoint


@options_command(app, DemoOptions)
def demo(options: DemoOptions) -> None:
    """Remove a glove from a synthetic shot: builds clips, then extract → train → render (a few CPU minutes)."""
    from vidgan.demo import run_demo

    result = run_demo(options)
    console.print(f"translated clip: {result.translated}")
    console.print(f"side by side:    {result.side_by_side}")
    console.print(f"training run:    {result.run_dir} (sample grids in samples/)")


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage errors and VidganErrors become one line on stderr; --debug shows tracebacks."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
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
