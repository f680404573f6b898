"""`vidgan report`: one self-contained RUN/report.html (images embedded, no server, no network).

It shows the `vidgan eval` table (when RUN/eval.json exists), the loss curves and progress GIF (redrawn by
vidgan.runs.plots first), the latest sample grid, the held-out split and the config.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

from vidgan.core.errors import VidganError
from vidgan.core.fsutil import write_text_atomic
from vidgan.eval.run import eval_table_parts
from vidgan.runs.folder import RunFolder
from vidgan.runs.kinds import model_kind
from vidgan.runs.options import RunFolderOptions
from vidgan.runs.plots import refresh_plots
from vidgan.runs.splits import load_split

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; }
"""


def _embedded_image(path: Path, alt: str) -> str:
    """An <img> carrying the PNG or GIF file itself as a base64 data URI."""
    mime = "image/gif" if path.suffix.lower() == ".gif" else "image/png"
    return f'<img alt="{escape(alt)}" src="data:{mime};base64,{base64.b64encode(path.read_bytes()).decode("ascii")}">'


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...] | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join(
        "<tr>" + f"<td>{escape(row[0])}</td>" + "".join(f'<td class="num">{escape(c)}</td>' for c in row[1:]) + "</tr>" for row in rows
    )
    return f"<table>{head}{body}</table>"


def _images_section(run: RunFolder, rows: str) -> str:
    """Loss curves, the progress GIF and the latest sample grid, redrawn from the run folder first."""
    refresh_plots(run)
    parts = []
    if run.losses_plot_path.is_file():
        parts.append(f"<h2>Losses</h2>\n{_embedded_image(run.losses_plot_path, 'loss curves')}")
    latest = run.latest_sample()
    if latest is None:
        return "\n".join(parts) + "\n<p>No sample grids saved yet.</p>"
    rows = f"<p>{escape(rows)}</p>" if rows else ""
    parts.append(f"<h2>Samples</h2>\n{rows}<h3>Progress</h3>{_embedded_image(run.progress_gif_path, 'sample grids over training')}")
    parts.append(f"<h3>Latest: {escape(latest.stem)}</h3>{_embedded_image(latest, 'latest sample grid')}")
    return "\n".join(parts)


def _split_section(run: RunFolder) -> str:
    split = load_split(run.split_path)
    if split is None:
        return "<p>No held-out split recorded (the run trained on every image).</p>"
    rows = [(d, s.method, str(len(s.train)), str(len(s.held_out)), str(len(s.guard))) for d, s in split.items()]
    return _table(rows, ("domain", "split", "train", "held out", "guard (unused)"))


def _eval_section(run: RunFolder) -> str:
    if not run.eval_path.is_file():
        return f"<p>Not evaluated yet: run <code>vidgan eval --run {escape(str(run.root))}</code>, then the report again.</p>"
    try:
        summary, header, rows = eval_table_parts(json.loads(run.eval_path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise VidganError(f"{run.eval_path}: corrupt eval results (run vidgan eval again)") from None
    return f"<p>{escape(summary)}</p>" + _table(rows, header)


def write_report(options: RunFolderOptions) -> Path:
    """Write RUN/report.html from what the run folder holds; returns its path."""
    run = RunFolder(options.run)
    config = run.read_config()
    config_rows = [(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value)) for key, value in config.items()]
    kind = model_kind(config["kind"], run.root)
    title = f"vidgan {kind.name} run {run.root.resolve().name}"
    html = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n"
        f"<h2>Quality (vidgan eval)</h2>\n{_eval_section(run)}\n"
        f"{_images_section(run, kind.sample_rows)}\n"
        f"<h2>Held-out split</h2>\n{_split_section(run)}\n"
        f"<h2>Config</h2>\n{_table(config_rows)}\n"
        "</body>\n</html>\n"
    )
    write_text_atomic(run.report_path, html)
    return run.report_path
