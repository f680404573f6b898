"""OpenEXR images with the `OpenEXR` package (the Academy Software Foundation's bindings): RGB and RGBA, half or
float samples, read and written whole (no hand-written parser)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR

from vidgan.core.errors import VidganError
from vidgan.core.fsutil import atomic_path


def read_exr(path: Path) -> np.ndarray:
    """H×W×3 RGB or H×W×4 RGBA as stored: float16 (half) or float32, scene-linear by convention. The R, G, B (or a
    grey Y) and optional A channels of the file's first part; VidganError for a file OpenEXR cannot read or one
    without colour channels (layered names such as diffuse.R are not picked)."""
    try:
        with OpenEXR.File(str(path), separate_channels=True) as image:
            channels = {name: channel.pixels for name, channel in image.channels().items()}
    except (OSError, RuntimeError, ValueError) as error:
        raise VidganError(f"{path}: not a readable OpenEXR image ({error})") from None
    if all(name in channels for name in "RGB"):
        colour = [channels[name] for name in "RGB"]
    elif "Y" in channels:
        colour = [channels["Y"]] * 3
    else:
        raise VidganError(f"{path}: no R, G, B or Y channels (it has {', '.join(sorted(channels))})")
    planes = colour + ([channels["A"]] if "A" in channels else [])
    half = all(plane.dtype == np.float16 for plane in planes)
    return np.dstack(planes).astype(np.float16 if half else np.float32)


def write_exr(path: Path, pixels: np.ndarray) -> None:
    """Write H×W×3 or H×W×4 float16 (half) or float32 pixels as RGB(A), ZIP-compressed, atomically."""
    names = "RGBA"[: pixels.shape[2]]
    channels = {name: np.ascontiguousarray(pixels[:, :, i]) for i, name in enumerate(names)}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with atomic_path(Path(path)) as temp, OpenEXR.File(header, channels) as image:
        image.write(str(temp))
