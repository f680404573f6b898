"""Every numeric option of every command refuses NaN, infinities, negatives and (where it means nothing) zero with
one usage error naming it, before any work: the options are read from the CLI's own command objects, so a new one
is covered here without being listed (the `vidgan train MODEL` commands: tests/training/test_train_options.py)."""

from dataclasses import dataclass, field

import pytest
import typer
from conftest import BAD_NUMBERS, assert_clean_failure, numeric_options

from vidgan.cli import app, sync_train_commands
from vidgan.runs.kinds import kind_names


@dataclass(frozen=True)
class Case:
    """A command line whose other inputs pass the checks and then fail on `missing` (so that an option whose value
    passed is seen to pass), and the options whose 0 means something, with why."""

    args: tuple[str, ...]
    missing: str
    zero_means: dict[str, str] = field(default_factory=dict)


CASES = {
    ("extract",): Case(
        ("extract", "--out", "out", "--a", "gone.mp4", "--b", "gone.mp4"),
        "gone.mp4",
        {"--start": "the first frame", "--pair-gap": "no pairs"},
    ),
    ("sample",): Case(("sample", "--run", "gone", "--out", "out/grid.png"), "gone", {"--seed": "a seed"}),
    ("render",): Case(
        ("render", "gone.mp4", "--run", "gone", "--out", "out/clip.mp4"),
        "gone",
        {
            "--crf": "lossless H.264",
            "--feather": "a hard edge",
            "--temporal-smooth": "off",
            "--warp-error-every": "off",
            "--tile": "never tile",
            "--start": "the first frame",
        },
    ),
    ("farm", "openjd"): Case(("farm", "openjd", "out/bundle"), "one input"),
    ("eval",): Case(("eval", "--run", "gone"), "gone"),
    ("translate",): Case(("translate", "gone", "--run", "gone", "--out", "out"), "gone"),
    ("export",): Case(("export", "--run", "gone", "--out", "out/g.onnx", "--format", "onnx"), "gone"),
}


def _commands_with_numbers(group: typer.core.TyperGroup, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    found = set()
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found |= _commands_with_numbers(command, (*path, name))
        elif numeric_options(*path, name):
            found.add((*path, name))
    return found


def test_every_command_with_numeric_options_is_checked_here():
    # tests/training/test_train_options.py; `vidgan distill` is `vidgan train distill` under its own name
    trained = {command for model in kind_names() for command in (("train", model), (model,))}
    sync_train_commands()  # the commands of the kinds registered now (a test's toy kind is gone again)
    assert _commands_with_numbers(typer.main.get_command(app)) - trained == set(CASES)


@pytest.mark.parametrize("command", list(CASES), ids=" ".join)
def test_every_numeric_option_refuses_bad_numbers_before_any_work(command, run_cli, tmp_path):
    case = CASES[command]
    flags = numeric_options(*command)
    assert set(case.zero_means) <= set(flags)
    for flag in flags:
        for value in BAD_NUMBERS:
            done = run_cli(*case.args, flag, value)
            if value == "0" and flag in case.zero_means:
                assert_clean_failure(done, case.missing)  # 0 passed the checks
                assert flag not in done.stderr
            else:
                assert_clean_failure(done, flag, code=2)
            assert not (tmp_path / "out").exists(), (flag, value)


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_render_fps_taken_as_text_refuses_bad_numbers(value, run_cli, tmp_path):
    done = run_cli(*CASES[("render",)].args, "--fps", value)
    assert_clean_failure(done, "--fps", code=2)
