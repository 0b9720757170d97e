"""Validation at scale: the three samples drawn, observed and summed shard by shard.

Three samples of ``n`` events do not fit in memory for large ``n``, and most metrics do
not need them to: what they read reduces to statistics that add up.  So a sharded
validation cuts each sample into shards of ``shard_size`` events; shard ``i`` of
reference A, reference B and the model is drawn with the ``i``-th seed of
``SeedSequence.spawn`` (results do not depend on the number of workers), its observables
computed and each mergeable metric's :class:`~surrogate.metrics.base.Accumulator`
filled; only those statistics and a bounded subsample come back to the coordinator,
which merges them in shard order.

- Mergeable metrics (:meth:`Metric.accumulator <surrogate.metrics.base.Metric.accumulator>`:
  separation power, binned W1 and KS, FPD) see every event; their bins are fixed on
  shard 0's reference A, the pilot, which the coordinator draws itself before the other
  shards start.
- Every other metric (the classifier, KPD, MMD, a plugin's that declares nothing), the
  plots, the report sections and the model's log-density run on a seeded subsample of
  ``subsample`` events per sample (the first events of each shard, in proportion to its
  size); the report says so in each row's ``evaluated_on``.

Shards run on the backends of :mod:`surrogate.generation.backends` (serial, processes,
dask).  A task is plain data: the model's directory, the simulator's name and options or
the reference file's path, the shard's seed, sizes and file positions; the worker
rebuilds model, simulator, reader and observable sets itself (once per process).  On the
serial backend the objects of the coordinator are used as they are, so a model held in
memory validates there, and only there.

With ``--simulator``, each shard draws its own conditions (from the model's training
conditions, as the in-memory path does for all ``n`` at once), shared by its A, B and
model events.  With ``--reference FILE``, the file is cut into one contiguous range of
positions per shard; how many of the 2n drawn events fall in each range, and how many
of those go to A, are drawn by sequential hypergeometric sampling (so A and B are
uniform random, disjoint n-subsets of the file, as in memory), and the shard reads only
its events.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SurrogateError
from ..events import Events
from ..generation.backends import Execution, open_backend
from ..generation.sources import Source, build
from ..memory import memory_budget
from ..metrics import Sample, observable_sets_for
from ..metrics.base import Accumulator, ObservableSet
from . import groundtruth as gt

if TYPE_CHECKING:
    from ..spec import EventSpec
    from .harness import _Plan

log = logging.getLogger("surrogate.validation")

#: events per sample that the event-reading metrics, plots and sections see at scale
DEFAULT_SUBSAMPLE = 200_000
#: validation shards by itself where its three samples would take more than this (or
#: than what the process may use, if less)
MEMORY_BUDGET = 2 * 2**30
#: bytes of memory per event and sample, as multiples of the event's own: the events,
#: their observables and features, and the copies concatenation makes
MEMORY_FACTOR = 3
LABELS = ("reference A", "reference B", "model")


class ShardingError(SurrogateError):
    """A sharded validation cannot run with these settings."""


@dataclass(frozen=True)
class Sharding:
    """How a sharded validation runs: where the shards go (``execution``) and how many
    events per sample the metrics that need events, the plots and the report sections
    see (``subsample``)."""

    execution: Execution
    subsample: int

    def to_dict(self, n: int) -> dict[str, Any]:
        """The report's ``settings.execution``."""
        e = self.execution
        return {
            "backend": e.backend,
            "workers": e.workers,
            "scheduler": e.scheduler,
            "cluster": None if e.cluster is None else str(e.cluster),
            "shard_size": e.shard_size,
            "shards": math.ceil(n / e.shard_size),
            "subsample": self.subsample,
        }


def resolve(
    n: int,
    spec: EventSpec,
    in_memory_model: bool,
    *,
    backend: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    cluster: Any = None,
    shard_size: int | None = None,
    subsample: int | None = None,
) -> Sharding | None:
    """The sharding of a validation of ``n`` events per sample, or ``None`` (in memory,
    as always): sharded when any of these settings is given or the three samples would
    exceed :data:`MEMORY_BUDGET`, or what the process may use if less
    (:func:`~surrogate.memory.memory_budget`).  Unless given, a shard and the subsample
    take at most half of what the process may use each, so a validation of large events
    under a small limit runs in small shards instead of running out of memory."""
    asked = [backend, scheduler, cluster, shard_size, subsample]
    whole = events_fitting(spec, memory_budget(MEMORY_BUDGET, what="validation samples"))
    if all(v is None for v in asked) and (workers or 1) == 1 and n <= whole:
        return None
    execution = Execution.resolve(
        backend, int(workers or 1), scheduler=scheduler, cluster=cluster, shard_size=shard_size
    )
    if execution.parallel and in_memory_model:
        raise ShardingError(
            f"a model in memory validates on the serial backend only, not {execution.backend}: "
            "save it and pass its directory"
        )
    # where the process cannot hold the defaults, a shard and the subsample share what
    # it may use (not divided by the workers, which would make the numbers depend on them)
    half = max(events_fitting(spec, memory_budget(math.inf)) // 2, 1)
    if shard_size is None:
        execution = replace(execution, shard_size=min(execution.shard_size, half))
    m = max(min(DEFAULT_SUBSAMPLE, half), 10) if subsample is None else subsample
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 10:
        raise ShardingError(f"subsample must be an integer >= 10, not {subsample!r}")
    return Sharding(execution, min(int(m), n))


def event_bytes(spec: EventSpec) -> int:
    """Bytes of one event as it is held in memory: its fields and conditions."""
    per_event = sum(f.size * np.dtype(f.dtype).itemsize for f in spec.fields)
    return per_event + 8 * len(spec.condition_names)


def events_fitting(spec: EventSpec, budget: float, *, samples: int = 3) -> int:
    """Events per sample of which ``samples`` samples, their observables and their
    copies fit in ``budget`` bytes (:data:`MEMORY_FACTOR`; ``inf``: no limit known)."""
    return max(int(min(budget / (samples * event_bytes(spec) * MEMORY_FACTOR), 2**62)), 1)


# -- what travels to the workers --------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    """What every shard of one validation shares.  Model and simulator travel as
    :class:`~surrogate.generation.sources.Source` recipes (the coordinator's own objects
    on the serial backend); the observable sets as themselves on the serial backend,
    else as their names and context (JSON) for the worker to bind."""

    model: Source
    device: str
    simulator: Source | None
    reference: tuple[str, dict[str, Any]] | None  # the reference file and reader options
    sets: list[ObservableSet] | tuple[str, str]
    batch_size: int
    n: int
    statistics: Mapping[str, Accumulator] = field(default_factory=dict)


@dataclass(frozen=True)
class _Shard:
    """One shard: its seed (entropy and spawn key), its events per sample (A, B, model),
    how many of them the subsample keeps, and (file mode) its range of file positions."""

    index: int
    seed: tuple[Any, tuple[int, ...]]
    counts: tuple[int, int, int]
    keep: tuple[int, int, int]
    positions: tuple[int, int] | None = None


@dataclass
class _Result:
    """What a shard sends back: per mergeable metric the statistics of A, B and the
    model, the subsample's events, the timing and the ground truth's facts."""

    index: int
    statistics: dict[str, tuple[Accumulator, Accumulator, Accumulator]]
    kept: tuple[Events, Events, Events]
    timing: dict[str, Any]
    info: dict[str, Any]


def _job(plan: _Plan, *, local: bool) -> _Job:
    """The shards' shared settings: ``local`` (this process) passes the objects."""
    ref = plan.reference
    file = None if ref.reader is None else (str(ref.reader.path), ref.reader_options)
    sim = None if ref.simulator is None else Source.of(ref.simulator)
    if sim is not None and not local:
        sim = sim.portable()
    if local:
        model = Source.of(plan.model)
        sets: list[ObservableSet] | tuple[str, str] = plan.sets
    else:
        assert plan.model_path is not None  # resolve() refuses a model in memory here
        model = Source.model(plan.model_path)
        sets = (_dump(plan.config.observables), _dump(plan.context))
    return _Job(model, plan.model_device, sim, file, sets, plan.batch_size, plan.n)


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


_SETS: dict[tuple[Source, tuple[str, str]], list[ObservableSet]] = {}


def _model(job: _Job) -> Any:
    """The job's model on its device (built once per process)."""
    model: Any = build(job.model)
    if callable(getattr(model, "to", None)):
        model.to(job.device)
    return model


def _observable_sets(job: _Job) -> list[ObservableSet]:
    """The job's observable sets, bound once per process where they travel by name."""
    if isinstance(job.sets, list):
        return job.sets
    key = (job.model, job.sets)
    if key not in _SETS:
        names, context = (json.loads(x) for x in job.sets)
        _SETS[key] = observable_sets_for(_model(job).spec, context, names)
    return _SETS[key]


# -- one shard --------------------------------------------------------------------------
def run_shard(task: tuple[_Job, _Shard]) -> _Result:
    """Draw one shard's three samples and reduce them (the backends' task function)."""
    job, shard = task
    events, timing, info = _draw(job, shard)
    return _reduce(job, shard, events, timing, info)


def _draw(
    job: _Job, shard: _Shard
) -> tuple[tuple[Events, Events, Events], dict[str, Any], dict[str, Any]]:
    """Reference A, reference B and the model's events of ``shard``, their timing and
    the ground truth's facts."""
    model = _model(job)
    seed = np.random.SeedSequence(shard.seed[0], spawn_key=shard.seed[1])
    if job.reference is None:
        assert job.simulator is not None  # a validation has a simulator or a file
        truth = gt.from_simulator(
            model,
            build(job.simulator),
            shard.counts[0],
            seed=seed,
            batch_size=job.batch_size,
            info={},
        )
        return (truth.reference, truth.floor_reference, truth.generated), truth.timing, truth.info
    path, options = job.reference
    s_read, s_gen = seed.spawn(2)
    reader = gt.open_reference(path, model.spec, job.n, **options)
    try:
        assert shard.positions is not None  # the file layout gives every shard a range
        rng = np.random.default_rng(s_read)
        a, b = gt.split_range(reader, *shard.positions, shard.counts[:2], rng)
        info = gt.file_info(reader, job.n)
    finally:
        reader.close()
    gen, t_gen = gt.generate_at(model, b, seed=s_gen, batch_size=job.batch_size)
    return (a, b, gen), {"surrogate": t_gen, "reference": None}, info


def _reduce(
    job: _Job,
    shard: _Shard,
    events: tuple[Events, Events, Events],
    timing: dict[str, Any],
    info: dict[str, Any],
) -> _Result:
    """Each mergeable metric's statistics of the three samples, and the subsample."""
    sets = _observable_sets(job)
    samples = [
        Sample.from_events(e, sets, label=lab) for e, lab in zip(events, LABELS, strict=True)
    ]
    statistics = {}
    for name, template in job.statistics.items():
        filled = []
        for sample in samples:
            acc = template.empty()
            acc.add(sample)
            filled.append(acc)
        statistics[name] = (filled[0], filled[1], filled[2])
    # copies (an index array, not a slice): a view would keep its whole shard alive
    kept = (
        events[0][np.arange(shard.keep[0])],
        events[1][np.arange(shard.keep[1])],
        events[2][np.arange(shard.keep[2])],
    )
    return _Result(shard.index, statistics, kept, timing, info)


# -- the coordinator --------------------------------------------------------------------
@dataclass
class Merged:
    """The merged statistics per mergeable metric (A, B, model), and how many events
    each sample's subsample holds of its ``n``."""

    statistics: dict[str, tuple[Accumulator, Accumulator, Accumulator]]
    subsample: int
    n: int
    shards: int


def run(plan: _Plan, seed: np.random.SeedSequence) -> tuple[gt.GroundTruth, Merged]:
    """Every shard of the validation ``plan``: the subsample as a ground truth (what
    the event metrics, plots and sections read) and the merged statistics."""
    assert plan.sharding is not None
    execution = plan.sharding.execution
    s_layout, s_shards = seed.spawn(2)
    try:
        shards = _layout(plan, s_layout, s_shards)
    finally:
        if plan.reference.reader is not None:
            plan.reference.reader.close()  # each shard opens the file itself
    local = _job(plan, local=True)
    events, timing, info = _draw(local, shards[0])
    pilot = Sample.from_events(events[0], plan.sets, label="pilot")
    templates = {m.name: a for m in plan.metrics if (a := m.accumulator(pilot)) is not None}
    del pilot
    merge = _Merge()
    merge.add(_reduce(replace(local, statistics=templates), shards[0], events, timing, info))
    del events
    remote = replace(
        local if not execution.parallel else _job(plan, local=False), statistics=templates
    )
    log.info(
        "validating in %d shards of %d events on %s",
        len(shards),
        execution.shard_size,
        execution.backend,
    )
    with open_backend(execution) as backend:
        for _, result in backend.map(run_shard, [(remote, s) for s in shards[1:]]):
            merge.add(result)
            log.info("shard %d of %d done", result.index + 1, len(shards))
    truth = merge.ground_truth(plan.n, plan.reference.simulator_info)
    merged = Merged(merge.statistics, plan.sharding.subsample, plan.n, len(shards))
    return truth, merged


def _layout(
    plan: _Plan, s_layout: np.random.SeedSequence, s_shards: np.random.SeedSequence
) -> list[_Shard]:
    """Every shard's seed, sizes, subsample and file range."""
    assert plan.sharding is not None
    n, size = plan.n, plan.sharding.execution.shard_size
    k = math.ceil(n / size)
    reader = plan.reference.reader
    positions: list[tuple[int, int] | None] = [None] * k
    if reader is None:
        counts = [(c, c, c) for c in (min(size, n - i * size) for i in range(k))]
    else:
        counts, ranges = _file_layout(len(reader), n, k, np.random.default_rng(s_layout))
        positions = list(ranges)
    keep = [_allocate(plan.sharding.subsample, [c[j] for c in counts]) for j in range(3)]
    return [
        _Shard(
            i,
            (s.entropy, tuple(s.spawn_key)),
            counts[i],
            (keep[0][i], keep[1][i], keep[2][i]),
            positions[i],
        )
        for i, s in enumerate(s_shards.spawn(k))
    ]


def _file_layout(
    total: int, n: int, k: int, rng: np.random.Generator
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """Events of A and B in each of ``k`` contiguous ranges of a file of ``total``
    events: 2n drawn without replacement, n of them A, by sequential hypergeometric
    draws (the counts a uniform random subset and split would give)."""
    bounds = np.linspace(0, total, k + 1).astype(np.int64)
    need, left, need_a = 2 * n, total, n
    counts, ranges = [], []
    for lo, hi in pairwise(bounds.tolist()):
        chosen = int(rng.hypergeometric(need, left - need, hi - lo)) if hi > lo else 0
        in_a = int(rng.hypergeometric(need_a, need - need_a, chosen)) if chosen else 0
        counts.append((in_a, chosen - in_a, chosen - in_a))
        ranges.append((lo, hi))
        need, left, need_a = need - chosen, left - (hi - lo), need_a - in_a
    return counts, ranges


def _allocate(m: int, sizes: Sequence[int]) -> list[int]:
    """``m`` events spread over shards of ``sizes`` in proportion (largest remainders,
    ties to the first shard), never more than a shard holds."""
    total = sum(sizes)
    if m >= total:
        return list(sizes)
    quota = np.asarray(sizes, np.float64) * (m / total)
    base = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - base), kind="stable")
    base[order[: m - int(base.sum())]] += 1
    return base.tolist()


class _Merge:
    """The shards' results folded in shard order (a result that arrives early waits),
    so the merged numbers do not depend on which worker finished first."""

    def __init__(self) -> None:
        self.next = 0
        self.pending: dict[int, _Result] = {}
        self.statistics: dict[str, tuple[Accumulator, Accumulator, Accumulator]] = {}
        self.kept: tuple[list[Events], list[Events], list[Events]] = ([], [], [])
        self.timing: dict[str, Any] = {}
        self.info: dict[str, Any] = {}

    def add(self, result: _Result) -> None:
        self.pending[result.index] = result
        while self.next in self.pending:
            self._fold(self.pending.pop(self.next))
            self.next += 1

    def _fold(self, result: _Result) -> None:
        if not self.statistics:
            self.statistics, self.info = result.statistics, result.info
        else:
            for name, mine in self.statistics.items():
                for acc, other in zip(mine, result.statistics[name], strict=True):
                    acc.merge(other)
        for parts, events in zip(self.kept, result.kept, strict=True):
            parts.append(events)
        for key, t in result.timing.items():
            self.timing[key] = _add_throughput(self.timing.get(key), t)

    def ground_truth(self, n: int, extra: Mapping[str, Any]) -> gt.GroundTruth:
        """The subsample as the three samples, with the whole run's facts (``extra``:
        the simulator options and where they came from) and timing."""
        info = {
            **self.info,
            **extra,
            "n": n,
            "conditions": self.info["conditions"]
            + " (shard by shard: each shard's own draw, shared by its three samples)",
        }
        timing = dict(self.timing)
        note = "Seconds are summed over the shards (worker-seconds)."
        if info["mode"] == "file":
            note = f"{gt.FILE_TIMING_NOTE}. {note}"
        timing["reference_note"] = note
        a, b, g = (Events.concatenate(parts) for parts in self.kept)
        return gt.GroundTruth(a, b, g, info, timing)


def _add_throughput(total: dict[str, Any] | None, part: Any) -> Any:
    """Events and seconds of two throughputs summed (``None``: not measured)."""
    if not isinstance(part, dict):
        return part
    if total is None:
        return dict(part)
    events, seconds = total["events"] + part["events"], total["seconds"] + part["seconds"]
    return {
        **total,
        "events": events,
        "seconds": seconds,
        "samples_per_second": events / seconds if seconds > 0 else None,
    }
