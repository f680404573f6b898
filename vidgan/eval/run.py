"""`vidgan eval RUN`: measure a run by its kind, write RUN/eval.json, and lay its figures out as a table.

Each kind's record (vidgan.runs.kinds) names its evaluator and table: a run that translates (cyclegan) translates
held-out images (vidgan.eval.cyclegan); a dcgan, mlp-gan or vae run is measured by generated images
(vidgan.eval.samples). Either way every figure stands beside a baseline from real images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from vidgan.core.errors import UsageError
from vidgan.core.fsutil import write_text_atomic
from vidgan.eval.options import ClassifierSettings, EvalOptions
from vidgan.runs.folder import RunFolder
from vidgan.runs.kinds import DEFAULT_KIND, model_kind


def evaluate_run(run_dir: str | Path, options: EvalOptions) -> dict[str, Any]:
    """Evaluate the newest checkpoint of a run; writes RUN/eval.json and returns it. Options that do not apply to
    the run's kind are refused (UsageError)."""
    options.validate()
    run = RunFolder(run_dir)
    config = run.read_config()
    kind = model_kind(config["kind"], run.root)
    if kind.directions:
        if options.samples is not None:
            raise UsageError(f"--samples is for runs that draw images (dcgan, mlp-gan, vae); {run_dir} holds a {kind.name} run")
    else:
        if options.a is not None:
            raise UsageError(f"--a/--b are for runs that translate; {run_dir} holds a {kind.name} run, measured against its own images")
        if options.classifier.c2st_repeats != ClassifierSettings.c2st_repeats:
            raise UsageError(f"--c2st-repeats is for runs that translate; {run_dir} holds a {kind.name} run")
        if options.runtime not in ("auto", "torch"):
            raise UsageError(f"--runtime {options.runtime} runs translating generators; {run_dir} holds a {kind.name} run")
    results = kind.get("evaluate")(run, config, options)
    write_text_atomic(run.eval_path, json.dumps(results, indent=2) + "\n")
    return results


def eval_table_parts(results: dict[str, Any]) -> tuple[str, tuple[str, ...], list[tuple[str, ...]]]:
    """The title line, column headers and rows of any run's eval table (for the terminal and the HTML report)."""
    return model_kind(results.get("kind", DEFAULT_KIND)).get("eval_table")(results)


def eval_table(results: dict[str, Any]) -> Table:
    """The eval table of `results` (what evaluate_run returns or eval.json holds) for the terminal."""
    title, header, rows = eval_table_parts(results)
    table = Table(title=title, title_justify="left")
    table.add_column(header[0])
    for name in header[1:]:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(*row)
    return table
