"""Full-resolution detail for `render --detail source`: keep the footage's own pixels where the generator leaves the
image alone, and its fine detail where the generator keeps the structure.

The generator runs at a working scale (a 128-px short side, say), far below the footage's. Scaling its output back
up everywhere (`--detail model`, Fit.restore) blurs the whole plate: a 1280×720 frame through a 128-px working
scale and back keeps 0.03× of its Laplacian variance even when the generator changes nothing. `--detail source`
instead builds, from the working-scale input x and output G(x):

- the change matte: how far G(x) differs from x, through a soft threshold so it is exactly 0 where the generator
  changes nothing, then upscaled edge-aware with the full-resolution frame as the guide (fast guided upsampling,
  He & Sun 2015, of the colour guided filter, He, Sun & Tang 2013): the matte's edges follow the frame's real
  edges at full resolution instead of 8×-magnified working-scale pixels;
- the composite: source + matte · (translation − source), so outside the matte the frame is the source bit for
  bit. The translation is G(x) upscaled plus the source's luma detail above the working scale,
  Y(source) − up(Y(x)), weighted by how well G(x) keeps x's local structure: SSIM's contrast-structure term
  (Wang et al. 2004) of the lumas of x and G(x). Where the generator recolours or retones a region (its local
  structure correlates with x's), the grain, edges and text finer than the working scale come through; where it
  invents or erases structure (the term falls to 0), the old detail would ghost through, so it is left out.
  Only luma detail is added: a recoloured region takes the source's texture, not its old hue. Where neither x nor
  G(x) has structure at the working scale the term is near 1, so a recoloured flat region keeps its grain. That
  alone would also carry a texture finer than the working scale into a new material (a knitted glove's stripes
  through the bare hand that replaces it), so the weight also fades out where the luma changes by more than a
  recolour does (detail_weight).

Measured (tests/render/test_detail.py, bench/detail.py): an identity generator gives the source back exactly
(PSNR ∞, detail ratio 1, against 23.8 dB and 0.0004 for `--detail model` on a grainy 1080p plate at 128 px);
across a sharp source edge the matte rises by more than half in one pixel at the edge (magnifying the working
matte spreads it over 8), with a plateau within one working pixel where the generator's answer for the pixel
that straddles the edge differs from both sides; a recoloured region keeps 0.88–0.9 of the source's Laplacian
variance, an erased one under 0.05. The guided upsampling runs its box filters at the working scale; OpenCV's
ximgproc.guidedFilter (opencv-contrib) filters at full resolution only, at several times the cost.

Arrays are H×W×3 uint8 RGB for images and H×W float32 in [0, 1] for mattes; everything is vectorised OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidgan.core.errors import UsageError, VidganError
from vidgan.io.images import write_png

DETAILS = ("source", "model")
# A matte below this cannot move an 8-bit pixel (255 / 1024 < 0.5 levels): set to exactly 0.
_MATTE_FLOOR = 1 / 1024


def check_detail(detail: str) -> str:
    """The --detail value, or a UsageError naming the choices."""
    if detail not in DETAILS:
        raise UsageError(f"--detail must be one of {', '.join(DETAILS)}, got {detail!r}")
    return detail


@dataclass(frozen=True)
class DetailSettings:
    """How the change matte and the detail weight are made; sizes are in working-scale pixels.

    low, high: the per-pixel change (largest of |G(x) − x| over the channels, in 8-bit levels) that maps to matte
    0 and matte 1, linear between. A trained generator never returns its input exactly; changes below `low` count
    as none.
    radius, eps: the guided filter's window ((2·radius + 1)² working pixels), which also smooths the matte, and its
    regularisation (for a guide in [0, 1]: edges of contrast well above sqrt(eps) steer the matte, fainter ones do
    not). The change is not blurred before the filter: a blurred matte is no longer a linear function of the guide
    across the frame's edges, and the filter would spread it over them; its own window does the smoothing.
    structure_radius: the window of the structure-agreement measure and of the luma change below.
    swap_low, swap_high: the local luma change |Y(G(x)) − Y(x)| (8-bit levels, averaged over the structure window)
    from which the source's detail fades out, linearly, and at which it is gone: a change that large swaps the
    material (a dark knitted glove for bright skin), and the old material's texture must not show through the new
    one. Recolours and retones stay below `swap_low`: a hue rotation of a mid-tone plate moves luma by at most 44
    levels (bench/detail.py), while the demo's glove → hand moves it by about 140.
    """

    low: float = 8.0
    high: float = 32.0
    radius: int = 2
    eps: float = 1e-3
    structure_radius: int = 2
    swap_low: float = 48.0
    swap_high: float = 96.0

    def __post_init__(self) -> None:
        if not 0 <= self.low < self.high:
            raise UsageError(f"the matte's thresholds need 0 <= low < high, got {self.low} and {self.high}")
        if self.radius < 1 or self.structure_radius < 1 or self.eps <= 0:
            raise UsageError("the matte's radii must be 1 or more and its eps above 0")
        if not 0 <= self.swap_low < self.swap_high:
            raise UsageError(f"the detail's fade needs 0 <= swap_low < swap_high, got {self.swap_low} and {self.swap_high}")


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2·radius + 1)² window (edges reflected), per channel."""
    return cv2.boxFilter(image, -1, (2 * radius + 1, 2 * radius + 1))


def _luma(rgb: np.ndarray) -> np.ndarray:
    """H×W luma (ITU-R BT.601 weights; rounded for uint8) of an H×W×3 RGB image, uint8 or float32."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def working_matte(x: np.ndarray, gx: np.ndarray, settings: DetailSettings = DetailSettings()) -> np.ndarray:
    """h×w float32 in [0, 1]: how far the generator's output `gx` differs from its input `x` (both h×w×3 uint8).

    Exactly 0 wherever the change stays below `settings.low` levels.
    """
    if x.shape != gx.shape:
        raise VidganError(f"the generator's output is {gx.shape[1]}x{gx.shape[0]}, its input {x.shape[1]}x{x.shape[0]}")
    change = cv2.absdiff(x, gx).max(axis=2).astype(np.float32)
    return np.clip((change - settings.low) / (settings.high - settings.low), 0.0, 1.0)


def _solve_symmetric(sigma: list[np.ndarray], rhs: list[np.ndarray]) -> list[np.ndarray]:
    """Per pixel, solve Σ·a = rhs for symmetric 3×3 Σ given as its six planes (xx, xy, xz, yy, yz, zz), by cofactors
    (np.linalg.solve on a stack of 3×3 systems is ten times slower)."""
    xx, xy, xz, yy, yz, zz = sigma
    c_xx, c_xy, c_xz = yy * zz - yz * yz, xz * yz - xy * zz, xy * yz - xz * yy
    c_yy, c_yz, c_zz = xx * zz - xz * xz, xy * xz - xx * yz, xx * yy - xy * xy
    det = xx * c_xx + xy * c_xy + xz * c_xz
    r0, r1, r2 = rhs
    return [(c_xx * r0 + c_xy * r1 + c_xz * r2) / det, (c_xy * r0 + c_yy * r1 + c_yz * r2) / det,
            (c_xz * r0 + c_yz * r1 + c_zz * r2) / det]


class _Scratch:
    """Work arrays kept from frame to frame, one per name (replaced when the frame size changes): on the CPU a fresh
    full-resolution array costs more in page faults than the arithmetic done on it."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def __call__(self, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[name] = np.empty(shape, dtype)
        return array


def guided_upsample(
    guide_low: np.ndarray,
    guide_full: np.ndarray,
    p_low: np.ndarray,
    radius: int,
    eps: float,
    scratch: _Scratch | None = None,
) -> np.ndarray:
    """Upscale `p_low` (h×w float32) to guide_full's H×W, edge-aware: He & Sun's fast guided filter (2015).

    The colour guided filter (He, Sun & Tang 2013) fits p ≈ a·I + b in each (2·radius + 1)² window of the
    working-scale guide `guide_low` (h×w×3 uint8, the full-resolution guide scaled down); a and b, averaged and
    scaled up bilinearly, are applied to the full-resolution guide `guide_full` (H×W×3 uint8), whose own edges
    then shape the result. Where p is 0 in a whole window, a and b are 0 there, and so is the result.
    Returns H×W float32, not clipped.
    """
    scratch = scratch or _Scratch()
    guide = cv2.split(guide_low.astype(np.float32) / 255)
    mean_i = [_box(channel, radius) for channel in guide]
    mean_p = _box(p_low, radius)
    cov_ip = [_box(channel * p_low, radius) - mean * mean_p for channel, mean in zip(guide, mean_i)]
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    sigma = [_box(guide[i] * guide[j], radius) - mean_i[i] * mean_i[j] + (eps if i == j else 0.0) for i, j in pairs]
    a = _solve_symmetric(sigma, cov_ip)
    b = mean_p - a[0] * mean_i[0] - a[1] * mean_i[1] - a[2] * mean_i[2]
    height, width = guide_full.shape[:2]
    slopes = scratch("slopes", (height, width, 3), np.float32)  # per level of the uint8 guide
    cv2.resize(_box(cv2.merge(a) / 255, radius), (width, height), dst=slopes, interpolation=cv2.INTER_LINEAR)
    offset = scratch("offset", (height, width), np.float32)
    cv2.resize(_box(b, radius), (width, height), dst=offset, interpolation=cv2.INTER_LINEAR)
    cv2.multiply(guide_full, slopes, dst=slopes, dtype=cv2.CV_32F)
    result = cv2.transform(slopes, np.ones((1, 3), np.float32))
    return cv2.add(result, offset, dst=result)


def structure_agreement(x: np.ndarray, gx: np.ndarray, radius: int) -> np.ndarray:
    """h×w float32 in [0, 1]: SSIM's contrast-structure term (2σxy + C) / (σx² + σy² + C) of the lumas of x and gx.

    1 where gx keeps x's local structure and contrast (a change of colour or brightness), lower where it damps,
    invents or erases structure, 0 where it inverts it. C = (0.03 · 255)², SSIM's constant (Wang et al. 2004).
    """
    c = (0.03 * 255) ** 2
    lx, ly = _luma(x).astype(np.float32), _luma(gx).astype(np.float32)
    mean_x, mean_y = _box(lx, radius), _box(ly, radius)
    var_x = _box(lx * lx, radius) - mean_x * mean_x
    var_y = _box(ly * ly, radius) - mean_y * mean_y
    cov = _box(lx * ly, radius) - mean_x * mean_y
    return np.clip((2 * cov + c) / (var_x + var_y + c), 0.0, 1.0)


def detail_weight(x: np.ndarray, gx: np.ndarray, settings: DetailSettings = DetailSettings()) -> np.ndarray:
    """h×w float32 in [0, 1]: how much of the source's fine luma detail the translation keeps.

    structure_agreement(x, gx) times a fade on the local luma change: 1 up to `settings.swap_low` levels of
    |Y(gx) − Y(x)| (averaged over the structure window), 0 from `settings.swap_high` on, linear between. So a
    recolour keeps the source's grain and text, while a change of material (glove → hand) does not carry the old
    material's texture, even where neither image has structure at the working scale to tell them apart.
    """
    radius = settings.structure_radius
    change = _box(cv2.absdiff(_luma(x), _luma(gx)).astype(np.float32), radius)
    fade = np.clip((settings.swap_high - change) / (settings.swap_high - settings.swap_low), 0.0, 1.0)
    return structure_agreement(x, gx, radius) * fade


def _changed_rows(matte: np.ndarray) -> slice:
    """The rows that hold nonzero matte pixels (an empty slice when there are none)."""
    rows = np.flatnonzero(matte.any(axis=1))
    return slice(rows[0], rows[-1] + 1) if rows.size else slice(0, 0)


class SourceDetail:
    """`--detail source` for a stream of frames; keeps its full-resolution work arrays from one frame to the next.

    Arguments of every method: source, the H×W×3 uint8 full-resolution frame; x, the h×w×3 uint8 working-scale image
    it was scaled down to; gx, the generator's h×w×3 uint8 output for x. Results are fresh arrays.
    """

    def __init__(self, settings: DetailSettings = DetailSettings()) -> None:
        self.settings = settings
        self._scratch = _Scratch()

    def __call__(self, source: np.ndarray, x: np.ndarray, gx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the H×W×3 uint8 output, its H×W float32 change matte in [0, 1])."""
        matte = self.matte(source, x, gx)
        return self.composite(source, x, gx, matte), matte

    def matte(self, source: np.ndarray, x: np.ndarray, gx: np.ndarray) -> np.ndarray:
        """H×W float32 in [0, 1]: working_matte(x, gx) upscaled along `source`'s edges by guided_upsample.

        Exactly 0 where the generator changes nothing within the guided filter's reach.
        """
        low = working_matte(x, gx, self.settings)
        if not low.any():
            return np.zeros(source.shape[:2], np.float32)
        matte = guided_upsample(x, source, low, self.settings.radius, self.settings.eps, self._scratch)
        cv2.threshold(matte, _MATTE_FLOOR, 0.0, cv2.THRESH_TOZERO, dst=matte)  # negative and negligible values → 0
        return cv2.min(matte, 1.0, dst=matte)

    def composite(self, source: np.ndarray, x: np.ndarray, gx: np.ndarray, matte: np.ndarray) -> np.ndarray:
        """H×W×3 like `source`: (1 − matte) · source + matte · translation; equal to `source` wherever matte is 0.

        translation = gx scaled up (cubic, as Fit.restore does) + weight · (Y(source) − up(Y(x))): the source's
        luma detail above the working scale, weighted by detail_weight(x, gx). Rows without matte are skipped.
        A uint8 source gives a rounded, saturated uint8 result; a float32 source (display-referred, 1.0 = white, at
        the plate's full depth and range) a float32 one, nothing clipped.
        """
        height, width = source.shape[:2]
        result = source.copy()
        rows = _changed_rows(matte)
        if rows.stop == 0:
            return result
        depth = cv2.CV_8U if source.dtype == np.uint8 else cv2.CV_32F
        levels = np.float32(1 if depth == cv2.CV_8U else 1 / 255)  # x and gx are uint8

        def upscaled(name: str, image: np.ndarray, interpolation: int) -> np.ndarray:
            full = self._scratch(name, (height, width, *image.shape[2:]), image.dtype)
            return cv2.resize(image, (width, height), dst=full, interpolation=interpolation)[rows]

        weight = upscaled("weight", detail_weight(x, gx, self.settings), cv2.INTER_LINEAR)
        detail = upscaled("detail", _luma(x).astype(np.float32) * levels, cv2.INTER_CUBIC)
        plate = source[rows]
        cv2.subtract(_luma(plate), detail, dst=detail, dtype=cv2.CV_32F)
        cv2.multiply(detail, weight, dst=detail)
        translation = upscaled("translation", gx if depth == cv2.CV_8U else gx.astype(np.float32) * levels, cv2.INTER_CUBIC)
        spread = self._scratch("spread", (height, width, 3), np.float32)[rows]
        cv2.add(translation, cv2.cvtColor(detail, cv2.COLOR_GRAY2RGB, dst=spread), dst=translation, dtype=depth)
        alpha = matte[rows]
        if depth == cv2.CV_32F:
            # blendLinear divides by w1 + w2 + 1e-5, which only rounding to uint8 hides: blend directly, so a float
            # plate (and any inf or NaN in it) stays exact where the matte is 0.
            blend = plate + alpha[..., None] * (translation - plate)
            result[rows] = np.where(alpha[..., None] > 0, blend, plate)
            return result
        keep = cv2.subtract(1.0, alpha, dst=weight)
        # blendLinear: (w1·a + w2·b) / (w1 + w2), saturated and rounded to uint8; with w2 = 0 it returns a exactly.
        result[rows] = cv2.blendLinear(plate, translation, keep, alpha)
        return result


def matte_grey(matte: np.ndarray, dtype: type[np.unsignedinteger] = np.uint16) -> np.ndarray:
    """The matte as a grey image: H×W uint16 (0..65535) or uint8 (0..255), 0 = source, full = translation."""
    if dtype not in (np.uint8, np.uint16):
        raise ValueError(f"a grey matte is uint8 or uint16, not {np.dtype(dtype).name}")
    top = np.iinfo(dtype).max
    return (np.clip(matte, 0.0, 1.0) * top + 0.5).astype(dtype)


def write_matte(path: Path, matte: np.ndarray, dtype: type[np.unsignedinteger] = np.uint16) -> Path:
    """Write the matte as a grey PNG (16-bit by default, for compositing applications), atomically."""
    write_png(Path(path), matte_grey(matte, dtype))
    return Path(path)
