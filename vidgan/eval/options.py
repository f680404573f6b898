"""The options of `vidgan eval`: how its judging classifiers train, and what is evaluated on which device.

No torch here, so the command line imports these when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vidgan.core.errors import UsageError

SAMPLES = 256  # generated images a dcgan, mlp-gan or vae run is measured by, unless --samples says otherwise


@dataclass(frozen=True)
class ClassifierSettings:
    """How the judging classifiers are trained: balanced batches (half each class), Adam, mirror+crop augmentation."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    validation_share: float = 0.2  # of the domain classifier's training images
    c2st_folds: int = 2  # every image is judged once by a classifier that did not train on it
    # C2ST is averaged over this many differently seeded classifiers (and fold splits): on a few dozen images one
    # seed alone moved it by up to 0.14.
    c2st_repeats: int = 3
    seed: int = 0

    def validate(self) -> None:
        """Raises UsageError when a classifier could not train or C2ST could not cross-validate."""
        if self.steps < 1 or self.c2st_folds < 2 or self.c2st_repeats < 1:
            raise UsageError("classifier steps must be at least 1, C2ST folds at least 2 and C2ST repeats at least 1")


@dataclass(frozen=True)
class EvalOptions:
    """What `vidgan eval` (vidgan.eval.run.evaluate_run) measures; paths may be given as strings."""

    a: Path | None = None  # CycleGAN: evaluate on this folder of domain a (with b) instead of the held-out images
    b: Path | None = None
    samples: int | None = None  # dcgan, mlp-gan, vae: generated images to measure (default SAMPLES)
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)
    averaged: bool = True  # judge runs trained with --ema by their averaged generator weights
    device: str = "auto"
    quiet: bool = False

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else Path(value))

    def validate(self) -> None:
        """Raises UsageError for options that cannot work with any run (the run's kind is checked by evaluate_run)."""
        if (self.a is None) != (self.b is None):
            raise UsageError("give both --a DIR and --b DIR, or neither (to use the run's held-out images)")
        if self.samples is not None and self.samples < 2:
            raise UsageError(f"--samples must be at least 2, got {self.samples}")
        self.classifier.validate()
