"""The options of `vidgan eval`: how its judging classifiers train, and what is evaluated on which device.

No torch here, so the command line imports these when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vidgan.core.errors import UsageError
from vidgan.core.options import AT_LEAST_1, FRACTION, NOT_NEGATIVE, POSITIVE, Bounds, check_fields, option
from vidgan.render.options import DEFAULT_RUNTIME, DEVICE_HELP, QUIET, RUNTIME_HELP, RUNTIMES

SAMPLES = 256  # generated images a dcgan, mlp-gan or vae run is measured by, unless --samples says otherwise


@dataclass(frozen=True)
class ClassifierSettings:
    """How the judging classifiers are trained: balanced batches (half each class), Adam, mirror+crop augmentation."""

    steps: int = option(300, "Training steps of each judging classifier.", bounds=AT_LEAST_1, flags=("--classifier-steps",))
    batch_size: int = option(32, "Images per step, half of each class.", bounds=Bounds(2), flags=("classifier batch_size",), cli=False)
    lr: float = option(1e-3, "Adam learning rate.", bounds=POSITIVE, flags=("classifier lr",), cli=False)
    validation_share: float = option(
        0.2,
        "Share of the domain classifier's training images it is validated on.",
        bounds=FRACTION,
        flags=("classifier validation_share",),
        cli=False,
    )
    c2st_folds: int = option(
        2,
        "C2ST folds: every image is judged once by a classifier that did not train on it.",
        bounds=Bounds(2),
        flags=("classifier c2st_folds",), cli=False,
    )
    # C2ST is averaged over this many differently seeded classifiers (and fold splits): on a few dozen images one
    # seed alone moved it by up to 0.14.
    c2st_repeats: int = option(
        3, "[cyclegan] Average C2ST over this many classifier seeds (steadier on few images).", bounds=AT_LEAST_1
    )
    seed: int = option(0, bounds=NOT_NEGATIVE, flags=("classifier seed",), cli=False)
    # A classifier that has told PATIENCE batches in a row apart without a mistake has separated its training
    # images; stopping there changed no figure on the cats beyond seed noise (bench/eval.py) and spares most steps
    # on small held-out sets. None: always `steps`.
    patience: int | None = option(
        50,
        "Stop once this many batches in a row were told apart without a mistake.",
        bounds=AT_LEAST_1,
        flags=("classifier patience",),
        cli=False,
    )

    def validate(self) -> None:
        """Raises UsageError naming the first setting outside its bounds (NaN and infinities too)."""
        check_fields(self)


@dataclass(frozen=True)
class EvalOptions:
    """What `vidgan eval` (vidgan.eval.run.evaluate_run) measures; paths may be given as strings."""

    # CycleGAN: evaluate on these folders (both) instead of the held-out images
    a: Path | None = option(None, "Evaluate on this folder of domain a (default: held-out images).", flags=("--a",))
    b: Path | None = option(None, "Evaluate on this folder of domain b (default: held-out images).", flags=("--b",))
    samples: int | None = option(
        None, f"[dcgan/mlp-gan/vae] Generated images to measure (default {SAMPLES}).", bounds=Bounds(2)
    )
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)
    averaged: bool = option(True, "Judge runs trained with --ema by their averaged generator weights.", cli=False)
    # Who runs a CycleGAN run's generators (vidgan.render.runtimes); the samplers of other runs always run in torch.
    runtime: str = option(DEFAULT_RUNTIME, RUNTIME_HELP, choices=RUNTIMES)
    device: str = option("auto", DEVICE_HELP)
    quiet: bool = option(False, **QUIET)

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else Path(value))

    def validate(self) -> None:
        """Raises UsageError for options that cannot work with any run (the run's kind is checked by evaluate_run)."""
        if (self.a is None) != (self.b is None):
            raise UsageError("give both --a DIR and --b DIR, or neither (to use the run's held-out images)")
        check_fields(self)
        self.classifier.validate()


@dataclass(frozen=True)
class VideoEvalOptions:
    """What `vidgan eval-video` (vidgan.eval.video.evaluate_video) compares; paths may be given as strings."""

    output: Path = option(help="Rendered video or image sequence.", argument=True)
    source: Path = option(help="The clip it was rendered from (its motion is the reference).")
    quiet: bool = option(False, **QUIET)

    def __post_init__(self) -> None:
        for name in ("output", "source"):
            object.__setattr__(self, name, Path(getattr(self, name)))
