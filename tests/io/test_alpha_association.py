"""Associated (premultiplied) alpha: OpenEXR and TIFF with ExtraSamples 1 are read as straight colour and written
back premultiplied; PNG and TIFF with ExtraSamples 2 (or none) are straight. Every image is made here."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vidgan.io.colorspaces import srgb_decode
from vidgan.io.imagefile import write_file
from vidgan.io.images import read_image, read_rgb
from vidgan.io.plates import stored_pixels
from vidgan.io.sequences import EXR, LINEAR, TIFF, ImageSequenceWriter, iter_sequence_frames, open_image_sequence
from vidgan.io.tiff import ASSOCIATED, extra_samples

STRAIGHT = np.float32([0.8, 0.4, 0.2])  # display-referred straight colour: 204, 102, 51 at 8 bits
# H×W alpha rising from 0 (top row) to 1 (bottom row): a soft edge with every opacity in between.
RAMP = np.linspace(0, 1, 16, dtype=np.float32)[:, None].repeat(12, 1)


def _premultiplied_exr(folder: Path) -> np.ndarray:
    """folder/p.0001.exr, float32 RGBA: the straight colour STRAIGHT (scene-linear in the file) times RAMP."""
    folder.mkdir()
    pixels = np.dstack([srgb_decode(STRAIGHT) * RAMP[..., None], RAMP])
    write_file(folder / "p.0001.exr", pixels, associated=True)
    return pixels


def _frame(folder: Path):
    return next(iter_sequence_frames(open_image_sequence(folder), Fraction(24)))


def _tiff_rgba(path: Path, pixels: np.ndarray, extra: int | None) -> None:
    """A TIFF of RGBA pixels (any depth), its ExtraSamples `extra` (1 or 2, written by OpenImageIO; None: as OpenCV
    encodes it, without the tag)."""
    if extra is not None:
        write_file(path, pixels, associated=extra == ASSOCIATED)
    else:
        assert cv2.imwrite(str(path), cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA))


def test_premultiplied_exr_reaches_the_generator_as_straight_colour_and_goes_back_as_stored(tmp_path):
    source = _premultiplied_exr(tmp_path / "plates")
    frame = _frame(tmp_path / "plates")
    assert frame.plate.premultiplied and np.array_equal(frame.plate.alpha, RAMP)
    # The 8-bit picture the generator gets: the straight colour at every alpha > 0, not darkened towards the edge.
    assert (frame.rgb[1:] == [204, 102, 51]).all()
    assert (frame.rgb[0] == 0).all()  # alpha 0: the colour as stored (0 in a well-formed file)
    assert np.allclose(frame.plate.display[1:], STRAIGHT, atol=2e-6)

    plate = frame.plate
    assert np.array_equal(stored_pixels(plate.display, plate, LINEAR, np.dtype(np.float32), premultiply=True), source)
    # Every pixel one step off the source's display values: the colour goes back to linear and is premultiplied again.
    nudged = np.nextafter(plate.display, np.float32(2))
    again = stored_pixels(nudged, plate, LINEAR, np.dtype(np.float32), premultiply=True)
    assert not np.array_equal(again, source)
    assert np.allclose(again, source, rtol=1e-5, atol=1e-9) and np.array_equal(again[..., 3], RAMP)
    # A straight format gets the straight colour with the same alpha.
    straight = stored_pixels(nudged, plate, LINEAR, np.dtype(np.float32))
    assert np.allclose(straight[1:, :, :3], srgb_decode(STRAIGHT), rtol=1e-5) and np.array_equal(straight[..., 3], RAMP)


def test_tiff_extra_samples_say_whether_colour_is_premultiplied(tmp_path):
    alpha = (RAMP * 65535).round().astype(np.uint16)
    colour = np.uint16([52000, 26000, 13000])
    premultiplied = np.dstack([np.rint(colour * RAMP[..., None]).astype(np.uint16), alpha])
    straight = np.dstack([np.broadcast_to(colour, (*RAMP.shape, 3)), alpha])
    files = {"associated": (premultiplied, 1), "unassociated": (straight, 2), "unmarked": (straight, None)}
    for name, (pixels, extra) in files.items():
        (tmp_path / name).mkdir()
        _tiff_rgba(tmp_path / name / "t_1.tif", pixels, extra)
    with Image.open(tmp_path / "associated" / "t_1.tif") as image:
        assert image.tag_v2[338] == (1,)  # another reader sees the tag too
    flags = {name: _frame(tmp_path / name).plate.premultiplied for name in files}
    assert flags == {"associated": True, "unassociated": False, "unmarked": False}
    for name in files:
        frame = _frame(tmp_path / name)
        # Straight colour in the picture either way: colour / alpha for the associated file (16-bit rounding apart).
        assert np.abs(frame.plate.display[1:] - colour / 65535).max() < 2e-4 and (frame.rgb[1:] == [202, 101, 51]).all()
    # Composited onto black for training: the associated colour as stored, the straight one times its alpha.
    over_black = [read_rgb(tmp_path / name / "t_1.tif").astype(int) for name in ("associated", "unassociated")]
    assert np.abs(over_black[0] - over_black[1]).max() <= 1 and over_black[0][-1].tolist() == [[202, 101, 51]] * 12


def test_8_bit_tiff_with_unassociated_alpha_keeps_its_colour_under_alpha(tmp_path):
    # OpenCV decodes 8-bit TIFFs through libtiff's RGBA interface, which premultiplies unassociated alpha.
    pixels = np.dstack([np.broadcast_to(np.uint8([200, 100, 50]), (2, 4, 3)), np.uint8([[0, 64, 128, 255]] * 2)])
    Image.fromarray(pixels, "RGBA").save(tmp_path / "straight.tif")  # Pillow marks it ExtraSamples 2
    assert extra_samples(tmp_path / "straight.tif") == 2
    assert np.array_equal(read_image(tmp_path / "straight.tif"), pixels)
    _tiff_rgba(tmp_path / "marked.tif", pixels, 1)
    assert extra_samples(tmp_path / "marked.tif") == 1 and np.array_equal(read_image(tmp_path / "marked.tif"), pixels)
    assert extra_samples(tmp_path / "unmarked.tif") is None  # no such file: not a TIFF this reader follows


def test_sequence_outputs_declare_and_keep_the_association(tmp_path):
    alpha = (RAMP * 65535).round().astype(np.uint16)
    source = np.dstack([np.rint(np.uint16([52000, 26000, 13000]) * RAMP[..., None]).astype(np.uint16), alpha])
    (tmp_path / "in").mkdir()
    _tiff_rgba(tmp_path / "in" / "t_1.tif", source, 1)
    frame = _frame(tmp_path / "in")
    tiff = ImageSequenceWriter(tmp_path / "tiff", "t_", 1, TIFF)
    tiff.write_frame(frame, frame.plate.display)
    written = tmp_path / "tiff" / "t_1.tif"
    assert extra_samples(written) == 1 and np.array_equal(read_image(written), source)  # associated in, associated out

    # --alpha matte into OpenEXR, whose RGBA is always associated: the colour premultiplied by the matte.
    exr = ImageSequenceWriter(tmp_path / "exr", "t_", 1, EXR, LINEAR)
    matte = RAMP[::-1].copy()  # 1 at the top, 0 at the bottom
    exr.write_frame(frame, frame.plate.display, matte)
    keyed = read_image(tmp_path / "exr" / "t_1.exr").astype(np.float32)
    expected = srgb_decode(frame.plate.display) * matte[..., None]
    assert np.allclose(keyed[..., :3], expected, rtol=2e-3, atol=1e-6) and np.allclose(keyed[..., 3], matte, atol=1e-3)
    assert (keyed[-1, :, :3] == 0).all()  # matte 0: nothing of the frame over the background
