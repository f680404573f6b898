"""Checked fields of the options dataclasses of every command: the numbers and choices each field takes.

Field metadata, read by `check_fields` (and by the CLI for the training options): "help"; "bounds" (a `Bounds`)
for numbers; "choices"; "flags" (the CLI's spelling, where it is not --field-name; the first names the option in
errors). No torch here, so that the CLI can check options without loading it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from vidgan.core.errors import UsageError


@dataclass(frozen=True)
class Bounds:
    """The finite numbers an option takes: from `low` (just above it with `above`) up to `high` (just below it
    with `below`)."""

    low: float
    high: float = math.inf
    above: bool = False
    below: bool = False

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        over_low = value > self.low if self.above else value >= self.low
        under_high = value < self.high if self.below else value <= self.high
        return over_low and under_high

    def describe(self) -> str:
        low, high = f"{self.low:g}", f"{self.high:g}"
        if self.high == math.inf:
            return f"above {low}" if self.above else f"{low} or more" if self.low == 0 else f"at least {low}"
        return f"from {'above ' if self.above else ''}{low} to {'below ' if self.below else ''}{high}"


AT_LEAST_1 = Bounds(1)
NOT_NEGATIVE = Bounds(0)
POSITIVE = Bounds(0, above=True)
FRACTION = Bounds(0, 1, below=True)  # 0 up to, not including, 1: Adam's betas, decays, dropout
UNIT = Bounds(0, 1)  # 0 to 1, both included: blends, shares


def option(default: Any, help: str = "", *, bounds: Bounds | None = None, choices: tuple = (), flags: tuple[str, ...] = ()) -> Any:
    """A field of an options dataclass with its default, help and accepted values."""
    return field(default=default, metadata={"help": help, "bounds": bounds, "choices": choices, "flags": flags})


def flag(name: str) -> str:
    """The CLI flag of the option `name`: batch_size → --batch-size."""
    return "--" + name.replace("_", "-")


def one_of(choices: tuple) -> str:
    """("a", "b", "c") → "a, b or c"."""
    names = [str(choice) for choice in choices]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def check_number(name: str, value: float | None, bounds: Bounds) -> None:
    """Raise UsageError "NAME must be …, got VALUE" unless `value` is None or a finite number within `bounds`."""
    if value is not None and not bounds.contains(value):
        raise UsageError(f"{name} must be {bounds.describe()}, got {value}")


def check_fields(options: Any) -> None:
    """Refuse the first field of the dataclass `options` outside its metadata's bounds or choices (None and bools
    pass): a UsageError naming the option by its flag."""
    for f in fields(options):
        value = getattr(options, f.name)
        if value is None or isinstance(value, bool):
            continue
        name = (f.metadata.get("flags") or (flag(f.name),))[0]
        choices, bounds = f.metadata.get("choices"), f.metadata.get("bounds")
        if choices and value not in choices:
            raise UsageError(f"{name} must be {one_of(choices)}, got {value!r}")
        if bounds is not None:
            check_number(name, value, bounds)
