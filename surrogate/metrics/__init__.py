"""Validation metrics: the interface (:mod:`.base`), the generic metrics and helpers to
find the registered ones.

Quick use on two event samples (what ``surrogate compare`` and the lecture notebook do)::

    from surrogate.metrics import evaluate
    results = evaluate(reference_events, generated_events, ["separation_power", "fpd"])
    results["fpd"].value, results["fpd"].error

The plain functions (:func:`separation_power`, :func:`fpd`, :func:`kpd`, ...) work on
numpy arrays.  Conventions: ``surrogate/validation/README.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import suggest
from .base import (
    Metric,
    MetricError,
    MetricResult,
    Observable,
    ObservableSet,
    Sample,
    default_features,
    resolve_device,
)

if TYPE_CHECKING:
    from ..events import Events
    from ..spec import EventSpec

log = logging.getLogger("surrogate.metrics")

__all__ = [
    "Metric",
    "MetricError",
    "MetricResult",
    "Observable",
    "ObservableSet",
    "Sample",
    "default_features",
    "evaluate",
    "fpd",
    "frechet_distance",
    "histogram_separation",
    "kpd",
    "ks_statistic",
    "metric",
    "metrics_for",
    "mmd",
    "observable_sets_for",
    "resolve_device",
    "result_rows",
    "separation_power",
    "wasserstein1",
]

_FUNCTIONS = {
    "separation_power",
    "histogram_separation",
    "wasserstein1",
    "ks_statistic",
    "frechet_distance",
    "fpd",
    "kpd",
    "mmd",
}


def __getattr__(name: str) -> Any:  # the array functions, imported on first use
    if name in _FUNCTIONS:
        from . import functional

        return getattr(functional, name)
    raise AttributeError(name)


def _registered(kind: str, cls: type) -> dict[str, Any]:
    """Instances of what is registered for ``kind`` ("metric" or "observables"), skipping
    (with a warning) what is not a ``cls``: one plugin's mistake must not stop a
    validation that does not use it, and naming it here beats a failure far away."""
    from ..registry import get_registry

    registry = get_registry()
    out = {}
    for name in registry.names(kind):
        obj = _instance(name, registry.get(kind, name))
        if isinstance(obj, cls):
            out[name] = obj
        else:
            log.warning(
                "%s %r (plugin %r) is a %s, not a %s: skipped",
                kind,
                name,
                registry.entry(kind, name).plugin,
                type(obj).__name__,
                cls.__name__,
            )
    return out


def _instance(name: str, obj: Any) -> Any:
    """A registered class instantiated without arguments; a metric is named by its
    registered name (the rows of the table are)."""
    if isinstance(obj, type):
        obj = obj()
    if isinstance(obj, Metric):
        obj.name = name
    return obj


def metric(name: str, **options: Any) -> Metric:
    """The registered metric ``name``, with ``options`` (refused when unknown)."""
    from ..registry import get_registry

    obj = _instance(name, get_registry().get("metric", name))
    if not isinstance(obj, Metric):
        raise MetricError(f"{name!r} is registered as {type(obj).__name__}, not a Metric")
    return obj.configured(**options) if options else obj


def observable_sets_for(
    spec: EventSpec, context: Mapping[str, Any] | None = None, names: Iterable[str] | None = None
) -> list[ObservableSet]:
    """The observable sets (registered through ``register_observables``) for data of
    ``spec``: those named, or every set that applies, where a bound set with
    ``replaces_generic`` leaves out those without it."""
    context = dict(context or {})
    registered = _registered("observables", ObservableSet)
    if names is not None:
        return [_bound_set(name, registered, spec, context) for name in names]
    bound = [s.bind(spec, context) for _, s in sorted(registered.items())]
    applying = [s for s in bound if s is not None]
    return [s for s in applying if s.replaces_generic] or applying


def _bound_set(
    name: str, registered: Mapping[str, ObservableSet], spec: EventSpec, context: dict[str, Any]
) -> ObservableSet:
    if name not in registered:
        raise MetricError(
            f"unknown observable set {name!r}{suggest(name, registered)}"
            f" (registered: {', '.join(sorted(registered)) or 'none'})"
        )
    bound = registered[name].bind(spec, context)
    if bound is None:
        raise MetricError(f"observable set {name!r} does not apply to this data")
    return bound


def metrics_for(
    spec: EventSpec | None,
    context: Mapping[str, Any] | None = None,
    config: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> list[Metric]:
    """The metrics to run: those in ``config`` (name -> options) or every registered
    metric that applies to ``spec``."""
    context = dict(context or {})
    if config is not None:
        chosen = [metric(name, **dict(opts or {})) for name, opts in config.items()]
    else:
        chosen = [m for _, m in sorted(_registered("metric", Metric).items())]
    if spec is None:
        return chosen
    out = []
    for m in chosen:
        bound = m.bind(spec, context)
        if bound is None:
            if config is not None:
                raise MetricError(f"metric {m.name!r} does not apply to this data")
            continue
        bound.name = m.name
        out.append(bound)
    return out


def evaluate(
    reference: Events | Sample,
    generated: Events | Sample,
    metrics: Iterable[str | Metric] | Mapping[str, Mapping[str, Any]] | None = None,
    *,
    seed: int = 0,
    device: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> dict[str, MetricResult]:
    """Compute metrics between two samples; returns ``{row name: MetricResult}``.

    ``metrics``: names, ``Metric`` objects, or a mapping name -> options; ``None``: every
    registered metric that applies.  Metrics returning several results give rows named
    ``metric.key`` (``classifier.auc``, ``classifier.jsd``).
    """
    ref_s, gen_s, spec = _samples(reference, generated, context)
    if isinstance(metrics, Mapping):
        chosen = metrics_for(spec, context, metrics)
    elif metrics is None:
        chosen = metrics_for(spec, context)
    else:
        chosen = [m if isinstance(m, Metric) else metric(m) for m in metrics]
    dev = str(resolve_device(device, error=MetricError))
    out: dict[str, MetricResult] = {}
    for m in chosen:
        out |= result_rows(m.name, m.compute(ref_s, gen_s, seed=seed, device=dev))
    return out


def result_rows(
    name: str, result: MetricResult | Mapping[str, MetricResult]
) -> dict[str, MetricResult]:
    """What metric ``name`` returned as rows of the metric table: ``{name: result}`` for
    one result, ``{"name.key": result}`` for each of a dict of named results."""
    if isinstance(result, MetricResult):
        return {name: result}
    return {f"{name}.{k}": v for k, v in result.items()}


def _samples(reference: Any, generated: Any, context: Mapping[str, Any] | None):
    if isinstance(reference, Sample) and isinstance(generated, Sample):
        spec = reference.events.spec if reference.events is not None else None
        return reference, generated, spec
    spec = reference.spec
    if spec is None:
        raise MetricError("reference events have no spec: pass Sample objects instead")
    sets = observable_sets_for(spec, context)
    return (
        Sample.from_events(reference, sets, label="reference"),
        Sample.from_events(generated, sets, label="generated"),
        spec,
    )
