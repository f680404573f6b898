"""`vidgan report`: one self-contained RUN/report.html (images embedded, no server, no network).

It shows the run's config, held-out split, loss curves (inline SVG), the progress of the sample grids as an
animated GIF, the latest sample grid, and the `vidgan eval` table when RUN/eval.json exists.
"""

from __future__ import annotations

import base64
import io
import json
from html import escape
from pathlib import Path

from PIL import Image

from vidgan.errors import VidganError
from vidgan.fsutil import write_text_atomic
from vidgan.pipelines.evaluate import eval_summary, table_rows
from vidgan.runs import RunFolder
from vidgan.splits import load_split

GIF_FRAMES = 24  # sample grids in the progress animation, evenly spread over training
GIF_FRAME_MS = 400
CURVE_POINTS = 400  # points per loss curve (longer runs are thinned evenly)
CURVE_SIZE = (480, 140)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { image-rendering: pixelated; max-width: 100%; }
.curves { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; }
svg { background: #fafafa; border: 1px solid #ddd; }
"""


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _png_uri(path: Path) -> str:
    return _data_uri(path.read_bytes(), "image/png")


def _progress_gif(samples: list[Path]) -> str:
    """The sample grids as an animated GIF data URI (at most GIF_FRAMES of them, evenly spread)."""
    if len(samples) > GIF_FRAMES:
        samples = [samples[round(i * (len(samples) - 1) / (GIF_FRAMES - 1))] for i in range(GIF_FRAMES)]
    frames = [Image.open(path).convert("RGB") for path in samples]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=GIF_FRAME_MS, loop=0)
    return _data_uri(buffer.getvalue(), "image/gif")


def _curve_svg(name: str, points: list[tuple[int, float]]) -> str:
    """One loss term against step as an inline SVG line chart with its range labelled."""
    if len(points) > CURVE_POINTS:
        points = [points[round(i * (len(points) - 1) / (CURVE_POINTS - 1))] for i in range(CURVE_POINTS)]
    width, height = CURVE_SIZE
    pad = 24
    steps, values = [p[0] for p in points], [p[1] for p in points]
    low, high = min(values), max(values)
    first, last = steps[0], steps[-1]

    def x(step: int) -> float:
        return pad + (step - first) / max(last - first, 1) * (width - 2 * pad)

    def y(value: float) -> float:
        return height - pad - (value - low) / max(high - low, 1e-12) * (height - 2 * pad)

    line = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points)
    return (
        f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
        f"<title>{escape(name)}</title>"
        f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{line}"/>'
        f'<text x="{pad}" y="14" font-size="12">{escape(name)}: {high:.4g} … {low:.4g}</text>'
        f'<text x="{pad}" y="{height - 6}" font-size="11">step {first}</text>'
        f'<text x="{width - pad}" y="{height - 6}" font-size="11" text-anchor="end">step {last}</text>'
        "</svg></figure>"
    )


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...] | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join(
        "<tr>" + f"<td>{escape(row[0])}</td>" + "".join(f'<td class="num">{escape(c)}</td>' for c in row[1:]) + "</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"


def _loss_section(run: RunFolder) -> str:
    series: dict[str, list[tuple[int, float]]] = {}
    for record in run.read_metrics():
        for name, value in record.items():
            if name not in ("step", "time") and isinstance(value, (int, float)):
                series.setdefault(name, []).append((int(record["step"]), float(value)))
    if not series:
        return "<p>No metrics logged yet.</p>"
    return '<div class="curves">' + "".join(_curve_svg(name, points) for name, points in series.items()) + "</div>"


def _samples_section(run: RunFolder) -> str:
    samples = run.samples()
    if not samples:
        return "<p>No sample grids saved yet.</p>"
    latest = samples[-1]
    return (
        "<p>Rows: real a, a→b, a→b→a, real b, b→a, b→a→b.</p>"
        f'<h3>Progress ({len(samples)} grids)</h3><img alt="sample grids over training" src="{_progress_gif(samples)}">'
        f'<h3>Latest: {escape(latest.stem)}</h3><img alt="latest sample grid" src="{_png_uri(latest)}">'
    )


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
        results = json.loads(run.eval_path.read_text(encoding="utf-8"))
        rows, summary = table_rows(results), eval_summary(results)
    except (ValueError, KeyError, TypeError):
        raise VidganError(f"{run.eval_path}: corrupt eval results (run vidgan eval again)") from None
    header = ("metric", *(d.replace("2", "→") for d in results["directions"]))
    return f"<p>{escape(summary)}</p>" + _table(rows, header)


def write_report(run_dir: Path) -> Path:
    """Write RUN/report.html from what the run folder holds; returns its path."""
    run = RunFolder(run_dir)
    config = run.read_config()
    config_rows = [(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value)) for key, value in config.items()]
    title = f"vidgan run {run.root.resolve().name}"
    html = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n"
        f"<h2>Quality (vidgan eval)</h2>\n{_eval_section(run)}\n"
        f"<h2>Samples</h2>\n{_samples_section(run)}\n"
        f"<h2>Losses</h2>\n{_loss_section(run)}\n"
        f"<h2>Held-out split</h2>\n{_split_section(run)}\n"
        f"<h2>Config</h2>\n{_table(config_rows)}\n"
        "</body>\n</html>\n"
    )
    write_text_atomic(run.report_path, html)
    return run.report_path
