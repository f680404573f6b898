"""Write docs/reference/cli.md, the reference of every `vidgan` command and option, from the commands themselves.

    python scripts/cli_reference.py            # rewrite docs/reference/cli.md
    python scripts/cli_reference.py --check    # exit 1 if the committed file differs from what the code gives

It walks the click command tree Typer builds from `vidgan.cli.app` (`typer.main.get_command`), so every option,
default, choice and help text comes from where the CLI gets them (the options dataclasses' fields); nothing here
restates them. tests/test_docs.py fails when the committed file is out of date.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import typer.main

import vidgan.cli

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md"
COMMAND = "python scripts/cli_reference.py"

HEADER = f"""# Command-line reference

Every `vidgan` command with every option, its default and its help, as `vidgan COMMAND --help` shows them.
This page is generated from the commands (`{COMMAND}`); do not edit it by hand.
`python -m vidgan` works the same as `vidgan`.
"""


def escape(text: str) -> str:
    """Help text as Markdown: code spans (`…`) kept, Markdown's own characters escaped elsewhere."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()))
    return "".join(part if part.startswith("`") else re.sub(r"([\\*\[\]<>])", r"\\\1", part) for part in parts)


TRAILER = re.compile(r"\s*\[(default: .*|required)\]$")


def describe(param: Any, ctx: Any) -> str:
    """One bullet from the option's help record (what `--help` prints): its spellings and what it takes, then
    whether it is required and its default, then its help."""
    names, help_text = param.get_help_record(ctx)
    facts = []
    while match := TRAILER.search(help_text):
        facts.insert(0, match.group(1).replace("default: ", "default: `", 1) + ("`" if match.group(1) != "required" else ""))
        help_text = help_text[: match.start()]
    head = f"- `{names}`" + (f" ({'; '.join(facts)})" if facts else "")
    return head + (f": {escape(help_text)}" if help_text.strip() else "")


def command_section(path: list[str], command: Any, parent_ctx: Any) -> list[str]:
    """The Markdown of one command and, for a group, of each of its subcommands."""
    ctx = command.context_class(command, info_name=path[-1], parent=parent_ctx)
    title = " ".join(path)
    lines = [f"{'#' * min(len(path), 3)} `{title}`", ""]
    if command.hidden:
        lines += ["Not called by this name: its group's help above says how it is reached.", ""]
    if command.help:
        lines += [escape(command.help), ""]
    lines += ["```", f"{title} {' '.join(command.collect_usage_pieces(ctx))}", "```", ""]  # as --help's usage line
    params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False) and p.name != "help"]
    if params:
        lines += [describe(p, ctx) for p in params] + [""]
    for name, sub in getattr(command, "commands", {}).items():
        lines += command_section([*path, name], sub, ctx)
    return lines


def reference() -> str:
    """The whole page."""
    vidgan.cli.sync_train_commands()
    root = typer.main.get_command(vidgan.cli.app)
    ctx = root.context_class(root, info_name="vidgan")
    lines = [HEADER, escape(root.help or ""), ""]
    commands = getattr(root, "commands", {})
    for name, command in commands.items():
        summary = f": {escape(first_sentence(command.help))}" if command.help else ""
        lines.append(f"- [`vidgan {name}`](#{anchor(name)}){summary}")
    lines.append("")
    for name, command in commands.items():
        lines += command_section(["vidgan", name], command, ctx)
    return "\n".join(lines).rstrip() + "\n"


def anchor(name: str) -> str:
    """The id MkDocs gives the heading `vidgan NAME` (its toc extension's slug)."""
    return f"vidgan-{name}"


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    return re.split(r"(?<=[.:])\s", text, maxsplit=1)[0].rstrip(":")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare with the committed file")
    args = parser.parse_args()
    text = reference()
    if args.check:
        if REFERENCE.exists() and REFERENCE.read_text() == text:
            return 0
        print(f"{REFERENCE} is out of date: run `{COMMAND}` and commit it", file=sys.stderr)
        return 1
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE.write_text(text)
    print(f"wrote {REFERENCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
