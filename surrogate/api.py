"""The pipeline as library functions: simulate -> event file -> train -> model directory ->
sample -> validate -> report.

Each ``surrogate`` command parses its arguments and calls one of these, so a notebook or a
workflow engine gets exactly what the command line does::

    import surrogate
    surrogate.simulate("toy.gmm2d", 100_000, "toy.h5", seed=1)
    model = surrogate.train("flow", "toy.h5", "model/", max_time=600)
    surrogate.sample("model/", 100_000, "gen.h5", seed=2)
    report = surrogate.validate("model/", n=10_000, out="report/", simulator="toy.gmm2d")
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import factories
from .checkpoint import CONFIG
from .errors import PluginError, SpecError, SurrogateError
from .factories import load, simulator, surrogate_class
from .generation import Execution, Source, generate_to_file
from .interfaces import Simulator, Surrogate
from .io import open_events
from .io.atomic import output_lock
from .trained_conditions import condition_batches
from .training import distributed

if TYPE_CHECKING:
    from .validation import Report

PathLike = str | os.PathLike[str]


def simulate(
    name: str,
    n: int,
    output: PathLike,
    *,
    options: Mapping[str, Any] | None = None,
    conditions: Mapping[str, Any] | None = None,
    seed: int | None = None,
    chunk_size: int = 10_000,
    backend: str | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    cluster: PathLike | None = None,
    shard_size: int | None = None,
    join: str = "copy",
    progress: bool | None = None,
    anomaly: str | None = None,
    anomaly_options: Mapping[str, Any] | None = None,
) -> Path:
    """Simulate ``n`` events of the registered simulator ``name`` into ``output``.

    Conditions not given are drawn from their priors; the seed (fresh when ``None``) is
    recorded in the file, and the output depends on it and ``chunk_size`` only.  The
    work runs on ``backend`` (``serial``, ``processes``, ``dask``; see
    :mod:`surrogate.generation`) in shards of ``shard_size`` events; a killed run rerun
    with the same arguments continues.  ``anomaly``: a registered anomaly applied to
    every event, which makes the file a labelled anomaly sample (:mod:`surrogate.anomaly`).
    """
    execution = Execution.resolve(
        backend, workers, scheduler=scheduler, cluster=cluster, shard_size=shard_size
    )
    sim: Simulator = simulator(name, **dict(options or {}))
    if anomaly is not None:
        from .anomaly import anomalous

        sim = anomalous(sim, anomaly, anomaly_options)
    elif anomaly_options:
        raise SpecError("anomaly options (--anomaly-option) need an anomaly (--anomaly NAME)")
    return generate_to_file(
        sim,
        n,
        output,
        conditions=conditions,
        seed=seed,
        chunk_size=chunk_size,
        execution=execution,
        join=join,
        progress=progress,
    )


def sample(
    model: PathLike | Surrogate,
    n: int | None,
    output: PathLike,
    *,
    conditions: Mapping[str, Any] | None = None,
    conditions_from: PathLike | None = None,
    seed: int | None = None,
    chunk_size: int = 10_000,
    backend: str | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    cluster: PathLike | None = None,
    shard_size: int | None = None,
    join: str = "copy",
    progress: bool | None = None,
) -> Path:
    """Generate ``n`` events with a trained model (a directory or a loaded model) into
    ``output``, with the model directory recorded as the producer's options.

    Conditions not given are drawn from the model's training conditions (its priors for a
    model saved before they were recorded).  ``conditions_from``: an event file (HDF5 or
    ROOT; a foreign one is read with the model's spec) whose events' conditions are used,
    in order, the way the CaloChallenge generates at a reference file's energies: ``n``
    (``None``: every event of the file) takes its first ``n`` events and may not exceed
    its length.  It excludes ``conditions``.  ``backend``... as for :func:`simulate`;
    workers load the model from its directory (a model in memory runs serially).
    """
    execution = Execution.resolve(
        backend, workers, scheduler=scheduler, cluster=cluster, shard_size=shard_size
    )
    loaded = model if isinstance(model, Surrogate) else load(model)
    where = {} if isinstance(model, Surrogate) else {"model_dir": str(model)}
    origin = None
    if conditions_from is not None:
        if conditions:
            raise SpecError(
                "conditions (--condition) and conditions_from (--conditions-from) exclude "
                "each other"
            )
        n, conditions = _conditions_of(conditions_from, loaded, n)
        origin = f"read from {conditions_from} (its first {n} events, in order)"
    elif n is None:
        raise SpecError("give the number of events n (or conditions_from, a file of events)")
    source = Source.of(loaded) if isinstance(model, Surrogate) else Source.model(model, loaded)
    return generate_to_file(
        source,
        n,
        output,
        conditions=conditions,
        seed=seed,
        chunk_size=chunk_size,
        execution=execution,
        join=join,
        progress=progress,
        producer_options=where,
        conditions_origin=origin,
    )


def _conditions_of(
    path: PathLike, model: Surrogate, n: int | None
) -> tuple[int, dict[str, np.ndarray]]:
    """``(n, conditions)`` of the first ``n`` events of the file ``path`` (``None``: all),
    read with the model's spec, so they are checked against its valid range before any
    event is generated."""
    spec = model._require_spec()
    with open_events(path, spec) as reader:
        total = len(reader)
        if n is None:
            n = total
        elif n > total:
            raise SpecError(f"{path} holds {total} events, fewer than the {n} asked for")
        batches = list(condition_batches(reader, reader.spec, n))
    rows = np.concatenate(batches) if batches else np.zeros((0, len(spec.conditions)))
    return n, {name: rows[:, i] for i, name in enumerate(spec.condition_names)}


@dataclass(frozen=True)
class TrainRequest:
    """What :func:`train` was asked for, resolved against a resumed run's settings."""

    family: str
    hyperparameters: dict[str, Any]
    seed: int
    loop: dict[str, Any] = field(default_factory=dict)


def train(
    family: str,
    data: PathLike | None,
    output: PathLike,
    *,
    hyperparameters: Mapping[str, Any] | None = None,
    simulator: str | None = None,
    target: str | None = None,
    target_options: Mapping[str, Any] | None = None,
    conditions: Mapping[str, Any] | None = None,
    seed: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    max_time: float | None = None,
    progress: bool | None = None,
    **loop_options: Any,
) -> Surrogate:
    """Train the generator family ``family`` on the event file ``data``, on the energy of
    the simulator ``target`` (built with ``target_options``), or on both, and save the
    model directory ``output``; returns the trained model.

    The preprocessing chain is the one ``target`` or ``simulator`` recommends, else the one
    of the simulator that produced the file (with the file's options) when it is
    installed, else the family's default; a chain given in ``hyperparameters`` wins.
    ``conditions`` fixes conditions of the target's draws (a temperature).  ``resume``
    continues the run in ``output`` with its hyper-parameters and seed (given ones must
    agree); ``overwrite`` starts afresh.  ``max_time`` (seconds) stops training at the
    last epoch boundary that fits the budget and saves that model.  Other keyword
    arguments are training-loop options (``epochs``, ``batch_size``, ``lr``,
    ``objective``...).
    """
    out = Path(output)
    with _output_lock(out):
        _check_output(out, resume=resume, overwrite=overwrite)
        if data is None and target is None:
            raise SpecError("train needs --data (an event file), --target (a simulator), or both")
        energy = (
            None if target is None else factories.simulator(target, **dict(target_options or {}))
        )
        sim = _training_simulator(data, energy or simulator)
        cls = surrogate_class(family)
        request = _resolve_request(cls, out, dict(hyperparameters or {}), seed, resume)
        hp = hyperparameters_for(cls, request.hyperparameters, sim)
        if overwrite and not resume:
            cls.clear_resume_state(out)
        model = cls(**hp)
        loop = {**loop_options, **({"resume": True} if resume else {})}
        if energy is not None:
            loop |= {"target": energy, "conditions": conditions}
        # one process group for fit and save: under torchrun the other ranks return only once
        # rank 0 has written the model directory
        with distributed.session():
            model.fit(
                data, seed=request.seed, workdir=out, progress=progress, max_time=max_time, **loop
            )
            model.save(out)
        return model


def _output_lock(out: Path) -> contextlib.AbstractContextManager[Any]:
    """One training run at a time writes ``out``; under torchrun rank 0 holds the lock
    (the other ranks write nothing)."""
    return output_lock(out) if distributed.World.from_env().is_main else contextlib.nullcontext()


def _training_simulator(data: PathLike | None, chosen: Simulator | str | None) -> Simulator | None:
    """The simulator whose recommendations (preprocessing, split) a model trained on
    ``data`` takes: ``chosen`` (a target, or a simulator's name), else the file's producer
    when installed; a chosen simulator whose events are not the file's is refused."""
    if data is None:
        return factories.simulator(chosen) if isinstance(chosen, str) else chosen
    with open_events(data) as source:  # checks the file before any model is built
        metadata, spec = source.metadata, source.spec
    sim = chosen if isinstance(chosen, Simulator) else reference_simulator(chosen, metadata)
    if sim is not None and chosen is not None and not spec.compatible_with(sim.spec):
        raise SpecError(
            f"{data} holds {metadata.get('producer') or 'unknown'} events "
            f"({_shapes(spec)}), not {sim.name}'s ({_shapes(sim.spec)})"
        )
    return sim


def hyperparameters_for(
    cls: type[Surrogate], given: Mapping[str, Any], sim: Simulator | None
) -> dict[str, Any]:
    """A family's hyper-parameters for events of ``sim``: ``given``, plus what the
    simulator recommends for those the family declares and ``given`` leaves out (its
    preprocessing chain, its two-stage split); ``sim=None``: the family's defaults.

    The one place this choice is made, so ``train``, comparisons and benchmarks build the
    same model from the same events."""
    hp = dict(given)
    if "preprocessing" in cls.defaults and "preprocessing" not in hp:
        hp["preprocessing"] = None if sim is None else sim.preprocessing()
    if "split" in cls.defaults and "split" not in hp:
        hp["split"] = None if sim is None else sim.split()
    return hp


def _check_output(out: Path, *, resume: bool, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise SurrogateError(f"{out} exists and is not a directory")
    if (out / CONFIG).exists() and not (resume or overwrite):
        raise SurrogateError(f"{out} already holds a model: pass --overwrite or --resume")


def _resolve_request(
    cls: type[Surrogate], out: Path, hp: dict[str, Any], seed: int | None, resume: bool
) -> TrainRequest:
    """The hyper-parameters and seed of the run: a resumed run's, updated by those given."""
    if not resume:
        return TrainRequest(cls.name, hp, 0 if seed is None else seed)
    saved = cls.resume_settings(out)
    if saved.get("family") != cls.name:
        raise SurrogateError(f"{out} holds a run of {saved.get('family')!r}, not {cls.name!r}")
    merged = {**saved["hyperparameters"], **hp}
    return TrainRequest(cls.name, merged, saved.get("seed", 0) if seed is None else seed)


def _shapes(spec: Any) -> str:
    fields = ", ".join(f"{f.name} {f.shape}" for f in spec.fields)
    return f"fields {fields}; conditions {', '.join(spec.condition_names) or 'none'}"


def reference_simulator(name: str | None, metadata: Mapping[str, Any]) -> Simulator | None:
    """The simulator named, else the one that produced the file when it is installed here
    (built with the file's options when it made the file)."""
    producer = metadata.get("producer") if metadata.get("producer_kind") == "simulator" else None
    chosen = name or producer
    if chosen is None:
        return None
    options = metadata.get("options", {}) if chosen == producer else {}
    try:
        return simulator(chosen, **options)
    except PluginError:
        if name:
            raise
        return None  # the file's producer is not installed here: the family's default


def score(
    model: PathLike | Surrogate,
    data: PathLike,
    output: PathLike,
    *,
    kind: str | None = None,
    per_field: bool = False,
    seed: int = 0,
    chunk_size: int = 4096,
    options: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> Path:
    """Score every event of the file ``data`` with a trained model into the HDF5 file
    ``output``: one anomaly score per event, in the file's order, higher meaning more
    anomalous, each at the event's own conditions (:mod:`surrogate.anomaly.scores`).
    ``kind``: one of the model's ``score_kinds()`` (default its first); ``per_field``
    adds a score per field for the kinds that have one; ``options`` tune the kind."""
    from .anomaly import score_file

    loaded = model if isinstance(model, Surrogate) else load(model)
    return score_file(
        loaded,
        data,
        output,
        kind=kind,
        per_field=per_field,
        seed=seed,
        chunk_size=chunk_size,
        options=dict(options or {}),
        progress=progress,
        model_dir=None if isinstance(model, Surrogate) else str(model),
    )


def validate(model: PathLike | Surrogate, **options: Any) -> Report:
    """Compare a trained model with ground truth and write its report.

    The options are those of :func:`surrogate.validation.validate` (``n``, ``out``,
    ``simulator`` or ``reference``, ``config``, ...).
    """
    from .validation import validate as run_validation

    return run_validation(model, **options)
