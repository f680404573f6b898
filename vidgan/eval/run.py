"""`vidgan eval RUN`: measure a run by its kind, write RUN/eval.json, and lay its figures out as a table.

A CycleGAN run translates held-out images (vidgan.eval.cyclegan); a dcgan, mlp-gan or vae run is measured by
generated images (vidgan.eval.samples). Either way every figure stands beside a baseline from real images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from vidgan.core.errors import UsageError
from vidgan.core.fsutil import write_text_atomic
from vidgan.eval.cyclegan import cyclegan_table, evaluate_cyclegan_run
from vidgan.eval.options import ClassifierSettings, EvalOptions
from vidgan.eval.samples import evaluate_sampler_run, sampler_table
from vidgan.runs.folder import RunFolder
from vidgan.runs.generators import CYCLEGAN_KIND


def evaluate_run(run_dir: str | Path, options: EvalOptions) -> dict[str, Any]:
    """Evaluate the newest checkpoint of a run; writes RUN/eval.json and returns it. Options that do not apply to
    the run's kind are refused (UsageError)."""
    options.validate()
    run = RunFolder(run_dir)
    config = run.read_config()
    run.check_data(config)
    kind = config.get("kind", CYCLEGAN_KIND)
    if kind == CYCLEGAN_KIND:
        if options.samples is not None:
            raise UsageError(f"--samples is for dcgan, mlp-gan and vae runs; {run_dir} holds a CycleGAN run")
        results = evaluate_cyclegan_run(run, config, options)
    else:
        if options.a is not None:
            raise UsageError(f"--a/--b are for CycleGAN runs; {run_dir} holds a {kind} run, measured against its own images")
        if options.classifier.c2st_repeats != ClassifierSettings.c2st_repeats:
            raise UsageError(f"--c2st-repeats is for CycleGAN runs; {run_dir} holds a {kind} run")
        if options.runtime not in ("auto", "torch"):
            raise UsageError(f"--runtime {options.runtime} runs CycleGAN generators; {run_dir} holds a {kind} run")
        results = evaluate_sampler_run(run, config, options)
    write_text_atomic(run.eval_path, json.dumps(results, indent=2) + "\n")
    return results


def eval_table_parts(results: dict[str, Any]) -> tuple[str, tuple[str, ...], list[tuple[str, ...]]]:
    """The title line, column headers and rows of any run's eval table (for the terminal and the HTML report)."""
    if results.get("kind", CYCLEGAN_KIND) == CYCLEGAN_KIND:
        return cyclegan_table(results)
    return sampler_table(results)


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
