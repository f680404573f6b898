"""RenderOptions, TranslateOptions and EvalOptions: defaults, path coercion, and every check of validate()."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from conftest import assert_clean_failure

from vidgan.core.directions import A2B, B2A, DIRECTIONS
from vidgan.core.errors import UsageError
from vidgan.eval.options import ClassifierSettings, EvalOptions
from vidgan.render.boxes import Box
from vidgan.render.options import RenderOptions, TranslateOptions, render_directions
from vidgan.render.video import render_video


def test_defaults_are_valid_and_paths_given_as_strings_become_paths():
    options = RenderOptions(out="shot_a2b.mp4", out_dir=None, roi_track="boxes.csv")
    options.validate()
    assert options.out == Path("shot_a2b.mp4") and options.roi_track == Path("boxes.csv")
    assert (options.directions, options.codec, options.crf, options.fit) == ((A2B,), None, 18, "short-side")
    TranslateOptions("out").validate()
    assert TranslateOptions("out").out == Path("out")
    EvalOptions(a="a", b="b").validate()
    assert EvalOptions(a="a", b="b").a == Path("a")


def test_render_direction_choices():
    assert render_directions("both") == DIRECTIONS
    assert render_directions("b2a") == (B2A,)
    assert RenderOptions(directions=DIRECTIONS).direction_label == "both"
    assert RenderOptions(directions=(B2A,)).direction_label == "b2a"
    with pytest.raises(UsageError, match="--direction must be a2b or b2a, got 'sideways'"):
        render_directions("sideways")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"directions": ()}, "give each direction once"),
        ({"directions": (A2B, A2B)}, "give each direction once"),
        ({"directions": ("a2b",)}, "--direction must be a2b or b2a, got 'a2b'"),
        ({"arch": "resnet_12blocks"}, "--arch must be one of resnet_9blocks, resnet_6blocks, unet_128, unet_256"),
        ({"arch": "resnet_6blocks", "directions": DIRECTIONS}, "--direction both needs a vidgan run"),
        ({"codec": "mpeg2"}, "--codec must be one of h264, prores, prores4444, ffv1, png, tiff, exr, dpx, got 'mpeg2'"),
        ({"crf": 52}, "--crf must be from 0 to 51, got 52"),
        ({"crf": -1}, "--crf must be from 0 to 51, got -1"),
        ({"fit": "zoom"}, "--fit must be one of short-side, stretch, crop, native, got 'zoom'"),
        ({"roi": Box(0, 0, 10, 10), "roi_track": Path("boxes.csv")}, "give --roi or --roi-track, not both"),
        ({"roi": Box(0, 0, 10, 0)}, "--roi width and height must be positive, got 10x0"),
        ({"feather": -1}, "--feather must be 0 or more, got -1"),
        ({"fps": Fraction(0)}, "--fps must be positive, got 0"),
        ({"temporal_smooth": 1.5}, "--temporal-smooth must be from 0 to 1, got 1.5"),
        ({"temporal_smooth": float("nan")}, "--temporal-smooth must be from 0 to 1, got nan"),
        ({"warp_error_every": -1}, "--warp-error-every must be 0 or more, got -1"),
        ({"overwrite": True, "resume": True}, "give --overwrite or --resume, not both"),
        ({"batch_size": 0}, "--batch-size must be at least 1, got 0"),
    ],
)
def test_render_options_refuse_what_cannot_work(changes, message):
    with pytest.raises(UsageError, match=message):
        RenderOptions(**changes).validate()


def test_render_checks_its_options_before_reading_any_input(tmp_path):
    with pytest.raises(UsageError, match="--crf"):
        render_video(tmp_path / "missing.mp4", tmp_path / "no run", RenderOptions(crf=99))


def test_translate_and_eval_options_refuse_what_cannot_work():
    with pytest.raises(UsageError, match="--direction must be a2b or b2a, got 'b2a'"):
        TranslateOptions("out", direction="b2a").validate()
    with pytest.raises(UsageError, match="both --a DIR and --b DIR"):
        EvalOptions(a="a").validate()
    with pytest.raises(UsageError, match="--samples must be at least 2, got 1"):
        EvalOptions(samples=1).validate()
    refused = {
        "--classifier-steps must be at least 1, got 0": ClassifierSettings(steps=0),
        "classifier c2st_folds must be at least 2, got 1": ClassifierSettings(c2st_folds=1),
        "--c2st-repeats must be at least 1, got 0": ClassifierSettings(c2st_repeats=0),
        "classifier lr must be above 0, got nan": ClassifierSettings(lr=float("nan")),
    }
    for message, settings in refused.items():
        with pytest.raises(UsageError, match=message):
            EvalOptions(classifier=settings).validate()


@pytest.mark.parametrize(
    "args",
    [
        ["--crf", "60"],
        ["--temporal-smooth", "2"],
        ["--feather", "-2"],
        ["--warp-error-every", "-1"],
        ["--fps", "0"],
        ["--overwrite", "--resume"],
        ["--roi", "0,0,8,8", "--roi-track", "boxes.csv"],
        ["--arch", "resnet_6blocks", "--direction", "both"],
    ],
)
def test_cli_render_refuses_bad_options_in_one_line_before_writing(run_cli, make_clip, tmp_path, tiny_run, args):
    clip = make_clip("clip.mp4", n_frames=3)
    result = run_cli("render", clip, "--checkpoint", tiny_run, "--out", tmp_path / "r.mp4", *args, "-q")
    assert_clean_failure(result, args[0], code=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # nothing written
