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
from rich.table import Column

# Progress and messages go to stderr so that stdout stays clean for what a command prints as its result.
console = Console(stderr=True)


def _whole() -> Column:
    """A progress column that is never cut short or wrapped."""
    return Column(no_wrap=True)


def make_progress(*, quiet: bool = False) -> Progress:
    """A bar with count, elapsed time, ETA and a free-text `info` field for losses or fps.

    The info field wraps onto more lines where the terminal is too narrow for it (a training run's losses take 80
    columns), so that the bar, the count and the ETA before it always show whole."""
    return Progress(
        TextColumn("[bold]{task.description}", table_column=_whole()),
        BarColumn(bar_width=20),
        MofNCompleteColumn(table_column=_whole()),
        TimeElapsedColumn(table_column=_whole()),
        TextColumn("eta", table_column=_whole()),
        TimeRemainingColumn(table_column=_whole()),
        TextColumn("{task.fields[info]}", table_column=Column(ratio=1)),
        console=console,
        disable=quiet,
    )


def warn(message: str) -> None:
    """One warning line on stderr."""
    console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True)
