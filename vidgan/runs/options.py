"""The options of the commands that read one run folder as it is: `vidgan plot` and `vidgan report`.

No torch here, so the command line imports these when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidgan.core.options import option


@dataclass(frozen=True)
class RunFolderOptions:
    """The run folder `vidgan plot` (vidgan.runs.plots.plot_run) and `vidgan report`
    (vidgan.eval.report.write_report) read; a path may be given as a string."""

    run: Path = option(help="Run folder.", argument=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", Path(self.run))
