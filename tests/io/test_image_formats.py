"""Reading images at the depth their format stores, upright as viewers show them; OpenEXR and colour spaces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from vidgan.core.errors import UsageError
from vidgan.io.batches import load_image_folder
from vidgan.io.colorspaces import resolve_colorspace, srgb_decode, srgb_encode
from vidgan.io.exr import read_exr, write_exr
from vidgan.io.images import load_image, read_image, read_rgb
from vidgan.io.plates import split_plate, stored_pixels


def test_bit_depth_comes_from_the_format_not_the_values(tmp_path):
    dark = np.zeros((8, 12), np.uint16)
    dark[2:6, 3:9] = 250  # a fade to black: 250 of 65535
    cv2.imwrite(str(tmp_path / "dark.png"), dark)
    assert read_image(tmp_path / "dark.png").dtype == np.uint16
    assert read_image(tmp_path / "dark.png")[3, 4].tolist() == [250, 250, 250]
    assert read_rgb(tmp_path / "dark.png").max() == 1  # 250/65535 of white is 0.97 of 255: dark, not white

    ramp = np.tile(np.linspace(0, 1, 16, dtype=np.float32), (4, 1))  # a 32-bit float grey TIFF, 0..1
    cv2.imwrite(str(tmp_path / "ramp.tif"), ramp)
    assert read_image(tmp_path / "ramp.tif").dtype == np.float32
    assert read_rgb(tmp_path / "ramp.tif")[0, :, 1].tolist() == np.rint(np.linspace(0, 255, 16)).astype(int).tolist()

    folder = tmp_path / "training"
    folder.mkdir()
    cv2.imwrite(str(folder / "dark.png"), cv2.resize(dark, (64, 64), interpolation=cv2.INTER_NEAREST))
    assert load_image_folder(folder, 64).max().item() == 1  # what training sees


def _arrow(width: int = 96, height: int = 64) -> np.ndarray:
    """An asymmetric picture: red block top-left, green bar along the bottom, blue dot right of centre."""
    rgb = np.full((height, width, 3), 128, np.uint8)
    rgb[:20, :30] = (230, 20, 20)
    rgb[-10:, :] = (20, 230, 20)
    rgb[28:36, 60:68] = (20, 20, 230)
    return rgb


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_viewers_do(tmp_path, orientation):
    image = Image.fromarray(_arrow())
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(tmp_path / "photo.jpg", exif=exif, quality=95)
    with Image.open(tmp_path / "photo.jpg") as opened:
        upright = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    read = read_rgb(tmp_path / "photo.jpg")
    assert read.shape == upright.shape == ((96, 64, 3) if orientation >= 5 else (64, 96, 3))
    assert np.abs(read.astype(int) - upright).max() <= 2  # the two JPEG decoders round differently


def test_png_orientation_is_read_from_its_exif_chunk(tmp_path):
    image = Image.fromarray(_arrow())
    exif = image.getexif()
    exif[0x0112] = 8
    image.save(tmp_path / "turned.png", exif=exif)
    assert np.array_equal(read_rgb(tmp_path / "turned.png"), np.rot90(_arrow(), 1))


def test_training_squares_are_upright(tmp_path):
    stored = np.rot90(_arrow(64, 64), 1)  # stored turned a quarter to the left; Orientation 6 turns it back
    image = Image.fromarray(np.ascontiguousarray(stored))
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "side.jpg", exif=exif, quality=95)
    square = load_image(tmp_path / "side.jpg", 64)
    assert np.abs(square.astype(int) - _arrow(64, 64)).mean() < 3


def test_exr_round_trip_keeps_half_float_alpha_and_out_of_range_values(tmp_path):
    values = np.array([[[4.0, -0.05, 0.18, 1.0], [0.5, 1e-4, 12.0, 0.25]]], np.float32)
    for dtype in (np.float16, np.float32):
        write_exr(tmp_path / "plate.exr", values.astype(dtype))
        read = read_exr(tmp_path / "plate.exr")
        assert read.dtype == dtype and read.shape == (1, 2, 4)
        assert np.array_equal(read, values.astype(dtype))
    write_exr(tmp_path / "rgb.exr", values[:, :, :3])
    assert read_image(tmp_path / "rgb.exr").shape == (1, 2, 3)


def test_colour_spaces_round_trip_and_refuse_unknown_names():
    linear = np.array([[[0.0, 0.0018, 0.18], [1.0, 4.0, -0.05]]], np.float32)
    assert np.allclose(srgb_decode(srgb_encode(linear)), linear, rtol=1e-5, atol=1e-7)
    assert srgb_encode(np.float32([0.18]))[0] == pytest.approx(0.4614, abs=1e-4)  # mid grey: 118 of 255
    acescg = resolve_colorspace("ACEScg", exr=True)
    assert np.allclose(acescg.to_stored(acescg.to_display(linear)), linear, atol=1e-4)
    assert resolve_colorspace("auto", exr=True).name == "linear" and resolve_colorspace("auto", exr=False).is_display
    with pytest.raises(UsageError, match="--colorspace must be one of"):
        resolve_colorspace("no-such-space", exr=True)


def test_untouched_pixels_are_written_back_exactly_and_alpha_passes_through():
    rng = np.random.default_rng(0)
    stored = rng.uniform(-0.5, 8.0, (4, 5, 4)).astype(np.float32)
    space = resolve_colorspace("linear", exr=True)
    rgb, plate = split_plate(stored, space)
    assert rgb.dtype == np.uint8 and plate is not None and np.array_equal(plate.alpha, stored[:, :, 3])
    output = plate.display.copy()
    output[0, 0] = 0.5  # one translated pixel
    written = stored_pixels(output, plate, space, np.dtype(np.float32))
    assert np.array_equal(written[1:], stored[1:]) and np.array_equal(written[0, 1:], stored[0, 1:])
    assert written[0, 0, :3] == pytest.approx(srgb_decode(np.float32([0.5] * 3)), rel=1e-6)
    eight = np.zeros((2, 2, 3), np.uint8)
    assert split_plate(eight) == (eight, None)  # plain 8-bit RGB carries no plate


def test_translate_writes_rotated_photos_upright(tiny_run, run_cli, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    image = Image.fromarray(_arrow())  # stored 96x64
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(folder / "portrait.jpg", exif=exif)
    done = run_cli("translate", folder, "--run", tiny_run, "--out", tmp_path / "out", "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    with Image.open(tmp_path / "out" / "portrait.png") as written:
        assert written.size == (64, 96) and "exif" not in written.info  # upright pixels, no tag to turn them again
