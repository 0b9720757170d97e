"""Provenance attached to every event file (HDF5 root attributes, ROOT TObjString)."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import EventFileError
from ..jsonutil import to_json
from ..schemas import validate
from ..spec import EventSpec

FORMAT_VERSION = 1
JSON_KEYS = ("spec", "conditions", "units", "options")


def make_metadata(
    spec: EventSpec,
    *,
    producer: str,
    producer_kind: str = "simulator",
    producer_version: str = "0",
    seed: int | None = None,
    conditions: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The metadata dict of the event-file schema (``n_events`` is set when the file closes)."""
    units = {f.name: f.unit for f in spec.fields} | {c.name: c.unit for c in spec.conditions}
    meta = {
        "surrogate_format_version": FORMAT_VERSION,
        "producer": producer,
        "producer_kind": producer_kind,
        "producer_version": str(producer_version),
        "toolkit_version": __version__,
        "spec": spec.to_dict(),
        "n_events": 0,
        "seed": None if seed is None else int(seed),
        "conditions": None if conditions is None else to_json(conditions, max_array=16),
        "units": units,
        "options": to_json(dict(options or {}), max_array=16),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    check_metadata(meta, "metadata to write")
    return meta


def check_metadata(meta: Mapping[str, Any], where: str) -> None:
    errors = validate(dict(meta), "event-file")
    if errors:
        raise EventFileError(
            f"{where}: metadata does not match the event-file schema: " + "; ".join(errors[:3])
        )


def encode(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute values: JSON strings for nested values, ``""`` for None."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if key in JSON_KEYS:
            out[key] = json.dumps(value)
        elif value is None:
            out[key] = ""
        else:
            out[key] = value
    return out


def decode(attrs: Mapping[str, Any], where: str) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, np.generic):
            value = value.item()
        if key in JSON_KEYS:
            try:
                value = json.loads(value)
            except (TypeError, json.JSONDecodeError) as exc:
                raise EventFileError(f"{where}: attribute {key!r} is not valid JSON") from exc
        elif key == "seed" and value == "":
            value = None
        meta[key] = value
    check_metadata(meta, where)
    return meta
