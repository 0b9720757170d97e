"""``validate``: compare a trained model with ground truth and write the report.

One function per stage, named as the report's ``runtime.stages_seconds`` names it:
:func:`_checks` (load the model and the config, build the reference, simulator or file,
and check it against the model's spec, resolve the observable sets, metrics and bounds,
check the output directory: bad input fails in seconds), :func:`_sampling` (reference A,
reference B and the model), :func:`_log_density` (the model's log-density of its events,
only when a metric or section asks for it and the model's density is exact),
:func:`_observables`, :func:`_metric` (each metric, model and floor), then the bounds,
and :func:`_plots` and :func:`_sections` (the report sections a domain registers,
:mod:`surrogate.validation.sections`) while the report is written.

A validation too large for memory, or given a backend, workers or a shard size, runs
sharded (:mod:`surrogate.validation.sharded`): ``sampling`` then draws, observes and
sums the samples shard by shard, the mergeable metrics see the merged statistics of
every event, and the other stages see a bounded subsample.  Small validations run as
they always have, to the same numbers.

A model validated from its directory gets the headline metrics (each row's value and
floor with their errors, the date, the reference, n and the config) in its
``config.json`` and model card (:func:`_record_in_model`), so the directory says how far
it can be trusted; a model in memory is left as it is.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import math
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..checkpoint import read_config, write_metrics
from ..devices import resolve_device
from ..errors import SurrogateError
from ..events import Events
from ..factories import load
from ..interfaces import Simulator, Surrogate
from ..io.atomic import output_lock, space_errors
from ..jsonutil import to_json
from ..memory import SHARE, memory_budget, peak_rss_mb
from ..metrics import Sample, metrics_for, observable_sets_for, result_rows
from ..metrics.base import Metric, ObservableSet
from ..metrics.classifier import ClassifierTest
from ..schemas import validate as validate_schema
from ..spec import EventSpec
from . import groundtruth as gt
from . import sharded
from .anomaly_section import anomaly_context
from .config import BoundCheck, ValidationConfig, check_rows, evaluate_bounds, load_config
from .plots import plot_observable, safe_name, save_figure
from .report import render_html
from .sections import ReportSection, SectionData, render_sections, sections_for

log = logging.getLogger("surrogate.validation")

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
PLOTS = "plots"
FORMAT = "surrogate-validation-report"
FORMAT_VERSION = 1
DEFAULT_BATCH = 10_000

#: exit status of ``surrogate validate`` when a bound fails (0: pass, 1: error, 2: usage)
EXIT_FAILED = 3


class ValidationError(SurrogateError):
    """Validation cannot run with these inputs."""


@dataclass
class Report:
    data: dict[str, Any]
    out: Path

    @property
    def status(self) -> str:
        return self.data["status"]

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    @property
    def json_path(self) -> Path:
        return self.out / REPORT_JSON

    @property
    def html_path(self) -> Path:
        return self.out / REPORT_HTML


def _hardware(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if device.startswith("cuda"):
            info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    except ImportError:  # pragma: no cover
        pass
    return info


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValidationError(f"--out {out} exists and is not a directory")
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(f"--out {out}: cannot create {parent} ({exc})") from None
    if not os.access(parent, os.W_OK):
        raise ValidationError(f"--out {out}: {parent} is not writable")
    if out.is_dir() and any(out.iterdir()) and not (out / REPORT_JSON).is_file():
        raise ValidationError(
            f"--out {out} is a non-empty directory that holds no validation report: not "
            "overwriting it"
        )


def _model_facts(model: Surrogate, spec: EventSpec, path: Path | None) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "path": str(path) if path else None,
        "plugin": model.name,
        "plugin_version": str(model.version),
        "density": model.density,
        "hyperparameters": to_json(model.hyperparameters),
        "provenance": to_json(model.provenance),
        "spec": spec.to_dict(),
        "training_metrics": to_json(model.metrics),
    }
    if path is not None:
        try:
            cfg = read_config(path)
            facts["created"] = cfg.get("created")
            facts["toolkit_version"] = cfg.get("toolkit_version")
            facts["weights_sha256"] = cfg["weights"]["sha256"]
        except SurrogateError:
            pass
    return facts


class _Stopwatch:
    """Seconds per stage: the report's ``runtime.stages_seconds``."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - t0

    def total(self) -> None:
        self.seconds["total"] = time.perf_counter() - self.started


@dataclass(frozen=True)
class _Reference:
    """Where the ground truth comes from: a simulator (with the options used) or an open
    reference file, and what the observable sets and metrics are told of it."""

    context: dict[str, Any]
    simulator: Simulator | None = None
    simulator_info: dict[str, Any] = field(default_factory=dict)
    reader: Any = None
    reader_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Plan:
    """What the checks settled, before any long work."""

    model: Surrogate
    spec: EventSpec  # the model's
    model_path: Path | None
    config: ValidationConfig
    n: int
    seed: int
    batch_size: int
    device: str
    model_device: str
    reference: _Reference
    context: dict[str, Any]  # what observable sets, metrics and sections are bound with
    sets: list[ObservableSet]
    metrics: list[Metric]
    sections: list[ReportSection]
    out: Path
    sharding: sharded.Sharding | None = None


@dataclass(frozen=True)
class _Samples:
    """The three samples as the metrics see them."""

    reference: Sample  # reference A
    floor: Sample  # reference B
    model: Sample


def validate(
    model: Surrogate | str | os.PathLike[str],
    *,
    n: int,
    out: str | os.PathLike[str],
    simulator: str | None = None,
    simulator_options: Mapping[str, Any] | None = None,
    reference: str | os.PathLike[str] | None = None,
    reference_options: Mapping[str, Any] | None = None,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    device: str | None = None,
    seed: int | None = None,
    batch_size: int | None = None,
    command: str | None = None,
    backend: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    cluster: str | os.PathLike[str] | None = None,
    shard_size: int | None = None,
    subsample: int | None = None,
    anomalies: str | os.PathLike[str] | None = None,
    anomaly_score: str | None = None,
) -> Report:
    """Validate ``model`` (a trained ``Surrogate`` or a model directory) against ground
    truth and write ``report.json``, ``report.html`` and ``plots/`` into ``out``.

    Exactly one of ``simulator`` (registered name) and ``reference`` (HDF5 or ROOT file)
    gives the ground truth; see :mod:`surrogate.validation.groundtruth`.  ``config``: a
    mapping, a config file or a registered preset's name
    (:func:`surrogate.validation.config.load_config`).

    ``backend``, ``workers``, ``scheduler``, ``cluster`` and ``shard_size`` are those of
    ``simulate`` and ``sample`` (:class:`surrogate.generation.backends.Execution`);
    any of them, ``subsample`` (events per sample of the metrics that need events, the
    plots and the sections; default :data:`surrogate.validation.sharded.DEFAULT_SUBSAMPLE`)
    or an ``n`` too large for memory makes the validation sharded.

    ``anomalies``: a labelled anomaly sample (:mod:`surrogate.anomaly`), which adds the
    anomaly section, scored with ``anomaly_score`` (default the model's first kind).
    """
    with output_lock(Path(out)):  # one validation at a time writes a report
        clock = _Stopwatch()
        with clock.stage("checks"):
            plan = _checks(
                model,
                n=n,
                out=out,
                simulator=simulator,
                simulator_options=simulator_options,
                reference=reference,
                reference_options=reference_options,
                config=config,
                device=device,
                seed=seed,
                batch_size=batch_size,
                sharding={
                    "backend": backend,
                    "workers": workers,
                    "scheduler": scheduler,
                    "cluster": cluster,
                    "shard_size": shard_size,
                    "subsample": subsample,
                },
                anomalies=(anomalies, anomaly_score),
            )
        s_data, s_metrics = np.random.SeedSequence(plan.seed).spawn(2)
        with clock.stage("sampling"):
            truth, merged = _sampling(plan, s_data)
        log_density = None
        if _wants_log_density(plan):
            with clock.stage("log density"):
                log_density = _log_density(plan, truth.generated)
        with clock.stage("observables"):
            samples = _observables(truth, plan.sets, log_density)
        metric_seed = int(s_metrics.generate_state(1)[0])
        table = []
        for m in plan.metrics:
            stage = f"metric {m.name}"
            with clock.stage(stage):
                rows = _metric(m, samples, merged, seed=metric_seed, device=plan.device)
            table += [{**row, "seconds": clock.seconds[stage]} for row in rows]
        checks = evaluate_bounds(
            plan.config.bounds,
            {r["name"]: r["model"] for r in table},
            {r["name"]: r["floor"] for r in table},
        )
        data = _report_data(plan, truth, samples, table, checks, command)
        _write_report(data, plan, truth, samples, clock)
        log.info("report written to %s (%s)", plan.out, data["status"])
        _record_in_model(plan, data, checks, _config_name(config))
        return Report(data, plan.out)


# -- checks -----------------------------------------------------------------------------
def _checks(
    model: Surrogate | str | os.PathLike[str],
    *,
    n: int,
    out: str | os.PathLike[str],
    simulator: str | None,
    simulator_options: Mapping[str, Any] | None,
    reference: str | os.PathLike[str] | None,
    reference_options: Mapping[str, Any] | None,
    config: str | os.PathLike[str] | Mapping[str, Any] | None,
    device: str | None,
    seed: int | None,
    batch_size: int | None,
    sharding: Mapping[str, Any],
    anomalies: tuple[str | os.PathLike[str] | None, str | None] = (None, None),
) -> _Plan:
    """Every check that needs no sampling, in the order that fails fastest."""
    if (simulator is None) == (reference is None):
        raise ValidationError("give exactly one of a simulator and a reference file")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 10:
        raise ValidationError(f"n must be an integer >= 10, not {n!r}")
    out = Path(out)
    _check_out(out)
    model, spec, model_path = _load(model)
    shards = sharded.resolve(int(n), spec, model_path is None, **sharding)
    cfg = load_config(config)
    batch_size = int(_first(batch_size, cfg.batch_size, _default_batch(spec)))
    if batch_size < 1:
        raise ValidationError("batch size must be >= 1")
    dev = str(resolve_device(device, error=ValidationError))  # a name: JSON, metrics
    source = _reference(
        model, spec, int(n), simulator, simulator_options, reference, reference_options
    )
    context = {**source.context, "model": model.name}
    context |= anomaly_context(model, spec, *anomalies)
    sets = observable_sets_for(spec, context, cfg.observables)
    if not sets:
        raise ValidationError("no observable set applies to this data")
    metrics = _configured_metrics(spec, context, cfg)
    check_rows(cfg.bounds, {r: None for m in metrics for r in m.row_names()})
    sections = sections_for(spec, context)
    _warn_cost(metrics, int(n) if shards is None else shards.subsample, dev)
    return _Plan(
        model=model,
        spec=spec,
        model_path=model_path,
        config=cfg,
        n=int(n),
        seed=int(_first(seed, cfg.seed, 0)),
        batch_size=batch_size,
        device=dev,
        model_device=dev if _has_placement(model) else "cpu",
        reference=source,
        context=context,
        sets=sets,
        metrics=metrics,
        sections=sections,
        out=out,
        sharding=shards,
    )


def _default_batch(spec: EventSpec) -> int:
    """:data:`DEFAULT_BATCH`, or fewer events where a batch would not fit in a quarter of
    the share a holder may take of what the process may use (the model's sampling and the
    inverse preprocessing make several float64 copies of a batch): a wide event under a
    memory limit."""
    room = memory_budget(math.inf, share=SHARE / 4)
    return min(DEFAULT_BATCH, sharded.events_fitting(spec, room, samples=1))


def _first(*values: Any) -> Any:
    """The first value that is set: the caller's, then the config's, then the default."""
    return next(v for v in values if v is not None)


def _has_placement(model: Surrogate) -> bool:
    """Whether the model moves to a device (``Surrogate`` does not require ``.to``)."""
    return callable(getattr(model, "to", None))


def _load(
    model: Surrogate | str | os.PathLike[str],
) -> tuple[Surrogate, EventSpec, Path | None]:
    """The model, its spec and the directory it was loaded from (``None``: in memory)."""
    path = None
    if not isinstance(model, Surrogate):
        path = Path(model)
        model = load(path)
    if model.spec is None:
        raise ValidationError("the model is not trained (no event spec)")
    return model, model.spec, path


def _reference(
    model: Surrogate,
    spec: EventSpec,
    n: int,
    simulator: str | None,
    simulator_options: Mapping[str, Any] | None,
    reference: str | os.PathLike[str] | None,
    reference_options: Mapping[str, Any] | None,
) -> _Reference:
    """The simulator or the reference file, checked against the model."""
    if simulator is not None:
        sim, info = gt.prepare_simulator(model, simulator, simulator_options)
        context = gt.simulator_context(simulator, info["options"])
        return _Reference(context, simulator=sim, simulator_info=info)
    assert reference is not None  # _checks allows one of the two
    options = dict(reference_options or {})
    reader = gt.open_reference(reference, spec, n, **options)
    return _Reference(gt.file_context(reader), reader=reader, reader_options=options)


def _configured_metrics(
    spec: EventSpec, context: Mapping[str, Any], cfg: ValidationConfig
) -> list[Metric]:
    """The metrics that run, with the config's options: ``classifier_options`` on every
    classifier test, then ``metric_options`` per metric (refused for one that does not
    run, since a misspelt name would otherwise be ignored)."""
    metrics = metrics_for(spec, context, cfg.metrics)
    if cfg.classifier_options:
        metrics = [
            m.configured(**cfg.classifier_options) if isinstance(m, ClassifierTest) else m
            for m in metrics
        ]
    tweaks = cfg.metric_options
    unknown = sorted(set(tweaks) - {m.name for m in metrics})
    if unknown:
        raise ValidationError(
            f"metric_options for {unknown[0]!r}, which does not run "
            f"(metrics: {', '.join(m.name for m in metrics)})"
        )
    metrics = [m.configured(**tweaks[m.name]) if m.name in tweaks else m for m in metrics]
    if not metrics:
        raise ValidationError("no metric applies to this data")
    return metrics


def _warn_cost(metrics: list[Metric], n: int, device: str) -> None:
    """A classifier recipe that takes hours on this CPU is worth a word before it starts."""
    if device != "cpu":
        return
    for m in metrics:
        if not isinstance(m, ClassifierTest):
            continue
        s = m.settings()
        flops = 6 * s["hidden"] ** 2 * (s["layers"] + 1) * 1.2 * n * s["epochs"] * 2
        if flops > 5e13:
            log.warning(
                "metric %s: the %s classifier on the CPU with n = %d takes about %.0f minutes "
                "(two trainings); for a quick check use --config quick",
                m.name,
                m.options.get("preset"),
                n,
                flops / 3e10 / 60,
            )


# -- sampling, observables, metrics -----------------------------------------------------
def _sampling(
    plan: _Plan, seed: np.random.SeedSequence
) -> tuple[gt.GroundTruth, sharded.Merged | None]:
    """Reference A, reference B and the model's events (the model on the device); when
    sharded, their subsample and the merged statistics."""
    if _has_placement(plan.model):
        plan.model.to(plan.device)  # type: ignore[attr-defined]
    if plan.sharding is not None:
        return sharded.run(plan, seed)
    ref = plan.reference
    if ref.simulator is not None:
        truth = gt.from_simulator(
            plan.model,
            ref.simulator,
            plan.n,
            seed=seed,
            batch_size=plan.batch_size,
            info=dict(ref.simulator_info),
        )
        return truth, None
    try:
        truth = gt.from_file(plan.model, ref.reader, plan.n, seed=seed, batch_size=plan.batch_size)
        return truth, None
    finally:
        ref.reader.close()


def _wants_log_density(plan: _Plan) -> bool:
    """Whether a metric or section reads the model's log-density of its events, and the
    model has an exact one (a bound is no density to weigh samples with)."""
    readers: list[Any] = [*plan.metrics, *plan.sections]
    wanted = [x.name for x in readers if x.needs_log_density]
    if wanted and plan.model.density != "exact":
        log.info(
            "%s read the model's log-density, which %s does not have exactly (density %r)",
            ", ".join(wanted),
            plan.model.name,
            plan.model.density,
        )
    return bool(wanted) and plan.model.density == "exact"


def _log_density(plan: _Plan, events: Events) -> np.ndarray:
    """The model's log-density of its own events, in batches of the sampling size."""
    log.info("model log-density of %d generated events", len(events))
    parts = [plan.model.log_prob(b) for b in events.batches(plan.batch_size)]
    return np.concatenate([np.asarray(p, np.float64).reshape(-1) for p in parts])


def _observables(
    truth: gt.GroundTruth, sets: list[ObservableSet], log_density: np.ndarray | None = None
) -> _Samples:
    return _Samples(
        Sample.from_events(truth.reference, sets, label="reference A"),
        Sample.from_events(truth.floor_reference, sets, label="reference B"),
        Sample.from_events(truth.generated, sets, label="model", log_density=log_density),
    )


def _metric(
    m: Metric, samples: _Samples, merged: sharded.Merged | None, *, seed: int, device: str
) -> list[dict[str, Any]]:
    """The metric table's rows of ``m``: model vs reference A and its floor, reference B
    vs reference A, with one seed, so the two differ only in the second sample.  When
    sharded, from the merged statistics where ``m`` has some, else on the subsample, and
    each row says which (``evaluated_on``)."""
    stats = merged.statistics.get(m.name) if merged is not None else None
    results = []
    for which, second, index in (
        ("model vs reference", samples.model, 2),
        ("reference vs reference (floor)", samples.floor, 1),
    ):
        log.info("metric %s: %s", m.name, which)
        if stats is not None:  # the merged statistics of A, B and the model
            result = m.finalize(stats[0], stats[index], seed=seed, device=device)
        else:
            result = m.compute(samples.reference, second, seed=seed, device=device)
        results.append(result_rows(m.name, result))
    model, floor = results
    extra = {} if merged is None else {"evaluated_on": _evaluated_on(merged, stats is not None)}
    return [
        {
            "name": row,
            "metric": m.name,
            "description": m.summary(),
            "inputs": m.inputs,
            "options": to_json(m.options),
            "model": result.to_dict(),
            "floor": floor[row].to_dict(),
            **extra,
        }
        for row, result in model.items()
    ]


def _evaluated_on(merged: sharded.Merged, whole: bool) -> dict[str, Any]:
    """What events a sharded validation's row was computed from."""
    if whole:
        return {
            "events": merged.n,
            "of": merged.n,
            "how": f"statistics merged over {merged.shards} shards (every event)",
        }
    return {
        "events": merged.subsample,
        "of": merged.n,
        "how": f"a seeded subsample of {merged.subsample} of {merged.n} events per sample",
    }


# -- the report -------------------------------------------------------------------------
def _status(checks: list[BoundCheck]) -> str:
    if not checks:
        return "no-bounds"
    return "pass" if all(c.passed for c in checks) else "fail"


def _timing(plan: _Plan, truth: gt.GroundTruth) -> dict[str, Any]:
    """Samples per second of the model and of the reference, and their ratio."""
    t_gen = truth.timing["surrogate"]
    t_ref = truth.timing.get("reference")
    speedup = None
    if t_ref and t_gen and t_gen["seconds"] > 0 and t_ref["seconds"] > 0:
        speedup = t_ref["seconds"] / t_gen["seconds"]
    note = truth.timing.get("reference_note", "")
    if plan.model_device != plan.device:
        note = (
            f"{note} The model ({plan.model.name}) has no device placement: it sampled on the CPU."
        ).strip()
    return {
        "batch_size": plan.batch_size,
        "events": plan.n,
        "device": plan.device,
        "model_device": plan.model_device,
        "surrogate": t_gen,
        "reference": t_ref,
        "speedup": speedup,
        "note": note,
        "hardware": _hardware(plan.device),
    }


def _observable_facts(sample: Sample) -> list[dict[str, Any]]:
    return [
        {
            "name": k,
            "label": o.label or k,
            "unit": o.unit,
            "group": o.group,
            "fixed_bins": o.bins is not None and not isinstance(o.bins, (int, np.integer)),
            "log": o.log,
        }
        for k, o in sample.observables.items()
    ]


def _report_data(
    plan: _Plan,
    truth: gt.GroundTruth,
    samples: _Samples,
    table: list[dict[str, Any]],
    checks: list[BoundCheck],
    command: str | None,
) -> dict[str, Any]:
    """``report.json`` but for the plots and the run time, added as they are written."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "toolkit_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "status": _status(checks),
        "model": _model_facts(plan.model, plan.spec, plan.model_path),
        "ground_truth": {
            **truth.info,
            "floor": "every metric is also computed between "
            "reference A and an independent reference B of the same size",
        },
        "settings": {
            "n": plan.n,
            "seed": plan.seed,
            "device": plan.device,
            "batch_size": plan.batch_size,
            "observable_sets": [s.name or type(s).__name__ for s in plan.sets],
            "config": to_json(plan.config.to_dict()),
            **({} if plan.sharding is None else {"execution": plan.sharding.to_dict(plan.n)}),
        },
        "observables": _observable_facts(samples.reference),
        "metrics": table,
        "bounds": [c.to_dict() for c in checks],
        "timing": _timing(plan, truth),
        "plots": [],
        "sections": [],
        "runtime": {},
    }


def _write_report(
    data: dict[str, Any],
    plan: _Plan,
    truth: gt.GroundTruth,
    samples: _Samples,
    clock: _Stopwatch,
) -> None:
    """Plots, sections, ``report.json`` and ``report.html`` into a fresh folder beside
    ``out``, which then replaces ``out``: an interrupted run, or one that finds the disk
    full (a :class:`~surrogate.io.atomic.DiskFullError`), leaves the previous report
    whole."""
    out = plan.out
    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    try:
        with space_errors(out, tmp):  # a full disk: one line naming the report
            with clock.stage("plots"):
                data["plots"] = _plots(
                    data, samples, plan.model.name, tmp / PLOTS, plan.config.max_plots
                )
            with clock.stage("sections"):
                data["sections"] = _sections(plan, truth, samples, tmp)
            clock.total()
            data["runtime"] = {"stages_seconds": clock.seconds, "peak_rss_mb": peak_rss_mb()}
            _write_json(tmp / REPORT_JSON, data)
            (tmp / REPORT_HTML).write_text(render_html(data, tmp), encoding="utf-8")
        tmp.chmod(0o755)
        _swap_into(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _plots(
    data: dict[str, Any], samples: _Samples, model_name: str, folder: Path, limit: int | None
) -> list[dict[str, Any]]:
    """One figure per observable (the first ``limit``), annotated with its separation
    power when that metric ran."""
    sep = next((r for r in data["metrics"] if r["name"] == "separation_power"), None)
    names = list(samples.reference.observables)[:limit]
    n_bins = int((sep or {}).get("options", {}).get("bins", 50))
    taken: set[str] = set()
    out = []
    for name in names:
        obs = samples.reference.observables[name]
        note = ""
        if sep is not None and name in sep["model"]["per_observable"]:
            note = (
                f"separation power: model {sep['model']['per_observable'][name]:.2e}, "
                f"floor {sep['floor']['per_observable'][name]:.2e}"
            )
        fig = plot_observable(
            name,
            obs,
            obs.values,
            samples.floor.observables[name].values,
            samples.model.observables[name].values,
            n_bins=n_bins,
            model_label=f"model ({model_name})",
            annotation=note,
        )
        paths = save_figure(fig, folder, safe_name(name, taken))
        out.append({"observable": name, **paths})
    return out


def _sections(
    plan: _Plan, truth: gt.GroundTruth, samples: _Samples, folder: Path
) -> list[dict[str, Any]]:
    """The report sections that bound to the data, drawn from the three samples (and
    the model's log-density of its events where one was computed)."""
    if not plan.sections:
        return []
    data = SectionData(
        reference=truth.reference,
        floor_reference=truth.floor_reference,
        generated=truth.generated,
        spec=plan.spec,
        context=plan.context,
        model_label=f"model ({plan.model.name})",
        generated_log_density=samples.model.log_density,
        model=plan.model,
    )
    return render_sections(plan.sections, data, folder)


def _config_name(config: str | os.PathLike[str] | Mapping[str, Any] | None) -> str:
    """The config as the model card names it: a preset's name or a file as given."""
    if config is None:
        return "default"
    return "inline" if isinstance(config, Mapping) else str(config)


def _record_in_model(
    plan: _Plan, data: dict[str, Any], checks: list[BoundCheck], config_name: str
) -> None:
    """The headline metrics into the model directory's config and card (the weights are
    not touched).  A directory that cannot take them (read-only, re-saved meanwhile) is
    worth a warning, not the loss of the report just written."""
    if plan.model_path is None:
        return
    entry = _headline(plan, data, checks, config_name)
    try:
        write_metrics(
            plan.model_path, {"validation": entry}, weights_sha256=entry["weights_sha256"]
        )
    except (SurrogateError, OSError) as exc:
        log.warning("metrics not recorded in the model directory %s: %s", plan.model_path, exc)


def _headline(
    plan: _Plan, data: dict[str, Any], checks: list[BoundCheck], config_name: str
) -> dict[str, Any]:
    """``config.json``'s ``metrics.validation`` (``schemas/model-config.schema.json``):
    each row of the metric table with its floor, and what they were measured against."""
    truth = data["ground_truth"]
    reference: dict[str, Any] = (
        {"kind": "simulator", "simulator": truth["simulator"], "options": truth.get("options", {})}
        if truth["mode"] == "simulator"
        else {"kind": "file", "file": truth["file"], "producer": truth["file_producer"]}
    )
    return {
        "created": data["created"],
        "toolkit_version": data["toolkit_version"],
        "status": data["status"],
        "config": config_name,
        "reference": reference,
        "n": plan.n,
        "seed": plan.seed,
        "report": str(plan.out.absolute()),
        "weights_sha256": data["model"].get("weights_sha256"),
        "metrics": [
            {
                "name": row["name"],
                "value": row["model"]["value"],
                "error": row["model"]["error"],
                "floor": row["floor"]["value"],
                "floor_error": row["floor"]["error"],
                "ideal": row["model"]["ideal"],
                "higher_is_better": row["model"]["higher_is_better"],
                "display_scale": row["model"]["display_scale"],
                "passed": _row_verdict(checks, row["name"]),
            }
            for row in data["metrics"]
        ],
    }


def _row_verdict(checks: list[BoundCheck], name: str) -> bool | None:
    """Whether the bounds on the whole row ``name`` passed; ``None``: none is set."""
    mine = [c.passed for c in checks if c.metric == name and c.observable is None]
    return all(mine) if mine else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    errors = validate_schema(data, "report")
    if errors:  # a bug, not a user error: say so loudly
        raise RuntimeError(
            "report does not match schemas/report.schema.json: " + "; ".join(errors[:5])
        )
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _swap_into(tmp: Path, out: Path) -> None:
    """Replace ``out`` (absent, empty, or a previous report) by the finished ``tmp``."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old.rmdir()
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
