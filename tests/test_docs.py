"""The documentation follows the code: the committed CLI reference is what the commands generate, and every
`vidgan` command the README shows parses (each is run with --help appended, so nothing is read or written)."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from vidgan.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_cli_reference_is_what_the_commands_generate():
    script = _load_script("cli_reference")
    committed = script.REFERENCE.read_text() if script.REFERENCE.exists() else ""
    assert committed == script.reference(), f"docs/reference/cli.md is out of date: run `{script.COMMAND}` and commit it"


def test_the_reference_names_every_command_and_option():
    text = _load_script("cli_reference").reference()
    for heading in ("## `vidgan render`", "### `vidgan train cyclegan`", "### `vidgan train dcgan`", "## `vidgan demo`"):
        assert heading in text
    # An option with its default and help, as `vidgan extract --help` gives them.
    assert "- `--every <int>` (default: `15`): Keep frames 0, N, 2N, … of each clip (decode order)." in text


def readme_commands() -> list[list[str]]:
    """Every `vidgan …` command in the README, as argv: the lines of its shell code blocks (each part of an `a && b`
    line on its own) and its inline code that starts with `vidgan `."""
    text = (ROOT / "README.md").read_text()
    lines = []
    for language, block in re.findall(r"```(\w*)\n(.*?)```", text, re.S):
        if language in ("", "sh", "bash", "console"):
            lines += block.replace("\\\n", " ").splitlines()
    lines += re.findall(r"(?<!`)`(vidgan [^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    commands = []
    for line in lines:
        if not re.match(r"\s*vidgan |.*&&\s*vidgan ", line) or "…" in line:
            continue  # a file listing, another tool's command, a program's output, a pattern with a gap
        words = shlex.split(line, comments=True)
        while words:
            part = words[: words.index("&&")] if "&&" in words else words
            words = words[len(part) + 1 :]
            if part and part[0] == "vidgan":
                commands.append(part[1:])
    return commands


def test_the_readme_shows_commands():
    assert ["demo"] in readme_commands()
    assert len(readme_commands()) >= 5


@pytest.mark.parametrize("argv", readme_commands(), ids=lambda argv: " ".join(argv)[:60])
def test_every_readme_command_parses(argv, capsys):
    # --help before a `--`, after which the words are another command's (vidgan farm openjd … -- RENDER-ARGS)
    at = argv.index("--") if "--" in argv else len(argv)
    try:
        main([*argv[:at], "--help", *argv[at:]])
    except SystemExit as done:
        assert done.code in (0, None), capsys.readouterr().err
    assert "Usage:" in capsys.readouterr().out
