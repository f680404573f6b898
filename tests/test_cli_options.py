"""Every command's flags come from its options dataclass: --help shows each field's flag and default, the flags of
0.6 all still exist, --config FILE (TOML or JSON, or a run's config.json for train) sets options that flags on the
line override, and `vidgan train … --resume` takes the run's own command (tests/test_docs.py parses the commands
the docs show)."""

from __future__ import annotations

import json
import sys
from dataclasses import MISSING, fields
from enum import Enum
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from conftest import assert_clean_failure

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from vidgan.cli import app, option_flags
from vidgan.core.directions import B2A, DIRECTIONS
from vidgan.core.errors import UsageError
from vidgan.core.options import flag
from vidgan.demo import DemoOptions
from vidgan.eval.options import EvalOptions, VideoEvalOptions
from vidgan.io.extract import ExtractOptions
from vidgan.render.export import ExportOptions
from vidgan.render.farm import JoinOptions
from vidgan.render.openjd import OpenJDOptions
from vidgan.render.options import RenderOptions, SampleOptions, TranslateOptions
from vidgan.runs.kinds import MODEL_KINDS
from vidgan.runs.options import RunFolderOptions
from vidgan.training.options import CycleGANOptions

COMMANDS = {
    ("extract",): ExtractOptions,
    ("render",): RenderOptions,
    ("translate",): TranslateOptions,
    ("eval",): EvalOptions,
    ("export",): ExportOptions,
    ("sample",): SampleOptions,
    ("demo",): DemoOptions,
    ("eval-video",): VideoEvalOptions,
    ("report",): RunFolderOptions,
    ("plot",): RunFolderOptions,
    ("join",): JoinOptions,
    ("farm", "openjd"): OpenJDOptions,
    **{("train", name): kind.options_type for name, kind in MODEL_KINDS.items()},
}

# The flags each command took in vidgan 0.6 (read from its --help): the product's contract, so none may go.
FLAGS_0_6 = {
    "extract": "--a --b --crop --end --every --out --overwrite --pair-gap --quiet -q --scale --size --start",
    "sample": "--device --interpolate --out --run --seed -n",
    "translate": "--device --direction --out --overwrite --quiet -q --run --runtime",
    "render": "--alpha --arch --batch-size --checkpoint --codec --colorspace --compare --crf --detail --device --direction "
    "--feather --fit --fps --half --matte --no-audio --out --out-dir --overwrite --quiet -q --resume --roi --roi-track --run "
    "--runtime --scale --segments --temporal-smooth --tile --warp-error-every",
    "eval": "--a --b --c2st-repeats --classifier-steps --device --quiet -q --run --runtime --samples",
    "eval-video": "--quiet -q --source",
    "export": "--direction --format --out --overwrite --run",
    "demo": "--device --out --quiet -q",
    "train cyclegan": "--a --attention --no-attention --aug --b --batch-size --beta1 --beta2 --channels --checkpoint-every "
    "--compile --crop --cycle-weight --device --diffaug --no-diffaug --diffaug-policy --disc --disc-channels --disc-layers "
    "--downsamplings --ema --full-res-skip --no-full-res-skip --gen --holdout --identity-weight --iters --lr --lr-d "
    "--lr-decay-from --lr-g --minutes --no-cycle --out --pool --precision --quiet -q --res-blocks --sample-every --seed "
    "--size --spectral-norm --no-spectral-norm --temporal-form --temporal-weight --upsample",
    "train dcgan": "--aug --batch-size --beta1 --beta2 --channels --channels-in --checkpoint-every --critic-steps --device "
    "--diffaug --no-diffaug --holdout --iters --loss --lr-d --lr-g --minutes --noise-dim --out --quiet -q --sample-every "
    "--seed --size --slope",
    "train mlp-gan": "--aug --batch-size --beta1 --beta2 --channels --channels-in --checkpoint-every --critic-steps --device "
    "--dropout --holdout --iters --loss --lr-d --lr-g --minutes --noise-dim --out --quiet -q --sample-every --seed --size "
    "--slope",
    "train vae": "--aug --batch-size --beta1 --beta2 --channels --channels-in --checkpoint-every --device --holdout --iters "
    "--kl-weight --lr --minutes --noise-dim --out --quiet -q --sample-every --seed --size",
}


# What each command's usage line shows after [OPTIONS]: its arguments as users type them (Typer's own reads {run}).
ARGUMENTS = {
    "render": "INPUTS...",
    "translate": "INPUT",
    "eval-video": "OUTPUT",
    "report": "RUN",
    "plot": "RUN",
    "join": "PARTS",
    "farm openjd": "BUNDLE [-- RENDER-ARGS…]",
    **{f"train {name}": {"run": "RUN"}.get(kind.data, "[DATA]") for name, kind in MODEL_KINDS.items()},
}


def command_of(*path: str):
    found = typer.main.get_command(app)
    for name in path:
        found = found.commands[name]
    return found


def _plain(value: object) -> object:
    return value.value if isinstance(value, Enum) else value


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_each_command_takes_a_flag_per_field_with_its_default_and_help(path, run_cli):
    options_type = COMMANDS[path]
    params = {param.name: param for param in command_of(*path).params}
    shown = run_cli(*path, "--help").stdout
    help_text = " ".join(shown.split())
    arguments = ARGUMENTS.get(" ".join(path))
    assert shown.splitlines()[0] == f"Usage: vidgan {' '.join(path)} [OPTIONS]" + (f" {arguments}" if arguments else "")
    for option in option_flags(options_type):
        f = option.field
        param = params.pop(option.name)
        if f.metadata["argument"]:  # a positional argument, shown by its name
            names = (f.name,)
            assert param.param_type_name == "argument", option.name
        else:
            names = f.metadata["flags"] or (flag(f.name),)
            assert set(names) <= {*param.opts, *param.secondary_opts}, option.name
        if f.default is MISSING and f.default_factory is MISSING:
            assert param.required, option.name
        else:
            default = f.default if f.default is not MISSING else f.default_factory()
            assert _plain(param.default) == option.shown(default), option.name
            if default is not None and not isinstance(default, bool):
                assert f"[default: {_plain(param.default)}]" in help_text, option.name
        assert param.help == f.metadata["help"] and names[0] in help_text, option.name
    fields_of_no_flag = {p for p in params if p not in ("config", "run", "checkpoint", "inputs", "input", "render_args")}
    train_inputs = {"data", "a_dir", "b_dir", "teacher", "no_cycle", "resume"}
    assert fields_of_no_flag <= train_inputs, fields_of_no_flag  # every other parameter is a field's


def test_render_fields_of_another_form_are_read_as_the_flag_gives_them():
    names = {option.name: option for option in option_flags(RenderOptions)}
    assert names["directions"].parsed("both") == DIRECTIONS
    assert names["audio"].parsed(True) is False  # --no-audio given
    assert names["segments"].parsed("auto") is None and names["segments"].parsed("3") == 3
    assert names["fps"].parsed("29.97") * 1001 == 30000


@pytest.mark.parametrize("command", list(FLAGS_0_6))
def test_every_flag_of_0_6_is_still_there(command):
    params = command_of(*command.split()).params
    names = {name for param in params if param.param_type_name == "option" for name in (*param.opts, *param.secondary_opts)}
    assert set(FLAGS_0_6[command].split()) <= names


@pytest.fixture
def captured(monkeypatch):
    """The options object each of extract, render and eval was called with (their work after validate() replaced by a
    stop)."""
    seen = {}

    class Stop(Exception):
        pass

    def catch(name: str, position: int):
        def call(*args):
            args[position].validate()
            seen[name] = args[position]
            raise Stop

        return call

    import vidgan.eval.run
    import vidgan.io.extract
    import vidgan.render.video

    monkeypatch.setattr(vidgan.io.extract, "extract", catch("extract", 0))
    monkeypatch.setattr(vidgan.render.video, "render_video", catch("render", 2))
    monkeypatch.setattr(vidgan.eval.run, "evaluate_run", catch("eval", 1))
    return seen


def test_config_toml_sets_options_and_the_line_wins(run_cli, tmp_path, captured):
    config = tmp_path / "extract.toml"
    config.write_text('out = "data"\na = ["one.mp4", "two.mp4"]\nb = ["three.mp4"]\nevery = 0\nsize = 32\ncrop = "none"\n')
    run_cli("extract", "--config", config, "--every", 3)
    options = captured["extract"]
    assert (options.every, options.size, options.crop) == (3, 32, "none")  # --every from the line, the rest from the file
    assert options.a == [Path("one.mp4"), Path("two.mp4")] and options.out == Path("data")
    assert_clean_failure(run_cli("extract", "--config", config), "--every must be a whole number of 1 or more, got 0", code=2)


def test_config_json_gives_fields_in_their_own_form(run_cli, tmp_path, captured):
    config = tmp_path / "render.json"
    config.write_text(json.dumps({"directions": "b2a", "fps": 24, "audio": False, "segments": 2, "crf": 30, "codec": "ffv1"}))
    run_cli("render", "clip.mp4", "--run", "run", "--config", config, "--crf", 0)
    options = captured["render"]
    assert options.directions == (B2A,) and options.fps == 24 and options.audio is False and options.segments == 2
    assert (options.crf, options.codec) == (0, "ffv1")
    run_cli("render", "clip.mp4", "--run", "run", "--matte", "alpha")  # the alias of --alpha matte
    assert captured["render"].alpha == "matte" and captured["render"].matte is False


def test_config_nested_options_and_unknown_keys(run_cli, tmp_path, captured):
    config = tmp_path / "eval.toml"
    config.write_text('runtime = "onnxruntime"\n[classifier]\nsteps = 7\nc2st_repeats = 2\n')
    run_cli("eval", "--run", "run", "--config", config)
    options = captured["eval"]
    assert (options.classifier.steps, options.classifier.c2st_repeats, options.runtime) == (7, 2, "onnxruntime")
    assert options.classifier.patience == 50  # a setting the command line does not take keeps its default

    config.write_text("every = 2\nframe_step = 3\n")
    done = run_cli("extract", "--config", config, "--out", "x", "--a", "a.mp4", "--b", "b.mp4")
    assert_clean_failure(done, str(config), "unknown option 'frame_step'", code=2)
    config.write_text("every = \n")
    assert_clean_failure(run_cli("extract", "--config", config), str(config), "not valid TOML", code=2)


def test_config_gives_demo_eval_video_report_and_plot_their_arguments_and_options(run_cli, tmp_path, monkeypatch):
    import vidgan.demo
    import vidgan.eval.report
    import vidgan.eval.video
    import vidgan.runs.plots

    seen = []

    def record(options):
        seen.append(options)
        raise KeyboardInterrupt  # the work itself is not this test's

    monkeypatch.setattr(vidgan.demo, "run_demo", record)
    monkeypatch.setattr(vidgan.eval.video, "evaluate_video", record)
    monkeypatch.setattr(vidgan.eval.report, "write_report", record)
    monkeypatch.setattr(vidgan.runs.plots, "plot_run", record)
    config = tmp_path / "options.toml"
    config.write_text('run = "runs/cats"\n')
    run_cli("report", "--config", config)
    run_cli("plot", "runs/dogs", "--config", config)  # the argument on the line wins
    config.write_text('output = "out.mp4"\nsource = "a.mp4"\nquiet = true\n')
    run_cli("eval-video", "--config", config, "--source", "b.mp4")
    config.write_text('out = "demo"\ndevice = "cpu"\n')
    run_cli("demo", "--config", config, "-q")
    assert seen == [
        RunFolderOptions("runs/cats"),
        RunFolderOptions("runs/dogs"),
        VideoEvalOptions("out.mp4", "b.mp4", quiet=True),
        DemoOptions("demo", device="cpu", quiet=True),
    ]
    config.write_text("out = \"demo\"\niters = 3\n")
    assert_clean_failure(run_cli("demo", "--config", config), str(config), "unknown option 'iters'", code=2)


def test_a_runs_config_json_configures_train_only(run_cli, tmp_path, tiny_run, monkeypatch):
    import vidgan.training.launch

    started = []
    monkeypatch.setattr(vidgan.training.launch, "train", lambda options: started.append(options) or SimpleNamespace(checkpoint=None))
    recorded = tiny_run / "config.json"
    run_cli("train", "--config", recorded, "--out", tmp_path / "again", "--iters", 9)
    (options,) = started
    config = json.loads(recorded.read_text())
    assert options.to_config() == {**{f.name: config[f.name] for f in fields(CycleGANOptions)}, "out": str(tmp_path / "again"), "iters": 9}
    assert_clean_failure(run_cli("train", "dcgan", "--config", recorded), "records a cyclegan run", code=2)
    assert_clean_failure(run_cli("render", "clip.mp4", "--config", recorded), "configures vidgan train", code=2)


def test_resume_refuses_an_option_that_differs_from_the_runs_naming_both_values(run_cli, tiny_run):
    from vidgan.training.launch import resume_training

    recorded = json.loads((tiny_run / "config.json").read_text())
    done = run_cli("train", "--out", tiny_run, "--resume", "--channels", 8, "--gen", recorded["gen"])
    assert_clean_failure(done, f"--channels: {tiny_run} was started with --channels {recorded['channels']}, not 8", code=2)
    with pytest.raises(UsageError, match=f"--noise-dim: {tiny_run} holds a cyclegan run, which takes no --noise-dim"):
        resume_training(tiny_run, {"noise_dim": 8})
    with pytest.raises(UsageError, match="--ema must be from 0 to below 1, got 2"):
        resume_training(tiny_run, {"ema": 2.0})


@pytest.mark.slow
def test_resume_takes_the_runs_own_command_and_refuses_a_changed_option(run_cli, tmp_path, tiny_run):
    a, b, out = tiny_run.parent / "a", tiny_run.parent / "b", tmp_path / "run"  # the tiny run's image folders
    first = ["train", "--a", a, "--b", b, "--out", out, "--size", 64, "--channels", 4, "--res-blocks", 1, "--batch-size", 2]
    first += ["--disc-channels", 4, "--checkpoint-every", 1, "--device", "cpu", "-q"]
    assert run_cli(*first, "--iters", 1).code == 0
    done = run_cli(*first, "--iters", 2, "--resume")  # the same command with --resume, and more steps
    assert done.code == 0, done.stderr
    assert "resuming at step 1" in done.stderr and "trained to step 2" in done.stderr

    changed = run_cli(*first, "--iters", 3, "--resume", "--channels", 8)
    assert_clean_failure(changed, "--channels", f"{out} was started with --channels 4, not 8", code=2)
    other = run_cli(*[b if arg == a else arg for arg in first], "--resume")  # domain a's folder swapped
    assert_clean_failure(other, f"--a: {out} was started with --a {Path(a).resolve()}, not {b}", code=2)
    done = run_cli("train", "--config", out / "config.json", "--resume", "--iters", 3, "--device", "cpu")
    assert done.code == 0, done.stderr  # the run's own config.json is its own options
    assert json.loads((out / "config.json").read_text())["iters"] == 3


def test_version_is_the_packages(run_cli):
    result = run_cli("--version")
    assert result.code == 0, result.stderr
    version = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["version"]
    assert result.stdout.strip() == f"vidgan {version}"
