"""The validation config (JSON or YAML, ``schemas/validation-config.schema.json``) and the
pass/fail bounds.

A bound names a row of the metric table (``fpd``, ``classifier.auc``), optionally an
observable or group of a per-observable metric, and one or more conditions::

    bounds:
      - {metric: classifier.auc, max: 0.55}                 # absolute
      - {metric: separation_power, max_ratio: 3}            # <= 3 x the floor
      - {metric: fpd, max_sigma: 3}                          # within 3 sigma of the floor
      - {metric: wasserstein1, observable: "x[0]", max_excess: 0.02}

Presets, given by name instead of a path (``--config quick``), are registered through
the ``register_validation_presets`` hook (:mod:`surrogate.validation.hookspecs`): the
core registers ``quick`` (every classifier test with the small preset, fewer
bootstraps: a check in seconds on a CPU); a domain plugin registers its community's
(the calorimeter plugin's ``calochallenge``).

:func:`load_config` returns a :class:`ValidationConfig`, checked once against the schema,
so the harness reads typed fields instead of looking keys up as it goes.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SurrogateError, suggest
from ..registry import get_registry
from ..schemas import validate as validate_schema

CONDITIONS = ("max", "min", "max_ratio", "max_excess", "max_sigma")

#: The core's preset ``quick`` (registered in :mod:`surrogate.builtins`).
QUICK: dict[str, Any] = {
    "classifier_options": {"preset": "small"},
    "metric_options": {
        "separation_power": {"bootstrap": 5},
        "wasserstein1": {"bootstrap": 5},
        "ks": {"bootstrap": 5},
    },
}


class ConfigError(SurrogateError):
    """The validation config is unreadable or does not match its schema."""


@dataclass(frozen=True)
class Bound:
    """A pass/fail bound: a row of the metric table (``observable``: one observable or
    group of a per-observable metric; ``None``: its summary) and the conditions that must
    all hold."""

    metric: str
    observable: str | None = None
    conditions: Mapping[str, float] = field(default_factory=dict)
    note: str = ""

    @classmethod
    def from_dict(cls, bound: Mapping[str, Any]) -> Bound:
        conditions = {k: float(bound[k]) for k in CONDITIONS if k in bound}
        return cls(bound["metric"], bound.get("observable"), conditions, bound.get("note", ""))

    def to_dict(self) -> dict[str, Any]:
        """The bound as the config writes it."""
        out: dict[str, Any] = {"metric": self.metric}
        if self.observable is not None:
            out["observable"] = self.observable
        out |= self.conditions
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class ValidationConfig:
    """A checked validation config (``schemas/validation-config.schema.json`` describes
    every field).  ``None``: not set, so the default applies (``seed`` and
    ``batch_size``: the caller's, else 0 and 10000; ``observables`` and ``metrics``:
    every registered one that applies; ``max_plots``: no limit).  ``metrics`` is always a
    mapping name -> options, however the config spelt it."""

    seed: int | None = None
    batch_size: int | None = None
    observables: tuple[str, ...] | None = None
    metrics: Mapping[str, Mapping[str, Any]] | None = None
    metric_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    classifier_options: Mapping[str, Any] = field(default_factory=dict)
    max_plots: int | None = None
    bounds: tuple[Bound, ...] = ()

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> ValidationConfig:
        """From a mapping that matches the schema (copied: a registered preset's dicts
        are never shared with a run)."""
        c = copy.deepcopy(dict(config))
        chosen = c.get("metrics")
        if isinstance(chosen, list):
            chosen = {name: {} for name in chosen}
        elif chosen is not None:
            chosen = {name: dict(opts or {}) for name, opts in chosen.items()}
        observables = c.get("observables")
        return cls(
            seed=c.get("seed"),
            batch_size=c.get("batch_size"),
            observables=None if observables is None else tuple(observables),
            metrics=chosen,
            metric_options=c.get("metric_options", {}),
            classifier_options=c.get("classifier_options", {}),
            max_plots=c.get("max_plots"),
            bounds=tuple(Bound.from_dict(b) for b in c.get("bounds", [])),
        )

    def to_dict(self) -> dict[str, Any]:
        """The config as the schema describes it, unset fields left out (what the report
        records)."""
        out: dict[str, Any] = {
            "seed": self.seed,
            "batch_size": self.batch_size,
            "observables": None if self.observables is None else list(self.observables),
            "metrics": self.metrics,
            "metric_options": self.metric_options,
            "classifier_options": self.classifier_options,
            "max_plots": self.max_plots,
            "bounds": [b.to_dict() for b in self.bounds],
        }
        return {k: v for k, v in out.items() if v is not None}


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any] | None,
) -> ValidationConfig:
    """Read and check a config: a mapping, a registered preset's name, or a
    .json/.yaml/.yml file (a file wins over a preset of the same name)."""
    config, where = _read(source)
    return _checked(config, where)


def _read(source: str | os.PathLike[str] | Mapping[str, Any] | None) -> tuple[Any, str]:
    """(the config as read, where it came from) for the messages."""
    if source is None:
        return {}, "default config"
    if isinstance(source, Mapping):
        return source, "config"
    registry = get_registry()
    presets = registry.names("validation_preset")
    if str(source) in presets and not Path(source).exists():
        return registry.get("validation_preset", str(source)), f"validation preset {source!r}"
    path = Path(source)
    if not path.is_file():
        raise ConfigError(
            f"{path}: no such config file{suggest(str(source), presets)} "
            f"(presets: {', '.join(presets) or 'none'})"
        )
    return _parse(path), str(path)


def _parse(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        import yaml

        return yaml.safe_load(text)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid JSON/YAML ({exc})") from exc
    except Exception as exc:  # yaml.YAMLError
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc


def _checked(config: Any, where: str) -> ValidationConfig:
    """The schema's checks, then what it cannot say (a bound needs a condition)."""
    if config is None:  # an empty YAML file
        config = {}
    if not isinstance(config, Mapping):
        raise ConfigError(f"{where}: the config must be a mapping")
    errors = validate_schema(dict(config), "validation-config")
    if errors:
        raise ConfigError(f"{where}: " + "; ".join(errors[:5]))
    for i, b in enumerate(config.get("bounds", [])):
        if not any(k in b for k in CONDITIONS):
            raise ConfigError(
                f"{where}: bounds/{i} on {b['metric']!r} sets no condition "
                f"(one of {', '.join(CONDITIONS)})"
            )
    return ValidationConfig.from_dict(config)


@dataclass
class BoundCheck:
    metric: str
    observable: str | None
    conditions: dict[str, float]
    value: float | None
    error: float | None
    floor: float | None
    floor_error: float | None
    passed: bool
    message: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "observable": self.observable,
            "conditions": self.conditions,
            "value": self.value,
            "error": self.error,
            "floor": self.floor,
            "floor_error": self.floor_error,
            "passed": self.passed,
            "message": self.message,
            "note": self.note,
        }


def _pick(row: Mapping[str, Any], observable: str | None) -> tuple[float | None, float | None]:
    if observable is None:
        return row.get("value"), row.get("error")
    if observable in row.get("per_observable", {}):
        return row["per_observable"][observable], row.get("per_observable_error", {}).get(
            observable
        )
    if observable in row.get("groups", {}):
        return row["groups"][observable], None
    raise KeyError(observable)


def check_rows(bounds: tuple[Bound, ...], rows: Mapping[str, Any]) -> None:
    """Fail early (before any long work) on bounds naming no known metric row.  ``rows``
    maps row names to anything; only names are checked here."""
    for b in bounds:
        if b.metric not in rows:
            raise ConfigError(
                f"bound on unknown metric {b.metric!r}{suggest(b.metric, rows)}"
                f" (rows: {', '.join(sorted(rows))})"
            )


def evaluate_bounds(
    bounds: tuple[Bound, ...],
    model_rows: Mapping[str, Mapping[str, Any]],
    floor_rows: Mapping[str, Mapping[str, Any]],
) -> list[BoundCheck]:
    """Apply each bound to the model's row, relative ones against the floor's row."""
    out = []
    for b in bounds:
        check_rows((b,), model_rows)
        value, error, floor, floor_error = _values(b, model_rows[b.metric], floor_rows[b.metric])
        failures = []
        for key, limit in b.conditions.items():
            ok, text = _check(key, limit, value, error, floor, floor_error)
            if not ok:
                failures.append(text)
        out.append(
            BoundCheck(
                b.metric,
                b.observable,
                dict(b.conditions),
                value,
                error,
                floor,
                floor_error,
                not failures,
                "; ".join(failures) if failures else "ok",
                b.note,
            )
        )
    return out


def _values(
    bound: Bound, model: Mapping[str, Any], floor: Mapping[str, Any]
) -> tuple[float | None, float | None, float | None, float | None]:
    """(value, error, floor, floor error) of the row, observable or group a bound names."""
    try:
        return (*_pick(model, bound.observable), *_pick(floor, bound.observable))
    except KeyError:
        known = sorted(set(model.get("per_observable", {})) | set(model.get("groups", {})))
        raise ConfigError(
            f"bound on {bound.metric!r}: no observable or group {bound.observable!r}"
            + (f" (known: {', '.join(known)})" if known else " (not a per-observable metric)")
        ) from None


def _check(
    key: str,
    limit: float,
    value: float | None,
    error: float | None,
    floor: float | None,
    floor_error: float | None,
) -> tuple[bool, str]:
    if value is None or not math.isfinite(value):
        return False, "value is not a finite number"
    if key == "max":
        return value <= limit, f"{value:.4g} > max {limit:.4g}"
    if key == "min":
        return value >= limit, f"{value:.4g} < min {limit:.4g}"
    if floor is None or not math.isfinite(floor):
        return False, f"{key}: floor is not a finite number"
    if key == "max_ratio":
        return value <= limit * floor, f"{value:.4g} > {limit:g} x floor {floor:.4g}"
    if key == "max_excess":
        return value - floor <= limit, f"{value:.4g} - floor {floor:.4g} > {limit:.4g}"
    if key == "max_sigma":
        sigma = math.sqrt((error or 0.0) ** 2 + (floor_error or 0.0) ** 2)
        if sigma == 0:
            return False, "max_sigma: the metric has no errors"
        return (
            value - floor <= limit * sigma,
            f"{value:.4g} - floor {floor:.4g} > {limit:g} sigma ({sigma:.3g})",
        )
    raise ConfigError(f"unknown bound condition {key!r}")  # pragma: no cover - schema
