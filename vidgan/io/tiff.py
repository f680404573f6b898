"""TIFF's ExtraSamples tag (338), which says what a fourth sample of an RGB pixel is: 1 = associated alpha (colour
premultiplied by it), 2 = unassociated (straight) alpha, 0 = unspecified. Read from the first image directory of a
file, and declared in the files vidgan writes (OpenCV's encoder leaves the tag out, though the TIFF 6.0
specification requires it wherever there are extra samples).

Neither decoder vidgan uses gives the tag for every TIFF: OpenCV exposes no tags, and Pillow refuses float RGBA
files. A classic TIFF header and one directory are all the tag needs, so they are read here.
"""

from __future__ import annotations

import struct
from pathlib import Path

EXTRA_SAMPLES = 338
ASSOCIATED = 1
UNASSOCIATED = 2
_SHORT = 3  # TIFF field type of ExtraSamples' values
_ENTRY = 12  # bytes of a classic TIFF directory entry: tag, type, value count, then a value of up to 4 bytes


def _classic_order(head: bytes) -> str | None:
    """The struct byte order ('<' or '>') of a classic TIFF's header (II or MM, then 42), else None (BigTIFF, whose
    offsets only files over 4 GiB need, is not followed)."""
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    return order if order is not None and len(head) >= 8 and struct.unpack_from(order + "H", head, 2)[0] == 42 else None


def extra_samples(path: Path) -> int | None:
    """The first value of the ExtraSamples tag of the file's first image, or None where the file has no such tag
    or is not a TIFF this reader follows (no classic TIFF header, a damaged directory)."""
    try:
        with open(path, "rb") as file:
            head = file.read(8)
            order = _classic_order(head)
            if order is None:
                return None
            file.seek(struct.unpack_from(order + "I", head, 4)[0])
            (count,) = struct.unpack(order + "H", file.read(2))
            entries = file.read(count * _ENTRY)
    except (OSError, struct.error):
        return None
    for start in range(0, len(entries) - _ENTRY + 1, _ENTRY):
        tag, kind, values, first = struct.unpack_from(order + "HHIH", entries, start)
        if tag == EXTRA_SAMPLES and kind == _SHORT and values <= 2:  # up to two SHORTs lie in the entry itself
            return first
    return None


def declare_extra_samples(encoded: bytes, value: int) -> bytes:
    """A classic TIFF (as OpenCV encodes one) whose first directory says ExtraSamples = `value` for its one extra
    sample: the directory, with the tag added or replaced, is appended and the header pointed at it; the pixel data
    and every other value stay where they are. ValueError for anything but a classic TIFF."""
    order = _classic_order(encoded)
    if order is None:
        raise ValueError("not a classic TIFF")
    (offset,) = struct.unpack_from(order + "I", encoded, 4)
    (count,) = struct.unpack_from(order + "H", encoded, offset)
    end = offset + 2 + _ENTRY * count
    entries = [encoded[start : start + _ENTRY] for start in range(offset + 2, end, _ENTRY)]
    entries = [entry for entry in entries if struct.unpack_from(order + "H", entry)[0] != EXTRA_SAMPLES]
    entries.append(struct.pack(order + "HHIHH", EXTRA_SAMPLES, _SHORT, 1, value, 0))
    entries.sort(key=lambda entry: struct.unpack_from(order + "H", entry)[0])  # the specification wants them sorted
    start = len(encoded) + len(encoded) % 2  # a directory begins on a word boundary
    directory = struct.pack(order + "H", len(entries)) + b"".join(entries) + encoded[end : end + 4]  # + next directory
    return encoded[:4] + struct.pack(order + "I", start) + encoded[8:] + b"\0" * (start - len(encoded)) + directory
