"""Run configs of every vidgan version, brought to the current form: the one place that knows old runs' defaults.

A run's config.json records every option of the job that started it (the serialised options of
vidgan.training.options), its `kind`, values resolved at the start (size, the networks' configs) and the
versions that wrote it. Options added since a run was started are missing from its record; `upgrade_config`
fills each with the value that run was trained with, so it resumes, renders and evaluates as it always did.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from vidgan.models.arch import (
    DiscriminatorConfig,
    GeneratorConfig,
    deepest_downsamplings,
)
from vidgan.runs.kinds import DEFAULT_KIND, MODEL_KINDS, resolve

OLDEST = (0, 0, 0)  # the version of a config that records none
Legacy = dict[str, Any | Callable[[dict[str, Any]], Any]]  # option → its value, or a function of the config giving it


def _generator_before_record(config: dict[str, Any]) -> dict[str, Any]:
    """What runs that did not record their generator built from their options (U-Nets then had no residual blocks
    and went down to 4×4 unless --downsamplings said otherwise)."""
    size, kind = config["size"], config["gen"]
    unet = kind == "unet"
    return GeneratorConfig.for_size(
        size,
        channels=config["channels"],
        res_blocks=0 if unet else config["res_blocks"],
        kind=kind,
        downsamplings=config.get("downsamplings") or (deepest_downsamplings(size) if unet else None),
        upsample=config["upsample"],
    ).to_dict()


def _discriminator_from_options(config: dict[str, Any]) -> dict[str, Any]:
    return DiscriminatorConfig(
        size=config["size"],
        kind=config["disc"],
        channels=config["disc_channels"],
        layers=config["disc_layers"],
        spectral_norm=config["spectral_norm"],
    ).to_dict()


# Per kind (its record's `legacy`, vidgan.runs.kinds), oldest first: (the last version whose runs can lack these
# keys, the values such runs trained with). A run written by version V gets every entry whose version is V or
# later, in order, for the keys it lacks.
COMMON_LEGACY: list[tuple[tuple[int, ...], Legacy]] = [((0, 1, 0), {"holdout": 0.0, "minutes": None})]
CYCLEGAN_LEGACY: list[tuple[tuple[int, ...], Legacy]] = [
    *COMMON_LEGACY,
    (
        (0, 1, 0),
        {
            "pool": 0,
            "lr_decay_from": None,
            "gen": "resnet",
            "precision": "auto",
            "compile": False,
            "ema": 0.0,
            "spectral_norm": False,
            "upsample": "resize",
            "lr_g": None,
            "lr_d": None,
            "diffaug_policy": "color,translation,cutout",
            "generator": _generator_before_record,
            "downsamplings": lambda config: config["generator"]["downsamplings"],
        },
    ),
    ((0, 2, 0), {"full_res_skip": False}),
    ((0, 3, 0), {"attention": False, "disc_layers": 3}),
    ((0, 4, 0), {"disc_channels": 64}),
    ((0, 5, 0), {"discriminator": _discriminator_from_options, "working_scale": lambda config: config["size"], "crop": None}),
    ((0, 6, 0), {"temporal_weight": 0.0, "temporal_form": "equivariance"}),
]


def _legacy(kind: str) -> list[tuple[tuple[int, ...], Legacy]]:
    """The legacy entries of a registered kind (none for an unknown one: loading it fails later, naming the kind)."""
    record = MODEL_KINDS.get(kind)
    return [] if record is None else list(resolve(record.legacy))


def parse_version(text: str) -> tuple[int, ...]:
    """"0.5.0" → (0, 5, 0); pre-release and local suffixes are ignored."""
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def written_by(config: dict[str, Any]) -> tuple[int, ...]:
    """The vidgan version that wrote the run's options: the one config.json records, or an older one where keys
    that version always wrote are missing (`train --resume --iters` used to restamp the record without adding any)."""
    recorded = config.get("versions", {}).get("vidgan")
    version = parse_version(recorded) if isinstance(recorded, str) else OLDEST
    for last, legacy in _legacy(config.get("kind", DEFAULT_KIND)):
        if last < version and any(key not in config for key in legacy):
            return last
    return version


def upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """A run config in the current form: every option the run's version did not record, with the value that run
    was trained with. Runs from before `kind` was recorded are CycleGANs. Returns a new dict."""
    version = written_by(config)
    upgraded = {"kind": DEFAULT_KIND, **config}
    for last, legacy in _legacy(upgraded["kind"]):
        if version > last:
            continue
        for key, value in legacy.items():
            if key not in upgraded:
                upgraded[key] = value(upgraded) if callable(value) else value
    if version <= (0, 5, 0) and upgraded.get("disc") == "dc":
        upgraded["disc_layers"] = None  # recorded for DC discriminators too, which have no such option
    return upgraded
