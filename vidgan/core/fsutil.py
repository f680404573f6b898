"""Atomic file writes: a crash never leaves a truncated file under its final name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vidgan.core.errors import VidganError


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; done once, at import, before any threads write
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def temp_path_for(path: Path) -> Path:
    """A fresh hidden name beside `path` that keeps its suffix (muxers and image writers pick formats by it)."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); the finished file should get the usual permissions instead.
        os.fchmod(fd, 0o666 & ~_UMASK)
    finally:
        os.close(fd)
    return Path(name)


def through_links(path: Path) -> Path:
    """The file a write to `path` replaces: where `path` is a symbolic link (shot_latest.mp4 -> shot_v003.mp4), its
    final target, so that the target is replaced and the link stays, as editors save through links; else `path`."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path` (through a symbolic link: its target,
    through_links), on error it is removed.

    OSErrors (disk full, permissions) become a one-line VidganError naming `path`.
    """
    path = Path(path)
    temp = None
    try:
        target = through_links(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = temp_path_for(target)
        yield temp
        os.replace(temp, target)
    except OSError as error:
        if temp is not None:
            temp.unlink(missing_ok=True)
        raise VidganError(f"{path}: cannot write ({error.strerror or error})") from None
    except BaseException:
        if temp is not None:
            temp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as temp:
        temp.write_text(text, encoding="utf-8")

