"""Checked fields of the options dataclasses of every command: the numbers and choices each field takes.

Field metadata, read by `check_fields` and by the CLI, which builds every command's flags from it (vidgan.cli):
"help"; "bounds" (a `Bounds`) for numbers; "choices"; "flags" (the CLI's spelling, where it is not --field-name;
the first names the option in errors); "metavar" (what --help shows for its value); "cli": False for a field the
command line does not take as a flag; "spelling" (a `Spelling`) for a value the command line gives in another
form; "aliases" (other words for a flag and its value); "argument": True for a field the command line takes
as a positional argument, not a flag (a run folder, a clip); "per_run": False for a training option that may change
when a run resumes. No torch here, so that the CLI can check options without loading it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
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


@dataclass(frozen=True)
class Spelling:
    """How the command line gives a field whose value it cannot take as it is: as a value of `type` (text, or a
    flag) from which `parse` makes the field's value, and which `show` makes of a field's value (for --help's
    default and for config files that hold the field's value). `choices` are those of the text."""

    parse: Callable[[Any], Any]
    show: Callable[[Any], Any] = lambda value: None if value is None else str(value)
    type: type = str
    choices: tuple = ()


# A flag that turns a field off (`--no-audio` for `audio`): given, the field is False.
NEGATED = Spelling(operator.not_, operator.not_, bool)


def option(
    default: Any = MISSING,
    help: str = "",
    *,
    bounds: Bounds | None = None,
    choices: tuple = (),
    flags: tuple[str, ...] = (),
    cli: bool = True,
    spelling: Spelling | None = None,
    aliases: dict[tuple[str, ...], tuple[str, ...]] | None = None,
    per_run: bool = True,
    metavar: str | None = None,
    argument: bool = False,
) -> Any:
    """A field of an options dataclass with its default (none: required), help and accepted values, and how the
    command line takes it (see the module docstring). `aliases` maps words a user may type (`--matte alpha`) to
    the flag and value they mean (`--alpha matte`)."""
    metadata = {"help": help, "bounds": bounds, "choices": choices, "flags": flags, "cli": cli, "spelling": spelling}
    more = {"aliases": aliases or {}, "per_run": per_run, "metavar": metavar, "argument": argument}
    return field(default=default, metadata={**metadata, **more})


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


def flag_of(f: Any) -> str:
    """The flag that names the dataclass field `f` in messages: its first "flags", else --field-name."""
    return (f.metadata.get("flags") or (flag(f.name),))[0]


def check_fields(options: Any) -> None:
    """Refuse the first field of the dataclass `options` outside its metadata's bounds or choices (None and bools
    pass): a UsageError naming the option by its flag."""
    check_values(type(options), {f.name: getattr(options, f.name) for f in fields(options)})


def check_values(options_type: type, values: dict[str, Any]) -> None:
    """`check_fields` for some fields of the dataclass `options_type`, given as name → value."""
    for f in fields(options_type):
        value = values.get(f.name)
        if f.name not in values or value is None or isinstance(value, bool):
            continue
        choices, bounds = f.metadata.get("choices"), f.metadata.get("bounds")
        if choices and value not in choices:
            raise UsageError(f"{flag_of(f)} must be {one_of(choices)}, got {value!r}")
        if bounds is not None:
            check_number(flag_of(f), value, bounds)
