"""Model kinds: one record per kind of model vidgan trains, and the one table every command finds them in.

A kind is what a run records as `kind` in config.json and its checkpoints ("cyclegan", "dcgan", …). `train`,
resume, `render`, `translate`, `sample`, `eval`, `report`, `export` and the run-config upgrade look the kind up
here (`model_kind(name)`) and nowhere else, so adding a kind is one module and one `register_kind(ModelKind(...))`.

The API, for a kind defined outside vidgan (a plug-in, a test):

    register_kind(ModelKind(name="toy", options=ToyOptions, build_task=build_toy_task, data=TWO_DOMAINS,
                            directions=A2B_ONLY, load_generator=toy_generator,
                            evaluate="vidgan.eval.cyclegan:evaluate_translation_run",
                            eval_table="vidgan.eval.cyclegan:translation_table"))

and `vidgan.cli.main` offers `vidgan train toy` (it syncs its train commands with this table on each call).
Every callable field takes the callable itself or "module.path:attribute", imported at first use, so a record in
a low layer can name code in a higher one (training/, eval/) without importing it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from vidgan.core.directions import DIRECTIONS, Direction
from vidgan.core.errors import UsageError, VidganError
from vidgan.core.options import one_of

Ref = Any  # a callable or class, or "module.path:attribute" naming one (resolved by `resolve`)

# The directions a kind can translate: none (it draws images from noise), a→b only (one-sided models), or both.
NO_DIRECTIONS: tuple[Direction, ...] = ()
A2B_ONLY: tuple[Direction, ...] = DIRECTIONS[:1]
BOTH_DIRECTIONS: tuple[Direction, ...] = DIRECTIONS
# What a kind trains on: one image folder (DATA), two domains (DATA with a/ and b/, or --a and --b), or a trained
# run it learns from (RUN: its options' `teacher`).
IMAGE_FOLDER, TWO_DOMAINS, TEACHER_RUN = "folder", "domains", "run"
# The kind of runs from before config.json recorded one.
DEFAULT_KIND = "cyclegan"


def resolve(ref: Ref) -> Any:
    """The object `ref` names: itself, or for "module.path:attribute" that attribute of the imported module."""
    if not isinstance(ref, str):
        return ref
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class ModelKind:
    """One kind of model: how it trains, resumes, loads for inference and is judged.

    options: its TrainOptions subclass (vidgan.training.options), whose fields are `vidgan train NAME`'s flags.
    build_task: (run config dict, torch.device) → a Trainable (vidgan.training.loop); rebuilds the task on resume.
    train: options → TrainResult, starting a new run; None: vidgan.training.launch.start_run (validate, refuse a
        folder that holds a run, record the options, train).
    data: IMAGE_FOLDER (one folder, its options' `data`) or TWO_DOMAINS (its options' `a_dir` and `b_dir`).
    directions: what it translates (NO_DIRECTIONS, A2B_ONLY, BOTH_DIRECTIONS); `render`/`translate`/`export`
        refuse the others.
    load_generator: (checkpoint dict, Direction, device, averaged: bool) → a Generator (vidgan.models.protocol)
        in eval mode; required where `directions` is not empty.
    load_sampler: (checkpoint dict) → module mapping N × config.noise_dim latents to N×C×H×W images in [-1, 1],
        for `vidgan sample`; None for kinds that translate.
    evaluate: (RunFolder, config dict, EvalOptions) → the results eval.json holds (with "kind").
    eval_table: those results → (title line, column headers, rows of strings), for the terminal and the report.
    distributed: whether its task averages gradients over torchrun's processes (DDP).
    legacy: the options older versions' runs lack, for vidgan.runs.config.upgrade_config: oldest first,
        (last version whose runs can lack them, {option: value or function of the config}).
    sample_rows: what the rows of its sample grids show, for the report ("" says nothing).
    direction_note: why it translates only its `directions`, said when another is asked for ("" says nothing).
    """

    name: str
    options: Ref
    build_task: Ref
    evaluate: Ref
    eval_table: Ref
    train: Ref | None = None
    data: str = IMAGE_FOLDER
    directions: tuple[Direction, ...] = NO_DIRECTIONS
    load_generator: Ref | None = None
    load_sampler: Ref | None = None
    distributed: bool = False
    legacy: Ref = ()
    sample_rows: str = ""
    direction_note: str = ""

    def __post_init__(self) -> None:
        if self.data not in (IMAGE_FOLDER, TWO_DOMAINS, TEACHER_RUN):
            choices = one_of((IMAGE_FOLDER, TWO_DOMAINS, TEACHER_RUN))
            raise ValueError(f"model kind {self.name}: data must be {choices}, got {self.data!r}")
        if self.directions and self.load_generator is None:
            raise ValueError(f"model kind {self.name}: translates {len(self.directions)} direction(s) but has no load_generator")

    @property
    def options_type(self) -> type:
        return resolve(self.options)

    def get(self, field: str) -> Any:
        """The callable of a field (`kind.get("build_task")(config, device)`), imported at first use."""
        return resolve(getattr(self, field))

    def check_direction(self, direction: Direction, source: object) -> None:
        """Raise for a direction this kind cannot translate: VidganError when it translates none (`source`, the
        run or checkpoint, is named), UsageError (exit 2) for b2a of an a→b-only kind."""
        if not self.directions:
            need = one_of(translating_kinds())
            raise VidganError(f"{source}: holds a {self.name} model, which cannot translate images (need a run of {need})")
        if direction not in self.directions:
            can = " and ".join(d.name for d in self.directions)
            why = f": {self.direction_note}" if self.direction_note else ""
            raise UsageError(f"--direction: a {self.name} run translates {can} only, not {direction.name}{why}")


MODEL_KINDS: dict[str, ModelKind] = {}


def register_kind(kind: ModelKind) -> ModelKind:
    """Add `kind` to the table (replacing one of the same name); returns it."""
    MODEL_KINDS[kind.name] = kind
    return kind


def model_kind(name: str, source: object = None) -> ModelKind:
    """The registered kind `name`; VidganError naming `source` (a run or checkpoint) for an unknown one."""
    if name not in MODEL_KINDS:
        where = f"{source}: holds" if source is not None else "no such kind:"
        raise VidganError(f"{where} an unknown kind of model ({name!r}; vidgan knows {one_of(tuple(MODEL_KINDS))})")
    return MODEL_KINDS[name]


def kind_names() -> tuple[str, ...]:
    """Every registered kind's name, in registration order."""
    return tuple(MODEL_KINDS)


def translating_kinds() -> tuple[str, ...]:
    return tuple(name for name, kind in MODEL_KINDS.items() if kind.directions)


def _register_translation_kinds() -> None:
    """cyclegan, cut and fastcut: the kinds translating between two domains."""
    # what every kind translating between two domains shares: its data, generator loading, evaluation and DDP
    translation = {
        "data": TWO_DOMAINS,
        "load_generator": "vidgan.runs.generators:generator_from_checkpoint",
        "evaluate": "vidgan.eval.cyclegan:evaluate_translation_run",
        "eval_table": "vidgan.eval.cyclegan:translation_table",
        "distributed": True,
    }
    register_kind(
        ModelKind(
            name="cyclegan",
            options="vidgan.training.options:CycleGANOptions",
            build_task="vidgan.training.cyclegan:build_task",
            train="vidgan.training.cyclegan:train_cyclegan",
            directions=BOTH_DIRECTIONS,
            legacy="vidgan.runs.config:CYCLEGAN_LEGACY",
            sample_rows="Rows: real a, a→b, a→b→a, real b, b→a, b→a→b.",
            **translation,
        )
    )
    for name, options, paper_name in (("cut", "CUTOptions", "CUT"), ("fastcut", "FastCUTOptions", "FastCUT")):
        register_kind(
            ModelKind(
                name=name,
                options=f"vidgan.training.options:{options}",
                build_task="vidgan.training.cut:build_task",
                train="vidgan.training.cut:train_cut",
                directions=A2B_ONLY,
                sample_rows="Rows: real a, a→b, real b, b→b (identity).",
                direction_note=f"{paper_name} trains one generator",
                **translation,
            )
        )


def _register_image_kinds() -> None:
    """dcgan, mlp-gan and vae: the kinds that draw new images of one folder."""
    sampler_eval = {"evaluate": "vidgan.eval.samples:evaluate_sampler_run", "eval_table": "vidgan.eval.samples:sampler_table"}
    for name, options, module, trainer, sampler in (
        ("dcgan", "DCGANOptions", "gan", "train_dcgan", "gan_sampler"),
        ("mlp-gan", "MLPGANOptions", "gan", "train_mlp_gan", "gan_sampler"),
        ("vae", "VAEOptions", "vae", "train_vae", "vae_sampler"),
    ):
        register_kind(
            ModelKind(
                name=name,
                options=f"vidgan.training.options:{options}",
                build_task=f"vidgan.training.{module}:build_task",
                train=f"vidgan.training.{module}:{trainer}",
                load_sampler=f"vidgan.runs.generators:{sampler}",
                legacy="vidgan.runs.config:COMMON_LEGACY",
                **sampler_eval,
            )
        )


def _register_builtin() -> None:
    """vidgan's own kinds, in the order commands list them."""
    _register_translation_kinds()
    register_kind(
        ModelKind(
            name="distill",
            options="vidgan.training.options:DistillOptions",
            build_task="vidgan.training.distill:build_task",
            train="vidgan.training.distill:train_distill",
            data=TEACHER_RUN,
            directions=BOTH_DIRECTIONS,  # those the run was distilled for (student_from_checkpoint refuses the others)
            load_generator="vidgan.runs.generators:student_from_checkpoint",
            evaluate="vidgan.eval.distill:evaluate_student_run",
            eval_table="vidgan.eval.distill:student_table",
            sample_rows="Rows per direction: real, the teacher's translation, the student's.",
        )
    )
    _register_image_kinds()


_register_builtin()
