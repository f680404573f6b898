"""The two directions of an unpaired translation between domains a and b."""

from __future__ import annotations

from dataclasses import dataclass

from vidgan.core.errors import UsageError

DOMAINS = ("a", "b")


@dataclass(frozen=True)
class Direction:
    """A translation from the `source` domain to the `target` domain ("a" or "b"); `name` is how runs, checkpoints,
    metrics and the CLI spell it ("a2b")."""

    source: str
    target: str

    @property
    def name(self) -> str:
        return f"{self.source}2{self.target}"

    @property
    def reverse(self) -> Direction:
        return Direction(self.target, self.source)

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def parse(name: str | Direction) -> Direction:
        """The direction spelled `name` ("a2b" or "b2a"); raises UsageError for anything else."""
        if isinstance(name, Direction):
            return name
        for direction in DIRECTIONS:
            if direction.name == name:
                return direction
        raise UsageError(f"--direction must be {' or '.join(DIRECTION_NAMES)}, got {name!r}")


A2B = Direction("a", "b")
B2A = A2B.reverse
DIRECTIONS = (A2B, B2A)
DIRECTION_NAMES = tuple(d.name for d in DIRECTIONS)
