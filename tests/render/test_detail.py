"""--detail source: the change matte and the composite on small synthetic frames (vidgan.render.detail)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidgan.core.errors import UsageError, VidganError
from vidgan.render.detail import (
    DetailSettings,
    SourceDetail,
    check_detail,
    detail_weight,
    matte_grey,
    structure_agreement,
    working_matte,
    write_matte,
)
from vidgan.render.framing import Fit

SCALE = 8  # full resolution / working scale
# How far a change reaches, in working pixels: the guided filter's window (radius 2), the average of its
# coefficients (radius 2 again) and one more for their bilinear upscaling.
REACH = 5


def laplacian_variance(rgb: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def detailed_frame(height: int = 256, width: int = 384, seed: int = 0) -> np.ndarray:
    """Colour gradients and broad stripes (structure at a 1/8 working scale) with grain, 1-px lines and small text
    (detail far above it)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    stripes = 30 * np.sin(2 * np.pi * xs / 64)
    frame = np.dstack([60 + 120 * xs / width, 80 + 100 * ys / height, 140 - 60 * xs / width]) + stripes[..., None]
    frame += rng.normal(0, 6, frame.shape)
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    for x in range(10, width, 37):
        cv2.line(frame, (x, 0), (x + 20, height - 1), (250, 250, 250), 1)
    cv2.putText(frame, "VIDGAN 0123", (20, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (10, 10, 10), 1)
    return frame


def shrink(frame: np.ndarray) -> np.ndarray:
    return cv2.resize(frame, (frame.shape[1] // SCALE, frame.shape[0] // SCALE), interpolation=cv2.INTER_AREA)


def test_identity_generator_returns_the_source_exactly_and_a_zero_matte():
    source = detailed_frame()
    x = shrink(source)
    output, matte = SourceDetail()(source, x, x.copy())
    assert matte.shape == source.shape[:2] and matte.dtype == np.float32
    assert not matte.any()
    assert np.array_equal(output, source)


def test_small_changes_below_the_threshold_leave_the_source_alone():
    source = detailed_frame()
    x = shrink(source)
    nudged = np.clip(x.astype(np.int16) + np.random.default_rng(1).integers(-7, 8, x.shape), 0, 255).astype(np.uint8)
    output, matte = SourceDetail()(source, x, nudged)  # |change| < low = 8 levels
    assert not matte.any()
    assert np.array_equal(output, source)


def test_a_changed_region_gets_the_matte_and_everything_else_stays_bit_for_bit():
    source = detailed_frame()
    x = shrink(source)
    gx = x.copy()
    gx[6:26, 8:40] = (200, 40, 40)  # working-scale box: full-resolution rows 48..208, columns 64..320
    output, matte = SourceDetail()(source, x, gx)
    inner = (slice(48 + REACH * SCALE, 208 - REACH * SCALE), slice(64 + REACH * SCALE, 320 - REACH * SCALE))
    assert matte[inner].min() == 1.0
    far = np.ones(matte.shape, bool)
    far[48 - REACH * SCALE : 208 + REACH * SCALE, 64 - REACH * SCALE : 320 + REACH * SCALE] = False
    assert not matte[far].any()
    assert np.array_equal(output[matte == 0], source[matte == 0])
    inside = output[inner].reshape(-1, 3).mean(axis=0)
    assert np.abs(inside - (200, 40, 40)).max() < 12  # the translation's colour


def test_the_matte_follows_a_sharp_source_edge_at_full_resolution():
    """The edge lies mid-way through a working pixel; the generator recolours the bright side."""
    rng = np.random.default_rng(2)
    edge = 203
    source = np.full((128, 384, 3), 60.0)
    source[:, edge:] = 200
    source = np.clip(source + rng.normal(0, 3, source.shape), 0, 255).astype(np.uint8)
    x = shrink(source)
    gx = x.copy()
    bright = x.mean(axis=2) > 128
    gx[bright, 0] = gx[bright, 0] // 3
    matte = SourceDetail().matte(source, x, gx)
    row = matte[64]
    steps = np.diff(row)
    assert int(np.argmax(steps)) + 1 == edge  # the biggest rise is at the source's edge…
    assert steps.max() > 0.5  # …and carries most of it within one pixel
    assert row[edge:].min() > 0.97 and row[: edge - REACH * SCALE].max() == 0.0
    # Magnifying the working-scale matte spreads the same rise over a working pixel or more.
    magnified = cv2.resize(working_matte(x, gx), (384, 128), interpolation=cv2.INTER_LINEAR)[64]
    assert np.diff(magnified).max() < 1.5 / SCALE


def test_source_detail_comes_through_where_the_structure_is_kept_and_not_where_it_is_erased():
    source = detailed_frame()
    x = shrink(source)
    recoloured, erased = x.copy(), x.copy()
    recoloured[4:28, 6:42, 2] = np.clip(x[4:28, 6:42, 2].astype(np.int16) + 60, 0, 255)  # structure kept
    erased[4:28, 6:42] = (0, 0, 255)  # the stripes gone
    box = (slice((4 + REACH) * SCALE, (28 - REACH) * SCALE), slice((6 + REACH) * SCALE, (42 - REACH) * SCALE))
    source_detail = laplacian_variance(source[box])
    kept, matte = SourceDetail()(source, x, recoloured)
    assert matte[box].min() == 1.0
    assert laplacian_variance(kept[box]) > 0.9 * source_detail
    model = Fit("short-side", x.shape[0], 8).restore(source, recoloured)  # --detail model
    assert laplacian_variance(model[box]) < 0.2 * source_detail
    flat, matte = SourceDetail()(source, x, erased)
    assert matte[box].min() == 1.0
    assert laplacian_variance(flat[box]) < 0.05 * source_detail


def knitted_glove() -> np.ndarray:
    """detailed_frame with a dark glove knitted in 1-px-scale stripes (the demo's, period 4.8 px: none of it is left
    at the working scale) over full-resolution rows 64-192, columns 96-288."""
    frame = detailed_frame()
    rows = np.arange(128)[:, None, None]
    frame[64:192, 96:288] = np.where(np.sin(rows * 1.3) > 0, (54, 62, 94), (40, 46, 70))
    return frame


def test_a_change_of_material_does_not_carry_the_old_texture_where_a_recolour_would():
    source = knitted_glove()
    x = shrink(source)
    hand = x.copy()
    hand[8:24, 12:36] = (224, 172, 140)  # glove → bare skin: luma up by about 140 levels
    box = (slice((8 + REACH) * SCALE, (24 - REACH) * SCALE), slice((12 + REACH) * SCALE, (36 - REACH) * SCALE))
    knit = laplacian_variance(source[box])
    assert knit > 100
    output, matte = SourceDetail()(source, x, hand)
    assert matte[box].min() == 1.0
    assert laplacian_variance(output[box]) < 0.01 * knit
    # Without the fade on the luma change the knit would come through: neither x nor G(x) has structure there.
    carried, _ = SourceDetail(DetailSettings(swap_low=254, swap_high=255))(source, x, hand)
    assert laplacian_variance(carried[box]) > 0.5 * knit
    # A recolour of the same glove (luma moved by 10 levels) keeps its knit.
    recoloured = x.copy()
    recoloured[8:24, 12:36, 0] += 35
    assert laplacian_variance(SourceDetail()(source, x, recoloured)[0][box]) > 0.8 * knit


def test_the_detail_weight_fades_with_the_luma_change_between_its_thresholds():
    x = np.full((16, 16, 3), 60, np.uint8)
    settings = DetailSettings()
    halfway = (settings.swap_low + settings.swap_high) / 2
    for change, weight in ((settings.swap_low - 8, 1.0), (halfway, 0.5), (settings.swap_high + 8, 0.0)):
        gx = x + np.uint8(change)
        assert detail_weight(x, gx, settings) == pytest.approx(np.full((16, 16), weight), abs=0.02)


def test_structure_agreement_is_one_for_the_same_structure_and_zero_for_the_inverse():
    x = shrink(detailed_frame())
    brighter = np.clip(x.astype(np.int16) + 30, 0, 255).astype(np.uint8)
    assert structure_agreement(x, x, 2).min() > 0.999
    assert np.median(structure_agreement(x, brighter, 2)) > 0.99
    assert np.median(structure_agreement(x, 255 - x, 2)) == 0.0


def test_composite_with_a_zero_matte_is_a_copy_of_the_source():
    source = detailed_frame()
    x = shrink(source)
    output = SourceDetail().composite(source, x, 255 - x, np.zeros(source.shape[:2], np.float32))
    assert np.array_equal(output, source) and output is not source


def test_one_source_detail_serves_frames_of_any_size_and_returns_fresh_arrays():
    detail = SourceDetail()
    first = detailed_frame()
    x = shrink(first)
    output, matte = detail(first, x, 255 - x)
    kept_output, kept_matte = output.copy(), matte.copy()
    for height, width in ((256, 384), (128, 192)):  # the same size again, then a smaller one
        frame = detailed_frame(height, width, seed=height)
        small = shrink(frame)
        again, again_matte = detail(frame, small, 255 - small)
        assert again.shape == frame.shape and again_matte.shape == frame.shape[:2]
        assert np.array_equal(again, SourceDetail()(frame, small, 255 - small)[0])
    assert np.array_equal(output, kept_output) and np.array_equal(matte, kept_matte)


def test_matte_as_a_grey_image(tmp_path):
    matte = np.array([[0.0, 0.5, 1.0]], np.float32)
    assert matte_grey(matte).tolist() == [[0, 32768, 65535]]
    assert matte_grey(matte, np.uint8).tolist() == [[0, 128, 255]]
    with pytest.raises(ValueError):
        matte_grey(matte, np.int32)
    written = cv2.imread(str(write_matte(tmp_path / "matte.png", matte)), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.tolist() == [[0, 32768, 65535]]


def test_bad_values_are_usage_errors():
    assert check_detail("source") == "source" and check_detail("model") == "model"
    with pytest.raises(UsageError, match="--detail must be one of source, model"):
        check_detail("both")
    with pytest.raises(UsageError):
        DetailSettings(low=40, high=20)
    with pytest.raises(UsageError, match="swap_low < swap_high"):
        DetailSettings(swap_low=100, swap_high=50)
    x = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(VidganError, match="8x4"):
        working_matte(x, x[:4])
