"""The results file every benchmark merges its rows into."""

from __future__ import annotations

import json
from pathlib import Path

from surrogate.io.atomic import write_text_atomic


def save_row(path: Path, section: str, row: dict, key: tuple[str, ...]) -> None:
    """Merge ``row`` into ``results[section]["rows"]`` of the JSON file at ``path``
    (replacing the row with the same ``key`` values), written atomically: a benchmark
    killed later keeps every finished row, and two processes of one benchmark may share a
    file."""
    results = json.loads(path.read_text()) if path.exists() else {}
    rows = results.setdefault(section, {}).setdefault("rows", [])
    rows[:] = [r for r in rows if tuple(r.get(k) for k in key) != tuple(row[k] for k in key)]
    rows.append(row)
    write_text_atomic(path, json.dumps(results, indent=2, default=str))
