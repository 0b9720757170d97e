"""Anomaly scores: the kinds every model has, and score files.

A model declares its kinds (:meth:`surrogate.Surrogate.score_kinds`): ``nll`` with an
exact density, ``nll_bound`` (or the family's own name for it) with a bound, and ``knn``
whatever it is, because it needs only the model's draws: an event's score is the log of
the distance to the ``k``-th nearest of ``draws`` model events generated at the event's
own conditions, in the model's :meth:`~surrogate.Surrogate.score_space`.  Each dimension
is scaled by its spread over the draws of the :data:`KNN_BATCH` events scored together,
not over the event's own: at low energy a voxel can be empty in all of an event's draws,
and any energy there would put a normal shower thousands of units away.  It is the
k-nearest-neighbour estimate of ``-log p(x | c)`` up to terms equal for every event
(Loftsgaarden and Quesenberry 1965), so it ranks events as a density would, at ``draws``
times the cost of sampling; the scale makes an event's score depend a little on the
events scored beside it (the file's order).

A score file (``surrogate score``, :func:`score_file`) holds one score per event of the
data file, in its order, in the dataset ``score`` (and ``per_field/NAME`` when asked),
with attributes that say what was scored, by which model, with which kind and seed.
Chunk ``i`` of the file is scored with the seed :func:`~surrogate.seeds.chunk_seed`
gives it, so a score file depends on its seed and chunk size only.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EventFileError, SpecError, SurrogateError, check_known
from ..events import Events
from ..io import open_events
from ..io.atomic import atomic_path, output_lock
from ..progress import event_bar
from ..seeds import chunk_seed

if TYPE_CHECKING:
    from ..interfaces import Seed, Surrogate

FORMAT = "surrogate-scores"
FORMAT_VERSION = 1
#: events scored per call of the model's sampler by ``knn``
KNN_BATCH = 256
CHUNK_SIZE = 4096
#: the kinds that can score each field apart (``per_field``)
PER_FIELD_NOTE = "per-field scores come from a kind that compares the fields one by one"


def check_kind(model: Surrogate, kind: str | None, per_field: bool) -> str:
    """``kind`` (default: the model's first) when the model gives it, as asked."""
    kinds = model.score_kinds()
    if not kinds:
        raise SurrogateError(f"model {model.name!r} gives no anomaly score")
    kind = next(iter(kinds)) if kind is None else kind
    check_known([kind], kinds, f"model {model.name!r}", noun="anomaly score")
    if per_field and kind not in model.per_field_kinds():
        can = ", ".join(model.per_field_kinds()) or "none"
        raise SurrogateError(
            f"model {model.name!r}: the {kind} score is one per event ({PER_FIELD_NOTE}; "
            f"this model's: {can})"
        )
    return kind


def knn_score(
    model: Surrogate, events: Events, *, seed: Seed = 0, draws: int = 64, k: int = 4
) -> np.ndarray:
    """The ``knn`` score of each event (see the module docstring)."""
    draws, k = int(draws), int(k)
    if not 1 <= k <= draws:
        raise SurrogateError(f"the knn score needs 1 <= k <= draws, not k={k}, draws={draws}")
    rng = np.random.default_rng(seed)
    out = np.empty(len(events))
    for a in range(0, len(events), KNN_BATCH):
        part = events[a : a + KNN_BATCH]
        m = len(part)
        conds = {name: np.repeat(v, draws) for name, v in part.conditions.items()}
        made = model.sample(m * draws, conds or None, seed=int(rng.integers(2**63)))
        x = model.score_space(part)[:, None, :]
        y = model.score_space(made).reshape(m, draws, -1)
        # one scale per dimension, from all the batch's draws: an event's own draws leave
        # a voxel that is empty at its conditions with no spread, and any energy there
        # would then put a normal event at a distance of thousands
        var = y.reshape(m * draws, -1).var(axis=0)
        var = var + 1e-6 * var.mean() + 1e-12  # a dimension that never varies
        dist = np.sqrt((((y - x) ** 2) / var).sum(axis=2))
        out[a : a + m] = np.log(np.partition(dist, k - 1, axis=1)[:, k - 1] + 1e-300)
    return out


@dataclass(frozen=True)
class ScoreFile:
    """A score file read back: ``score`` (one per event), ``per_field`` (field ->
    scores, when written) and what the attributes say."""

    score: np.ndarray
    per_field: dict[str, np.ndarray]
    attrs: dict[str, Any]


def _open_data(data: Path, model: Surrogate) -> Any:
    """A reader of ``data`` whose events fit ``model``: a toolkit file must carry the
    model's spec (its difference is named), a foreign one is read with it."""
    spec = model._require_spec()
    try:
        reader = open_events(data)
    except EventFileError as exc:
        if "no metadata" not in str(exc):
            raise
        return open_events(data, spec)
    if not spec.compatible_with(reader.spec):
        reader.close()
        raise SpecError(
            f"{data}: its events do not fit model {model.name!r} ("
            + "; ".join(reader.spec.difference(spec))
            + ")"
        )
    return reader


def score_file(
    model: Surrogate,
    data: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    kind: str | None = None,
    per_field: bool = False,
    seed: int = 0,
    chunk_size: int = CHUNK_SIZE,
    options: dict[str, Any] | None = None,
    progress: bool | None = None,
    model_dir: str | None = None,
) -> Path:
    """Score every event of ``data`` into the HDF5 file ``output`` (see the module
    docstring), chunk by chunk in bounded memory; written atomically under the output
    lock, so a failed or killed run leaves no file that looks complete."""

    kind = check_kind(model, kind, per_field)
    options = dict(options or {})
    data, output = Path(data), Path(output)
    with output_lock(output), _open_data(data, model) as reader:
        n = len(reader)
        bar = contextlib.closing(event_bar(n, progress, desc=f"{kind} scores"))
        with bar as shown, atomic_path(output) as tmp:
            _write_scores(tmp, model, reader, kind, per_field, seed, chunk_size, options, shown)
            _write_attrs(tmp, model, data, kind, seed, chunk_size, options, n, model_dir)
    return output


def _write_scores(
    tmp: Path,
    model: Surrogate,
    reader: Any,
    kind: str,
    per_field: bool,
    seed: int,
    chunk_size: int,
    options: dict[str, Any],
    bar: Any,
) -> None:
    import h5py

    n = len(reader)
    with h5py.File(tmp, "w") as f:
        total = f.create_dataset("score", (n,), "f8")
        fields = {
            name: f.create_dataset(f"per_field/{name}", (n,), "f8")
            for name in (model._require_spec().field_names if per_field else ())
        }
        for i, a in enumerate(range(0, n, chunk_size)):
            events = reader[a : a + chunk_size]
            chunk = chunk_seed(seed, i)
            total[a : a + len(events)] = model.anomaly_score(events, kind, seed=chunk, **options)
            if fields:
                parts = model.anomaly_score(events, kind, per_field=True, seed=chunk, **options)
                for name, values in parts.items():  # type: ignore[union-attr]
                    fields[name][a : a + len(events)] = values
            bar.update(len(events))


def _write_attrs(
    tmp: Path,
    model: Surrogate,
    data: Path,
    kind: str,
    seed: int,
    chunk_size: int,
    options: dict[str, Any],
    n: int,
    model_dir: str | None,
) -> None:
    import h5py

    attrs = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "description": model.score_kinds()[kind] + "; higher is more anomalous",
        "model": model.name,
        "model_dir": model_dir or "",
        "data": str(data),
        "n_events": n,
        "seed": int(seed),
        "chunk_size": int(chunk_size),
        "options": json.dumps(options, sort_keys=True),
    }
    with h5py.File(tmp, "a") as f:
        f.attrs.update(attrs)


def read_scores(path: str | os.PathLike[str]) -> ScoreFile:
    """A score file written by :func:`score_file`."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            if attrs.get("format") != FORMAT:
                raise EventFileError(f"{path}: not a surrogate score file")
            score = np.asarray(f["score"][:])
            group = f.get("per_field")
            per_field = {k: np.asarray(group[k][:]) for k in group} if group is not None else {}
    except (OSError, KeyError) as exc:
        raise EventFileError(f"{path}: unreadable score file ({exc})") from exc
    return ScoreFile(score, per_field, {k: _plain(v) for k, v in attrs.items()})


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
