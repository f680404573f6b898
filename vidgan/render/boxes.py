"""Boxes of a frame in source pixels: a fixed `--roi X,Y,W,H`, or a `--roi-track` CSV of one box per frame.

Plain Python (no NumPy, OpenCV or torch), so the render options can hold a Box while the CLI starts quickly.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vidgan.core.errors import UsageError, VidganError


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.width},{self.height}"

    def within(self, width: int, height: int) -> Box | None:
        """The part of this box inside a width×height frame; None when they do not overlap."""
        x0, y0 = max(self.x, 0), max(self.y, 0)
        x1, y1 = min(self.x + self.width, width), min(self.y + self.height, height)
        if x1 - x0 < 1 or y1 - y0 < 1:
            return None
        return Box(x0, y0, x1 - x0, y1 - y0)


def parse_box(text: str) -> Box:
    """'X,Y,W,H' in source pixels."""
    try:
        x, y, w, h = (int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--roi must be X,Y,W,H in whole pixels, got {text!r}") from None
    return Box(x, y, w, h)


def read_box_track(path: Path) -> Callable[[int], Box]:
    """A frame → box lookup from a CSV of frame,x,y,w,h rows (a header line is allowed).

    Frames between rows keep the box of the nearest earlier row; frames before the first row use the first.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = [row for row in csv.reader(file) if row and any(cell.strip() for cell in row)]
    except OSError as error:
        raise VidganError(f"{path}: cannot read the box track ({error.strerror or error})") from None
    if rows and not rows[0][0].strip().lstrip("-").isdigit():
        rows = rows[1:]  # header
    boxes: dict[int, Box] = {}
    for line, row in enumerate(rows, start=1):
        try:
            frame, x, y, w, h = (int(float(cell)) for cell in row)
        except ValueError:
            raise VidganError(f"{path}: row {line} is not frame,x,y,w,h numbers: {','.join(row)}") from None
        boxes[frame] = Box(x, y, w, h)
    if not boxes:
        raise VidganError(f"{path}: no boxes in the file (expected rows of frame,x,y,w,h)")
    frames = sorted(boxes)

    def box_at(frame: int) -> Box:
        earlier = [f for f in frames if f <= frame]
        return boxes[earlier[-1] if earlier else frames[0]]

    return box_at
