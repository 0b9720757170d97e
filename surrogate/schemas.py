"""JSON Schemas shipped in ``schemas/`` and the check against them.

In a wheel the folder is installed as ``surrogate/schemas``; in a source checkout it
sits beside the package, which is the fallback.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any


def schema_path(name: str) -> Path:
    """Path of ``schemas/<name>.schema.json``, installed or in the source tree."""
    installed = resources.files("surrogate") / "schemas" / f"{name}.schema.json"
    if installed.is_file():
        return Path(str(installed))
    return Path(__file__).resolve().parents[1] / "schemas" / f"{name}.schema.json"


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    return json.loads(schema_path(name).read_text(encoding="utf-8"))


@functools.cache
def _validator(name: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource

    folder = schema_path(name).parent
    resources_ = [
        Resource.from_contents(json.loads(p.read_text(encoding="utf-8")))
        for p in sorted(folder.glob("*.schema.json"))
    ]
    registry = Registry().with_resources((str(r.id()), r) for r in resources_)
    return jsonschema.Draft202012Validator(load_schema(name), registry=registry)


def validate(instance: Any, name: str) -> list[str]:
    """Messages for every violation of schema ``name`` (empty when valid)."""
    validator = _validator(name)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    ]
