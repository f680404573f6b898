"""Plates from scanning and compositing through OpenImageIO: DPX (10-bit printing-density log and linear), Cineon,
multi-part, multi-layer OpenEXR with overscan, CMYK TIFF, PNG with an ICC profile or gAMA. Every input is made here
with OpenImageIO; every check is on values read back: code values outside the change, layers, parts, windows and
header fields carried."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import OpenImageIO as oiio
import pytest
import tifffile
from PIL import Image, ImageCms
from test_render_formats import _matte, _render, brighten_left  # noqa: F401 (brighten_left: a fixture, by name)

from vidgan.io.colorspaces import resolve_colorspace
from vidgan.io.imagefile import read_file, write_file
from vidgan.io.images import read_image

WIDTH, HEIGHT = 48, 32
FRAMES = (1001, 1002)


def _write(path: Path, pixels: np.ndarray, specs: list[oiio.ImageSpec] | None = None, **attributes) -> None:
    """One file by OpenImageIO: `pixels` as the spec built from them and `attributes`, or several parts (`specs`,
    `pixels` a list)."""
    output = oiio.ImageOutput.create(str(path))
    if specs is None:
        sample = {"float16": "half", "float32": "float"}.get(pixels.dtype.name, pixels.dtype.name)
        spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2], sample)
        for name, value in attributes.items():
            spec.attribute(name, *value) if isinstance(value, tuple) else spec.attribute(name, value)
        assert output.open(str(path), spec) and output.write_image(pixels), output.geterror()
    else:
        assert output.open(str(path), tuple(specs)), output.geterror()
        for index, (spec, part) in enumerate(zip(specs, pixels)):
            assert index == 0 or output.open(str(path), spec, "AppendSubimage")
            assert output.write_image(part), output.geterror()
    assert output.close()


def _spec_of(path: Path, subimage: int = 0) -> oiio.ImageSpec:
    image = oiio.ImageInput.open(str(path))
    assert image.seek_subimage(subimage, 0)
    spec = image.spec().copy()
    image.close()
    return spec


def _codes(frame: int) -> np.ndarray:
    """H×W×3 10-bit code values of a smooth scan around the Cineon mid-range (95 black .. 685 white)."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.dstack([200 + 8 * xs, 300 + 6 * ys, 500 - 4 * xs + frame % 10]).astype(np.uint16)


def _ten_bit(codes: np.ndarray) -> np.ndarray:
    """10-bit code values as OpenImageIO hands them over: scaled to 16 bits by bit replication."""
    return (codes << 6) | (codes >> 4)


def _dpx_plates(folder: Path, transfer: str) -> dict[int, np.ndarray]:
    folder.mkdir()
    sources = {}
    for number in FRAMES:
        sources[number] = _ten_bit(_codes(number))
        timecode = (0x01000000 | (number - 1000), 0)  # 01:00:00:0N
        _write(
            folder / f"scan.{number}.dpx",
            sources[number],
            **{"oiio:BitsPerSample": 10, "dpx:Transfer": transfer, "dpx:FrameRate": 24.0},
            **{"smpte:TimeCode": (oiio.TypeDesc("timecode"), timecode)},
        )
    return sources


@pytest.mark.usefixtures("brighten_left")
def test_dpx_log_scan_renders_to_dpx_with_its_code_values_and_header(run_cli, tmp_path):
    sources = _dpx_plates(tmp_path / "scan", "Printing density")
    assert read_file(tmp_path / "scan" / "scan.1001.dpx").source.native_space == "cineon"
    _render(run_cli, tmp_path, tmp_path / "scan", "--out", tmp_path / "graded")
    for number in FRAMES:
        written = tmp_path / "graded" / f"scan.{number}.dpx"
        spec = _spec_of(written)
        assert spec.get_int_attribute("oiio:BitsPerSample") == 10 and spec.get_string_attribute("dpx:Transfer") == "Printing density"
        assert spec.get_string_attribute("dpx:TimeCode") == f"01:00:00:0{number - 1000}"
        assert spec.get_float_attribute("dpx:FrameRate") == 24.0
        rendered = read_image(written)
        untouched = _matte(tmp_path / "graded_matte", f"scan.{number}.png") == 0
        assert untouched[:, 30:].all() and not untouched[:, :10].any()
        assert np.array_equal(rendered[untouched], sources[number][untouched])  # the scan's own code values
        # Brighter where changed: in log code values too, by the transform to display and back.
        assert (rendered[:, :10].astype(int) > sources[number][:, :10] + 1000).all()


def test_cineon_log_goes_to_the_network_as_display_light():
    # 685 of 1023 is white, 95 black, 468 the 18% grey card (Kodak): display values of 1.0, 0 and sRGB's 0.46.
    cineon = resolve_colorspace("cineon")
    codes = np.float32([[[685, 95, 468]]]) / 1023
    assert cineon.to_display(codes).ravel() == pytest.approx([1.0, 0.0, 0.4614], abs=2e-3)
    back = cineon.to_stored(cineon.to_display(codes))
    assert np.abs(back - codes).max() * 1023 < 0.01


@pytest.mark.usefixtures("brighten_left")
def test_dpx_linear_renders_to_dpx_and_to_display_png(run_cli, tmp_path):
    sources = _dpx_plates(tmp_path / "linear", "Linear")
    assert read_file(tmp_path / "linear" / "scan.1001.dpx").source.native_space == "linear"
    _render(run_cli, tmp_path, tmp_path / "linear", "--out", tmp_path / "dpx")
    rendered = read_image(tmp_path / "dpx" / "scan.1001.dpx")
    untouched = _matte(tmp_path / "dpx_matte", "scan.1001.png") == 0
    assert np.array_equal(rendered[untouched], sources[1001][untouched])
    assert _spec_of(tmp_path / "dpx" / "scan.1001.dpx").get_string_attribute("dpx:Transfer") == "Linear"

    _render(run_cli, tmp_path, tmp_path / "linear", "--out", tmp_path / "shot.mov", "--fps", "24")
    with av.open(str(tmp_path / "shot.mov")) as video:  # the first frame's timecode starts the video's
        assert {v for k, v in video.streams.video[0].metadata.items() if k.lower() == "timecode"} == {"01:00:00:01"}

    _render(run_cli, tmp_path, tmp_path / "linear", "--out", tmp_path / "png", "--codec", "png")
    png = read_image(tmp_path / "png" / "scan.1001.png").astype(np.float64) / 65535  # 16 bits, display-referred
    expected = resolve_colorspace("linear").to_display(sources[1001].astype(np.float32) / 65535)
    assert np.abs(png[:, 30:] - expected[:, 30:]).max() < 1 / 65535 + 1e-6


def _cineon_file(path: Path, codes: np.ndarray) -> None:
    """A 10-bit RGB Cineon file (Kodak's Cineon 4.5 header, big-endian; 3 samples left-justified per 32-bit word),
    written by hand: OpenImageIO reads Cineon but does not write it."""
    height, width, _ = codes.shape
    offset = 2048
    header = bytearray(offset)
    struct.pack_into(">IIIIII8s", header, 0, 0x802A5FD7, offset, 1024, 1024, 0, offset + width * height * 4, b"V4.5")
    struct.pack_into(">BB", header, 192, 0, 3)  # orientation: left to right, top to bottom; 3 channels
    for channel in range(3):
        # designator (universal metric, red/green/blue), 10 bits, size, code-value range 0..1023 for density 0..2.046
        struct.pack_into(">BBBBIIffff", header, 196 + 28 * channel, 0, channel + 1, 10, 0, width, height, 0.0, 0.0, 1023.0, 2.046)
    struct.pack_into(">BBBB", header, 680, 0, 5, 0, 0)  # pixel interleave, 10-bit samples left-justified in 32-bit words
    words = (codes[..., 0].astype(np.uint32) << 22) | (codes[..., 1].astype(np.uint32) << 12) | (codes[..., 2].astype(np.uint32) << 2)
    path.write_bytes(bytes(header) + words.astype(">u4").tobytes())


@pytest.mark.usefixtures("brighten_left")
def test_cineon_scan_renders_to_10_bit_printing_density_dpx(run_cli, tmp_path):
    (tmp_path / "cin").mkdir()
    for number in FRAMES:
        _cineon_file(tmp_path / "cin" / f"roll.{number}.cin", _codes(number))
    scan = read_file(tmp_path / "cin" / "roll.1001.cin")
    assert scan.source.native_space == "cineon" and np.array_equal(scan.pixels, _ten_bit(_codes(1001)))
    _render(run_cli, tmp_path, tmp_path / "cin", "--out", tmp_path / "dpx")
    written = tmp_path / "dpx" / "roll.1001.dpx"
    spec = _spec_of(written)
    assert spec.get_int_attribute("oiio:BitsPerSample") == 10 and spec.get_string_attribute("dpx:Transfer") == "Printing density"
    untouched = _matte(tmp_path / "dpx_matte", "roll.1001.png") == 0
    assert np.array_equal(read_image(written)[untouched], _ten_bit(_codes(1001))[untouched])


def _exr_shot(folder: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Two-part OpenEXR frames with overscan: part "beauty" (R, G, B, A and diffuse.R/G/B, half) and part "aux"
    (Z, float), each with a 56x36 data window at (-4, -2) around a 48x32 display window."""
    folder.mkdir()
    frames = {}
    for number in FRAMES:
        rng = np.random.default_rng(number)
        beauty = rng.uniform(0.02, 0.8, (36, 56, 7)).astype(np.float16)
        beauty[..., 3] = 1
        depth = rng.uniform(1, 100, (36, 56, 1)).astype(np.float32)
        specs = []
        beauty_channels = ("R", "G", "B", "A", "diffuse.R", "diffuse.G", "diffuse.B")
        for name, channels, sample in (("beauty", beauty_channels, "half"), ("aux", ("Z",), "float")):
            spec = oiio.ImageSpec(56, 36, len(channels), sample)
            spec.channelnames = channels
            spec.x, spec.y, spec.full_x, spec.full_y, spec.full_width, spec.full_height = -4, -2, 0, 0, WIDTH, HEIGHT
            spec.attribute("oiio:subimagename", name)
            spec.attribute("compression", "zip")
            specs.append(spec)
        specs[0].alpha_channel = 3
        _write(folder / f"comp.{number}.exr", [beauty, depth], specs)
        frames[number] = beauty, depth
    return frames


def _parts(path: Path) -> list[tuple[oiio.ImageSpec, np.ndarray]]:
    image = oiio.ImageInput.open(str(path))
    parts = []
    index = 0
    while image.seek_subimage(index, 0):
        spec = image.spec().copy()
        parts.append((spec, image.read_image(index, 0, 0, spec.nchannels, "float")))
        index += 1
    image.close()
    return parts


def _by_name(spec: oiio.ImageSpec, pixels: np.ndarray, names: str) -> np.ndarray:
    return pixels[..., [list(spec.channelnames).index(name) for name in names.split()]]


@pytest.mark.usefixtures("brighten_left")
@pytest.mark.parametrize("layer", [None, "diffuse"])
def test_exr_layer_is_translated_and_the_rest_of_the_file_carried(run_cli, tmp_path, layer):
    sources = _exr_shot(tmp_path / "comp")
    _render(run_cli, tmp_path, tmp_path / "comp", "--out", tmp_path / "out", *(["--layer", layer] if layer else []))
    picked, kept = ("diffuse.R diffuse.G diffuse.B", "R G B A") if layer else ("R G B A", "diffuse.R diffuse.G diffuse.B")
    for number in FRAMES:
        beauty, depth = sources[number]
        (spec, pixels), (aux_spec, aux) = _parts(tmp_path / "out" / f"comp.{number}.exr")
        assert spec.get_string_attribute("oiio:subimagename") == "beauty" and aux_spec.get_string_attribute("oiio:subimagename") == "aux"
        for part in (spec, aux_spec):  # the data window (overscan) and the display window
            assert (part.x, part.y, part.width, part.height) == (-4, -2, 56, 36)
            assert (part.full_x, part.full_y, part.full_width, part.full_height) == (0, 0, WIDTH, HEIGHT)
        assert np.array_equal(aux, depth)  # the other part as stored
        source = {"R G B A": beauty[..., :4], "diffuse.R diffuse.G diffuse.B": beauty[..., 4:]}
        assert np.array_equal(_by_name(spec, pixels, kept), source[kept].astype(np.float32))  # the other channels too
        translated = _by_name(spec, pixels, picked)
        untouched = _matte(tmp_path / "out_matte", f"comp.{number}.png") == 0
        assert untouched[:, 40:].all() and np.array_equal(translated[untouched], source[picked].astype(np.float32)[untouched])
        assert (translated[:, :10, :3] > source[picked][:, :10, :3].astype(np.float32) + 0.05).all()


def test_exr_layers_are_named_where_none_is_plain_or_the_asked_one_is_missing(run_cli, tmp_path):
    _exr_shot(tmp_path / "comp")
    done = run_cli("render", tmp_path / "comp", "--layer", "specular", "--run", tmp_path, "--device", "cpu")
    assert done.code == 2 and "--layer specular: no such layer or part" in done.stderr and "(layers: beauty, diffuse, aux)" in done.stderr
    (tmp_path / "layers").mkdir()
    spec = oiio.ImageSpec(WIDTH, HEIGHT, 6, "half")
    spec.channelnames = ("diffuse.R", "diffuse.G", "diffuse.B", "specular.R", "specular.G", "specular.B")
    _write(tmp_path / "layers" / "l.1001.exr", [np.zeros((HEIGHT, WIDTH, 6), np.float16)], [spec])
    done = run_cli("render", tmp_path / "layers", "--run", tmp_path, "--device", "cpu")
    assert done.code == 2 and "pick a layer with --layer (layers: diffuse, specular)" in done.stderr


@pytest.mark.usefixtures("brighten_left")
def test_png_plates_icc_profile_and_gamma_are_carried_to_image_outputs(run_cli, tmp_path):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # embedded, as a Display P3 one would be
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    rgb = np.dstack([40 + 4 * xs, 60 + 3 * ys, 200 - 2 * xs]).astype(np.uint8)
    for name in ("icc", "gamma"):
        (tmp_path / name).mkdir()
    for number in FRAMES:
        Image.fromarray(rgb).save(tmp_path / "icc" / f"p.{number}.png", icc_profile=profile)
        _write(tmp_path / "gamma" / f"g.{number}.png", rgb, **{"oiio:ColorSpace": "lin_rec709_scene"})  # gAMA 1.0
    with Image.open(tmp_path / "gamma" / "g.1001.png") as made:
        assert made.info["gamma"] == 1.0 and "icc_profile" not in made.info
    _render(run_cli, tmp_path, tmp_path / "icc", "--out", tmp_path / "icc_png")
    _render(run_cli, tmp_path, tmp_path / "icc", "--out", tmp_path / "icc_tiff", "--codec", "tiff")
    _render(run_cli, tmp_path, tmp_path / "gamma", "--out", tmp_path / "gamma_png")
    for written in (tmp_path / "icc_png" / "p.1001.png", tmp_path / "icc_tiff" / "p.1001.tif", tmp_path / "gamma_png" / "g.1001.png"):
        pixels = read_image(written)
        assert pixels.dtype == np.uint8 and np.array_equal(pixels[:, 30:], rgb[:, 30:])  # the values the profile is for
        with Image.open(written) as image:
            if "gamma" in written.parts[-2]:
                assert image.info["gamma"] == 1.0 and "icc_profile" not in image.info
            else:
                assert image.info["icc_profile"] == profile


@pytest.mark.parametrize("bits", [8, 10, 12, 16])
def test_dpx_keeps_its_depth_exactly(tmp_path, bits):
    sample = np.uint8 if bits == 8 else np.uint16
    codes = (np.arange(HEIGHT * WIDTH * 3).reshape(HEIGHT, WIDTH, 3) * 37 % (1 << bits)).astype(sample)
    stored = codes if bits in (8, 16) else (codes << (16 - bits)) | (codes >> (2 * bits - 16))  # bit replication
    write_file(tmp_path / "in.dpx", stored, attributes={"oiio:BitsPerSample": bits, "dpx:Transfer": "Printing density"})
    read = read_file(tmp_path / "in.dpx")
    assert read.pixels.dtype == sample and np.array_equal(read.pixels, stored) and read.source.bits == bits
    write_file(tmp_path / "out.dpx", read.pixels, source=read.source, same_space=True, attributes={"oiio:BitsPerSample": bits})
    assert _spec_of(tmp_path / "out.dpx").get_int_attribute("oiio:BitsPerSample") == bits
    assert np.array_equal(read_image(tmp_path / "out.dpx"), stored)


@pytest.mark.usefixtures("brighten_left")
def test_16_bit_cmyk_tiff_plates_render_as_rgb(run_cli, tmp_path):
    (tmp_path / "cmyk").mkdir()
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    cmyk = np.dstack([xs * 1000, ys * 1500, 30000 + xs * 100, np.full_like(xs, 5000)]).astype(np.uint16)
    for number in FRAMES:
        tifffile.imwrite(tmp_path / "cmyk" / f"print.{number}.tif", cmyk, photometric="separated", extratags=[(332, "H", 1, 1, True)])
    _render(run_cli, tmp_path, tmp_path / "cmyk", "--out", tmp_path / "rgb")
    rendered = read_image(tmp_path / "rgb" / "print.1001.tif")
    # RGB = (1 - C)(1 - K) per ink, at 16 bits; no alpha channel made up.
    expected = (65535 - cmyk[..., :3].astype(np.float64)) * (65535 - cmyk[..., 3:].astype(np.float64)) / 65535
    untouched = _matte(tmp_path / "rgb_matte", "print.1001.png") == 0
    assert rendered.shape == (HEIGHT, WIDTH, 3) and rendered.dtype == np.uint16
    assert np.abs(rendered[untouched] - expected[untouched]).max() <= 1
