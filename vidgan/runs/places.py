"""Where a run's data folders are: recorded relative to the run as well as absolute, found again after a move.

A project folder that holds a run and its data (projA/run, projA/data) is copied or moved as a whole; its runs
must then train and evaluate on the data beside them, not on projA's. So a data folder that shares a common root
with the run folder (anything below the file system's root) is recorded both as it was (absolute) and relative
to the run; read back, the relative place wins wherever it exists. Where only the old absolute place still exists,
it is used with a warning (a run copied without its data); where neither does, one error line names both.
"""

from __future__ import annotations

import os
from pathlib import Path

from vidgan.core.errors import VidganError
from vidgan.core.progress import warn


def relative_place(folder: str | Path, run_root: Path) -> str | None:
    """`folder` relative to the run folder (POSIX separators), or None where the two share no root but the file
    system's (another drive, /mnt against /home)."""
    folder, root = Path(folder).resolve(), Path(run_root).resolve()
    try:
        common = Path(os.path.commonpath([folder, root]))
    except ValueError:  # different drives (Windows)
        return None
    if common == Path(common.anchor):
        return None
    return Path(os.path.relpath(folder, root)).as_posix()


def find_place(recorded: str | Path, relative: str | None, run_root: Path) -> Path:
    """Where a recorded data folder is now: relative to where the run folder is now when that exists (or when the
    old absolute place is gone too), else the recorded absolute path."""
    if relative is None:
        return Path(recorded)
    moved = Path(os.path.normpath(Path(run_root).resolve() / relative))
    return moved if moved.is_dir() or not Path(recorded).is_dir() else Path(recorded)


def check_place(what: str, recorded: str | Path, relative: str | None, run_root: Path) -> None:
    """For work that reads the data: VidganError naming the folder when it is nowhere, a warning when only its old
    absolute place is left (a run folder copied without its data). `what` names the folder ("RUN: data folder a")."""
    place = find_place(recorded, relative, run_root)
    if relative is None:
        if not place.is_dir():
            raise VidganError(f"{what} {recorded} is gone (the run records it as an absolute path)")
        return
    moved = Path(os.path.normpath(Path(run_root).resolve() / relative))
    if place.is_dir() and place != moved:
        warn(f"{what} is not at {moved}, beside the run as it was when trained ({relative}); using {recorded}")
    elif not place.is_dir():
        raise VidganError(f"{what} is gone: not at {moved} ({relative} from the run), nor where it was trained, {recorded}")
