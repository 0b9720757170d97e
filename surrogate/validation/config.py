"""The validation config (JSON or YAML, ``schemas/validation-config.schema.json``) and the
pass/fail bounds.

A bound names a row of the metric table (``fpd``, ``classifier.auc``), optionally an
observable or group of a per-observable metric, and one or more conditions::

    bounds:
      - {metric: classifier.auc, max: 0.55}                 # absolute
      - {metric: separation_power, max_ratio: 3}            # <= 3 x the floor
      - {metric: fpd, max_sigma: 3}                          # within 3 sigma of the floor
      - {metric: wasserstein1, observable: "x[0]", max_excess: 0.02}

Built-in configs, given by name instead of a path: ``quick`` (every classifier test with
the small preset, fewer bootstraps: a check in seconds on a CPU) and ``calochallenge``
(the defaults, spelled out).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SurrogateError
from ..schemas import validate as validate_schema

CONDITIONS = ("max", "min", "max_ratio", "max_excess", "max_sigma")

BUILTIN: dict[str, dict[str, Any]] = {
    "quick": {
        "classifier_options": {"preset": "small"},
        "metric_options": {
            "separation_power": {"bootstrap": 5},
            "wasserstein1": {"bootstrap": 5},
            "ks": {"bootstrap": 5},
        },
    },
    "calochallenge": {"classifier_options": {"preset": "calochallenge"}},
}


class ConfigError(SurrogateError):
    """The validation config is unreadable or does not match its schema."""


def load_config(source: str | os.PathLike[str] | dict[str, Any] | None) -> dict[str, Any]:
    """Read and check a config: a dict, a built-in name, or a .json/.yaml/.yml file."""
    if source is None:
        config: Any = {}
        where = "default config"
    elif isinstance(source, dict):
        config, where = source, "config"
    elif str(source) in BUILTIN and not Path(source).exists():
        config, where = BUILTIN[str(source)], f"built-in config {source!r}"
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise ConfigError(
                f"{path}: no such config file (built-in configs: {', '.join(BUILTIN)})"
            )
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix.lower() == ".json":
                config = json.loads(text)
            else:
                import yaml

                config = yaml.safe_load(text)
        except (json.JSONDecodeError, ValueError) as exc:
            raise ConfigError(f"{path}: not valid JSON/YAML ({exc})") from exc
        except Exception as exc:  # yaml.YAMLError
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        if config is None:
            config = {}
    if not isinstance(config, dict):
        raise ConfigError(f"{where}: the config must be a mapping")
    errors = validate_schema(config, "validation-config")
    if errors:
        raise ConfigError(f"{where}: " + "; ".join(errors[:5]))
    for i, b in enumerate(config.get("bounds", [])):
        if not any(k in b for k in CONDITIONS):
            raise ConfigError(
                f"{where}: bounds/{i} on {b['metric']!r} sets no condition "
                f"(one of {', '.join(CONDITIONS)})"
            )
    return config


def metric_selection(config: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """``metrics`` as name -> options (``None``: every registered metric that applies)."""
    chosen = config.get("metrics")
    if chosen is None:
        return None
    if isinstance(chosen, list):
        return {name: {} for name in chosen}
    return {name: dict(opts or {}) for name, opts in chosen.items()}


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


def _pick(row: dict[str, Any], observable: str | None) -> tuple[float | None, float | None]:
    if observable is None:
        return row.get("value"), row.get("error")
    if observable in row.get("per_observable", {}):
        return row["per_observable"][observable], row.get("per_observable_error", {}).get(
            observable
        )
    if observable in row.get("groups", {}):
        return row["groups"][observable], None
    raise KeyError(observable)


def check_rows(bounds: list[dict[str, Any]], rows: dict[str, dict[str, Any]]) -> None:
    """Fail early (before any long work) on bounds naming no known metric row.  ``rows``
    maps row names to anything; only names are checked here."""
    for b in bounds:
        if b["metric"] not in rows:
            from ..errors import suggest

            raise ConfigError(
                f"bound on unknown metric {b['metric']!r}{suggest(b['metric'], rows)}"
                f" (rows: {', '.join(sorted(rows))})"
            )


def evaluate_bounds(
    bounds: list[dict[str, Any]],
    model_rows: dict[str, dict[str, Any]],
    floor_rows: dict[str, dict[str, Any]],
) -> list[BoundCheck]:
    """Apply each bound to the model's row, relative ones against the floor's row."""
    out = []
    for b in bounds:
        name, obs = b["metric"], b.get("observable")
        if name not in model_rows:
            raise ConfigError(f"bound on unknown metric {name!r} (rows: {', '.join(model_rows)})")
        try:
            value, error = _pick(model_rows[name], obs)
            floor, floor_error = _pick(floor_rows[name], obs)
        except KeyError:
            known = sorted(
                set(model_rows[name].get("per_observable", {}))
                | set(model_rows[name].get("groups", {}))
            )
            raise ConfigError(
                f"bound on {name!r}: no observable or group {obs!r}"
                + (f" (known: {', '.join(known)})" if known else " (not a per-observable metric)")
            ) from None
        conds = {k: float(b[k]) for k in CONDITIONS if k in b}
        failures = []
        for key, limit in conds.items():
            ok, text = _check(key, limit, value, error, floor, floor_error)
            if not ok:
                failures.append(text)
        out.append(
            BoundCheck(
                name,
                obs,
                conds,
                value,
                error,
                floor,
                floor_error,
                not failures,
                "; ".join(failures) if failures else "ok",
                b.get("note", ""),
            )
        )
    return out


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
