"""The documentation follows the code: the committed CLI reference is what the commands generate, and every
`vidgan` command README.md and docs/ show parses (each is run with --help appended, so nothing is read or
written)."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

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


DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def documented_commands() -> list[list[str]]:
    """Each `vidgan …` command README.md and docs/ show, as argv: the lines of their code blocks (torchrun's too,
    each part of an `a && b` line on its own, comments cut) and the README's inline code that starts with `vidgan `
    (docs/' inline code names commands with gaps: `vidgan train KIND --config RUN/config.json`)."""
    lines = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
            lines += block.replace("\\\n", " ").splitlines()
        if document.name == "README.md":
            lines += re.findall(r"(?<!`)`(vidgan [^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    commands = []
    for line in lines:
        if not re.match(r"\s*(vidgan|torchrun) |.*&&\s*vidgan ", line):
            continue  # a file listing, another tool's command, a program's output
        words = shlex.split(line, comments=True)
        while words:
            part = words[: words.index("&&")] if "&&" in words else words
            words = words[len(part) + 1 :]
            if "vidgan" in part:  # (torchrun … -m vidgan …)
                commands.append(part[part.index("vidgan") + 1 :])
    return [list(argv) for argv in dict.fromkeys(map(tuple, commands))]  # each once


def test_the_docs_show_commands():
    commands = documented_commands()
    assert ["demo"] in commands and len(commands) > 40


@pytest.mark.parametrize("argv", documented_commands(), ids=lambda argv: " ".join(argv)[:60])
def test_every_documented_command_parses(argv, run_cli):
    """Each command, with --help added (before a `--`, after which the words are another command's: vidgan farm
    openjd … -- RENDER-ARGS), names a command and only flags it takes; nothing is read or written."""
    at = argv.index("--") if "--" in argv else len(argv)
    done = run_cli(*argv[:at], "--help", *argv[at:])
    assert done.code == 0 and done.stdout.startswith("Usage: vidgan "), done.stderr
