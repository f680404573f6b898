"""Rich progress bars shared by every long-running job (extract, train, render)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Progress and messages go to stderr so that stdout stays clean for what a command prints as its result.
console = Console(stderr=True)


def make_progress(*, quiet: bool = False) -> Progress:
    """A bar with count, elapsed time, ETA and a free-text `info` field for losses or fps."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=quiet,
    )


def warn(message: str) -> None:
    """One warning line on stderr."""
    console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True)
