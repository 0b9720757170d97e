"""Ground truth at matching conditions, the floor sample, and the timing of both sources.

Three samples of ``n`` events each:

``reference``        what the model is compared with (reference A);
``floor_reference``  an independent reference sample (reference B): metric(A, B) is the
                     floor, what "indistinguishable" looks like at this ``n``;
``generated``        the model's events, generated at reference B's conditions, so that
                     metric(A, generated) and metric(A, B) differ only in who made the
                     second sample.

``--simulator``: conditions are drawn once from the model's valid range (its spec's
priors) and all three samples use them.  ``--reference FILE``: 2n events are drawn at
random (without replacement) from the file and split into A and B; the model generates
at B's conditions.  The file must therefore hold at least 2n events.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EventFileError, SpecError, SurrogateError
from ..events import Events
from ..factories import simulator
from ..memory import memory_budget
from ..spec import EventSpec

log = logging.getLogger("surrogate.validation")
READ_BYTES = 256 * 1024 * 1024


class GroundTruthError(SurrogateError):
    """The reference cannot serve as ground truth for this model."""


@dataclass
class GroundTruth:
    reference: Events
    floor_reference: Events
    generated: Events
    info: dict[str, Any]
    timing: dict[str, Any]


def simulator_context(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """What observable sets and metrics are told of simulated reference data
    (:meth:`surrogate.metrics.ObservableSet.bind`'s ``context``, less the model)."""
    return {"simulator": name, "simulator_options": dict(options), "reference_file": None}


def file_context(reader: Any) -> dict[str, Any]:
    """The same for a reference file: its producer when a simulator wrote it."""
    meta = getattr(reader, "metadata", {}) or {}
    return {
        "simulator": meta.get("producer") if meta.get("producer_kind") == "simulator" else None,
        "simulator_options": meta.get("options") or {},
        "reference_file": str(reader.path),
    }


def spec_differences(model: EventSpec, other: EventSpec) -> list[str]:
    """Human-readable differences between two specs (fields, shapes, conditions)."""
    out = []
    mf = {f.name: f.shape for f in model.fields}
    of = {f.name: f.shape for f in other.fields}
    for name in mf:
        if name not in of:
            out.append(f"field {name!r} is missing")
        elif mf[name] != of[name]:
            out.append(f"field {name!r} has shape {of[name]}, the model's is {mf[name]}")
    out += [f"extra field {name!r}" for name in of if name not in mf]
    mc, oc = model.condition_names, other.condition_names
    out += [f"condition {c!r} is missing" for c in mc if c not in oc]
    out += [f"extra condition {c!r} (the model takes none such)" for c in oc if c not in mc]
    if not out and [f.name for f in model.fields] != [f.name for f in other.fields]:
        out.append("fields are in another order")
    if not out and mc != oc:
        out.append("conditions are in another order")
    return out


def check_compatible(model_spec: EventSpec, other: EventSpec, what: str) -> None:
    if model_spec.compatible_with(other):
        return
    diffs = spec_differences(model_spec, other)
    raise GroundTruthError(
        f"{what} does not match the model's event spec: "
        + "; ".join(diffs or ["specs differ"])
        + f"\nmodel:\n{model_spec.describe()}\n{what}:\n{other.describe()}"
    )


# -- sampling with timing ---------------------------------------------------------------
def _slice(conditions: Mapping[str, np.ndarray], a: int, b: int) -> dict[str, np.ndarray]:
    return {k: v[a:b] for k, v in conditions.items()}


def timed_sample(
    source: Any,
    conditions: Mapping[str, np.ndarray],
    n: int,
    *,
    seed: np.random.SeedSequence,
    batch_size: int,
    warmup: bool = True,
) -> tuple[Events, dict[str, Any]]:
    """``n`` events at the given per-event conditions, in batches; returns the events and
    their timing (a small warm-up call first, not counted: CUDA context, lazy imports)."""
    seeds = seed.spawn(math.ceil(n / batch_size) + 1)
    if warmup:
        m = min(n, 64)
        source.sample(m, _slice(conditions, 0, m) if conditions else None, seed=seeds[-1])
    parts = []
    t0 = time.perf_counter()
    for i, a in enumerate(range(0, n, batch_size)):
        b = min(a + batch_size, n)
        parts.append(source.sample(b - a, _slice(conditions, a, b) or None, seed=seeds[i]))
    seconds = time.perf_counter() - t0
    events = Events.concatenate(parts)
    return events, {
        "events": n,
        "seconds": seconds,
        "samples_per_second": n / seconds if seconds > 0 else None,
        "batch_size": batch_size,
    }


def _conditions_dict(events: Events, spec: EventSpec) -> dict[str, np.ndarray]:
    return {c: np.asarray(events.conditions[c], np.float64) for c in spec.condition_names}


# -- simulator mode ---------------------------------------------------------------------
def prepare_simulator(
    model: Any, name: str, options: Mapping[str, Any] | None
) -> tuple[Any, dict[str, Any]]:
    """Build the simulator and check it against the model (before any sampling).

    With no options given, the options recorded in the model's provenance are used when
    the model was trained on this simulator's output.
    """
    prov = getattr(model, "provenance", {}) or {}
    used = dict(options or {})
    origin = "given"
    if (
        not used
        and prov.get("data_producer") == name
        and isinstance(prov.get("data_options"), dict)
    ):
        used = dict(prov["data_options"])
        origin = "from the model's training-data provenance"
    sim = simulator(name, **used)
    try:
        check_compatible(model.spec, sim.spec, f"simulator {name!r}")
    except GroundTruthError as exc:
        hint = (
            f"\n(simulator options used: {used or 'none'}, {origin}; the model's training "
            f"data came from {prov.get('data_producer') or 'an unrecorded source'}"
            + (f" with options {prov['data_options']}" if prov.get("data_options") else "")
            + ": pass matching --option KEY=VALUE)"
        )
        raise GroundTruthError(str(exc) + hint) from None
    for c in model.spec.conditions:
        sc = sim.spec.condition(c.name)
        if c.low < sc.low or c.high > sc.high:
            raise GroundTruthError(
                f"condition {c.name!r}: the model's valid range [{c.low:g}, {c.high:g}] is not "
                f"inside simulator {name!r}'s [{sc.low:g}, {sc.high:g}]"
            )
        if not (math.isfinite(c.low) and math.isfinite(c.high)):
            raise GroundTruthError(
                f"condition {c.name!r} has an open valid range in the model: conditions "
                "cannot be drawn; validate against a --reference file instead"
            )
    return sim, {"options": used, "options_origin": origin}


def from_simulator(
    model: Any,
    sim: Any,
    n: int,
    *,
    seed: np.random.SeedSequence,
    batch_size: int,
    info: dict[str, Any],
) -> GroundTruth:
    s_cond, s_a, s_b, s_gen = seed.spawn(4)
    # the conditions the model was trained at (its recorded distribution; the priors for
    # a model that records none): a comparison at other conditions would test extrapolation
    conditions = model.resolve_conditions(n, None, np.random.default_rng(s_cond))
    log.info("simulating reference A (%d events with %s)", n, sim.name)
    ref_a, _ = timed_sample(sim, conditions, n, seed=s_a, batch_size=batch_size)
    log.info("simulating reference B (%d events, the floor)", n)
    ref_b, t_ref = timed_sample(sim, conditions, n, seed=s_b, batch_size=batch_size)
    log.info("sampling the model (%d events)", n)
    gen, t_gen = timed_sample(model, conditions, n, seed=s_gen, batch_size=batch_size)
    info = {
        "mode": "simulator",
        "simulator": sim.name,
        "simulator_version": str(getattr(sim, "version", "")),
        **info,
        "n": n,
        "conditions": "drawn once from the model's valid range (its spec's priors); "
        "reference A, reference B and the model use the same conditions",
    }
    return GroundTruth(ref_a, ref_b, gen, info, {"surrogate": t_gen, "reference": t_ref})


# -- file mode --------------------------------------------------------------------------
def open_reference(
    path: str | os.PathLike[str], model_spec: EventSpec, n: int, **reader_options: Any
) -> Any:
    """Open the reference file and check it before reading events: its spec (own or the
    model's for foreign files), the conditions it provides, and that it holds 2n events."""
    from ..io import open_events

    path = Path(path)
    if not path.exists():
        raise GroundTruthError(f"reference file {path}: no such file")
    try:
        reader = open_events(path, **reader_options)
    except EventFileError as exc:
        if "metadata" not in str(exc) and "event spec" not in str(exc):
            raise
        # a foreign file (Geant4 output, a CaloChallenge file): read it with the model's spec
        try:
            reader = open_events(path, model_spec, **reader_options)
        except EventFileError as exc2:
            msg = str(exc2)
            missing = [c for c in model_spec.condition_names if repr(c) in msg]
            if missing:
                raise GroundTruthError(
                    f"reference file {path} lacks the condition {missing[0]!r} the model needs "
                    f"to generate at matching conditions ({msg})"
                ) from None
            raise GroundTruthError(
                f"reference file {path} cannot be read as the model's events: {msg}"
            ) from None
    except SpecError as exc:
        raise GroundTruthError(f"reference file {path}: {exc}") from None
    if not model_spec.compatible_with(reader.spec):
        diffs = spec_differences(model_spec, reader.spec)
        lacking = [d for d in diffs if d.startswith("condition") and "missing" in d]
        if lacking:
            raise GroundTruthError(
                f"reference file {path} lacks conditions the model needs: "
                + "; ".join(lacking)
                + " (the model must generate at the reference events' conditions)"
            )
        check_compatible(model_spec, reader.spec, f"reference file {path}")
    total = len(reader)
    if total < 2 * n:
        raise GroundTruthError(
            f"reference file {path} holds {total} events; validation with -n {n} needs "
            f"2n = {2 * n} (n to compare with the model, n more for the reference-vs-reference "
            f"floor): use -n {total // 2} or less"
        )
    return reader


def read_random(reader: Any, m: int, rng: np.random.Generator) -> Events:
    """``m`` events drawn without replacement, read batch by batch (bounded memory)."""
    total = len(reader)
    idx = np.sort(rng.choice(total, size=m, replace=False)) if m < total else np.arange(total)
    return read_indices(reader, idx)


def read_indices(reader: Any, idx: np.ndarray) -> Events:
    """The events at the sorted positions ``idx`` (not empty), read in slices of at most
    :data:`READ_BYTES` (or what the process may use, if less) from the first position to
    the last."""
    per_event = sum(f.size * np.dtype(f.dtype).itemsize for f in reader.spec.fields) or 1
    last = int(idx[-1]) + 1
    chunk = max(1, min(last, int(memory_budget(READ_BYTES)) // per_event))
    parts = []
    for start in range(int(idx[0]), last, chunk):
        stop = min(start + chunk, last)
        lo, hi = np.searchsorted(idx, [start, stop])
        if hi > lo:
            batch = reader[start:stop]
            parts.append(batch if hi - lo == stop - start else batch[idx[lo:hi] - start])
    return Events.concatenate(parts)


def generate_at(
    model: Any, reference: Events, *, seed: np.random.SeedSequence, batch_size: int
) -> tuple[Events, dict[str, Any]]:
    """The model's events at the conditions of the reference events, checked against
    its valid range first, and their timing."""
    conds = _conditions_dict(reference, model.spec)
    try:
        model.spec.check_conditions(conds, len(reference), what="reference conditions")
    except SpecError as exc:
        raise GroundTruthError(
            f"the reference file's conditions lie outside the model's valid range: {exc}"
        ) from None
    return timed_sample(model, conds, len(reference), seed=seed, batch_size=batch_size)


def split_range(
    reader: Any, start: int, stop: int, counts: tuple[int, int], rng: np.random.Generator
) -> tuple[Events, Events]:
    """Reference A and B of one shard of a file: ``sum(counts)`` events drawn without
    replacement from positions ``start:stop``, shuffled, the first ``counts[0]`` A."""
    idx = start + np.sort(rng.choice(stop - start, size=sum(counts), replace=False))
    events = read_indices(reader, idx)
    events = events[rng.permutation(len(events))]
    return events[: counts[0]], events[counts[0] :]


def from_file(
    model: Any,
    reader: Any,
    n: int,
    *,
    seed: np.random.SeedSequence,
    batch_size: int,
    progress: Callable[[str], None] | None = None,
) -> GroundTruth:
    s_read, s_gen = seed.spawn(2)
    rng = np.random.default_rng(s_read)
    log.info("reading %d random events of %d from %s", 2 * n, len(reader), reader.path)
    events = read_random(reader, 2 * n, rng)
    events = events[rng.permutation(len(events))]
    ref_a, ref_b = events[:n], events[n:]
    log.info("sampling the model (%d events at the reference's conditions)", n)
    gen, t_gen = generate_at(model, ref_b, seed=s_gen, batch_size=batch_size)
    timing = {"surrogate": t_gen, "reference": None, "reference_note": FILE_TIMING_NOTE}
    return GroundTruth(ref_a, ref_b, gen, file_info(reader, n), timing)


FILE_TIMING_NOTE = (
    "reference events read from a file: their simulation time is not measured here "
    "(validate with --simulator to time the reference)"
)


def file_info(reader: Any, n: int) -> dict[str, Any]:
    """The report's ``ground_truth`` of a reference file."""
    meta = getattr(reader, "metadata", {}) or {}
    return {
        "mode": "file",
        "file": str(reader.path),
        "events_in_file": len(reader),
        "file_producer": meta.get("producer"),
        "file_options": meta.get("options"),
        "n": n,
        "conditions": "2n events drawn at random from the file, split into reference A and "
        "B; the model generates at B's conditions",
    }
