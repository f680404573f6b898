"""`vidgan farm openjd`: a shot's render as an Open Job Description job bundle (specification 2023-09), which
AWS Deadline Cloud submits (`deadline bundle submit BUNDLE`) and `openjd run` (pip package openjd-cli) runs locally.

The bundle is template.yaml, the job (one step "Render" of N tasks, each `vidgan render … --segment K/N --parts
DIR`, and a step "Join" after it, `vidgan join DIR --out OUT`: vidgan.render.farm), and parameter_values.yaml, the
shot's paths. Paths are job parameters of type PATH (with their data flow, so that a farm maps them between
machines and moves the files it must); the other render options are written into the template as given.
Template schema: https://github.com/OpenJobDescription/openjd-specifications/wiki/2023-09-Template-Schemas
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vidgan.core.errors import UsageError
from vidgan.core.fsutil import write_text_atomic
from vidgan.core.options import AT_LEAST_1, check_fields, option

RENDER_STEP = "Render"
JOIN_STEP = "Join"
PART = "Part"  # the task parameter: K in 1 … N


@dataclass(frozen=True)
class JobPath:
    """How one path option of `vidgan render` becomes a PATH job parameter."""

    parameter: str  # the job parameter's name
    flag: str | None  # None for the input (positional)
    data_flow: str  # IN (read by the job) or OUT (written)
    object_type: str | None  # FILE or DIRECTORY, where it is always one
    description: str


# The path options of `vidgan render` (by their RenderOptions / command names) that a job takes as parameters.
RENDER_PATHS = {
    "inputs": JobPath("Input", None, "IN", None, "The shot: a video file, or an image sequence (folder or printf pattern)"),
    "run": JobPath("Run", "--run", "IN", "DIRECTORY", "The vidgan run folder whose generator renders the shot"),
    "checkpoint": JobPath("Checkpoint", "--checkpoint", "IN", None, "The checkpoint that renders the shot"),
    "roi_track": JobPath("RoiTrack", "--roi-track", "IN", "FILE", "CSV of frame,x,y,w,h: the region translated"),
    "out": JobPath("Output", "--out", "OUT", None, "The rendered shot: a video file, or a folder of frames"),
}
PARTS = JobPath("Parts", "--parts", "OUT", "DIRECTORY", "Folder of the parts that the Render tasks write and Join joins")


@dataclass(frozen=True)
class OpenJDOptions:
    """What `vidgan farm openjd` (write_openjd_bundle) writes: the bundle folder, the number of tasks, and the
    shot's render command: `paths` its path options by name (RENDER_PATHS), `args` the rest as given."""

    bundle: Path = option(help="Folder for the job bundle: template.yaml and parameter_values.yaml.", argument=True)
    tasks: int = option(4, "Render tasks: the shot's segments, rendered in parallel.", bounds=AT_LEAST_1)
    parts: Path | None = option(None, "Folder for the parts (default: OUT.parts beside the output).")
    command: str = option("vidgan", "How the workers run vidgan (a job parameter: Vidgan).")
    name: str = option("", cli=False)  # the job's name; default "vidgan render INPUT"
    paths: dict[str, Path] = field(default_factory=dict, metadata={"cli": False})  # from the render's arguments
    args: tuple[str, ...] = option((), cli=False)

    def validate(self) -> None:
        """UsageError naming --tasks out of bounds, or what the render lacks: its input, its model (--run or
        --checkpoint) or --out."""
        check_fields(self)
        if "inputs" not in self.paths:
            raise UsageError("farm openjd: give the render's one input (a video or an image sequence)")
        if not self.paths.keys() & {"run", "checkpoint"}:
            raise UsageError("farm openjd: give the render's --run (or --checkpoint)")
        if "out" not in self.paths:
            raise UsageError("farm openjd: give the render's --out: the join writes it")
        if self.bundle.exists() and not self.bundle.is_dir():
            raise UsageError(f"{self.bundle}: is a file; the bundle is a folder")

    def values(self) -> dict[str, str]:
        """Job parameter → value: the paths, absolute (tasks run in session folders of their own)."""
        out = self.paths["out"]
        parts = self.parts or out.with_name(out.name + ".parts")
        given = {RENDER_PATHS[name].parameter: path for name, path in self.paths.items()}
        return {name: os.path.abspath(path) for name, path in {**given, PARTS.parameter: parts}.items()}


def _parameter(path: JobPath) -> dict:
    definition = {"name": path.parameter, "type": "PATH"}
    if path.object_type is not None:
        definition["objectType"] = path.object_type
    return definition | {"dataFlow": path.data_flow, "description": path.description}


def openjd_template(options: OpenJDOptions) -> dict:
    """The job template (jobtemplate-2023-09) as a mapping."""
    used = [RENDER_PATHS[name] for name in RENDER_PATHS if name in options.paths]
    command: list[str] = []
    for path in used:
        reference = f"{{{{Param.{path.parameter}}}}}"
        command += [reference] if path.flag is None else [path.flag, reference]
    count = options.tasks
    segment = ["--segment", f"{{{{Task.Param.{PART}}}}}/{count}", "--parts", f"{{{{Param.{PARTS.parameter}}}}}"]
    overwrite = ["--overwrite"] if "--overwrite" in options.args else []
    join = ["join", f"{{{{Param.{PARTS.parameter}}}}}", "--out", "{{Param.Output}}", *overwrite]
    vidgan = {"name": "Vidgan", "type": "STRING", "default": options.command,
              "description": "The vidgan command on the workers (its path, where it is not on PATH)"}
    return {
        "specificationVersion": "jobtemplate-2023-09",
        "name": options.name or f"vidgan render {options.paths['inputs'].name}",
        "parameterDefinitions": [*(_parameter(path) for path in [*used, PARTS]), vidgan],
        "steps": [
            {
                "name": RENDER_STEP,
                "parameterSpace": {"taskParameterDefinitions": [{"name": PART, "type": "INT", "range": f"1-{count}"}]},
                "script": {"actions": {"onRun": {"command": "{{Param.Vidgan}}", "args": ["render", *command, *options.args, *segment]}}},
            },
            {
                "name": JOIN_STEP,
                "dependencies": [{"dependsOn": RENDER_STEP}],
                "script": {"actions": {"onRun": {"command": "{{Param.Vidgan}}", "args": join}}},
            },
        ],
    }


@dataclass(frozen=True)
class Bundle:
    folder: Path
    template: Path
    parameter_values: Path
    values: dict[str, str]  # job parameter → value (absolute paths)


def write_openjd_bundle(options: OpenJDOptions) -> Bundle:
    """Write BUNDLE/template.yaml and BUNDLE/parameter_values.yaml (Deadline Cloud's form: parameterValues, a list
    of name and value); `openjd run` takes the values as -p NAME=VALUE. Raises UsageError for a command without
    what the job needs."""
    options.validate()
    values = options.values()
    folder = options.bundle
    folder.mkdir(parents=True, exist_ok=True)
    import yaml  # (here: the command line imports this module's options when it starts)

    header = "# Written by `vidgan farm openjd`: a vidgan render as render-farm tasks (Open Job Description 2023-09).\n"
    write_text_atomic(folder / "template.yaml", header + yaml.safe_dump(openjd_template(options), sort_keys=False, width=120))
    listed = {"parameterValues": [{"name": name, "value": value} for name, value in values.items()]}
    write_text_atomic(folder / "parameter_values.yaml", yaml.safe_dump(listed, sort_keys=False))
    return Bundle(folder, folder / "template.yaml", folder / "parameter_values.yaml", values)
