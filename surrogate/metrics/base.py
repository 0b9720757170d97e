"""The metric interface: what a validation metric consumes and returns.

Three small pieces, all plain Python so a domain plugin can add its own:

``Observable``
    One named scalar per event (``E_tot``, ``x[0]``...) with how to histogram and label it.
``ObservableSet``
    Turns an event batch into observables (for the per-observable metrics and the plots)
    and into named feature matrices (for the multivariate metrics: classifier, FPD, KPD,
    MMD).  The core's ``generic`` set uses the field components (or per-field summaries
    for large fields); a domain plugin registers a set for its data (calorimeter shower
    shapes, say) that replaces the generic one.
``Metric``
    ``compute(reference, generated, *, seed, device) -> MetricResult`` (or a dict of
    named results, e.g. ``{"auc": ..., "jsd": ...}``) on two :class:`Sample` objects.
    A metric whose inputs reduce to statistics that add up (histograms on fixed bins,
    means and covariances) also gives an :class:`Accumulator` (``accumulator``) and
    ``finalize``: a validation too large to hold in memory then runs it on every event,
    shard by shard (:mod:`surrogate.validation.sharded`); the others run there on a
    bounded subsample.

Each through its own hook (the hooks are in :mod:`surrogate.hookspecs`)::

    @hookimpl
    def register_observables(register):
        register("calo.observables", "surrogate_calo.metrics:ShowerObservables")

    @hookimpl
    def register_metrics(register):
        register("calo.cls_high", "surrogate_calo.metrics:HighLevelClassifier")

A registered class is instantiated without arguments (options come from the validation
config); ``bind(spec, context)`` then says whether it applies to the data at hand and may
return a copy configured for it (a calorimeter geometry, say).

Everything here imports only numpy: torch is imported by the metrics that need it, when
they run.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numpy as np

from ..devices import resolve_device as resolve_device  # the one resolver, re-exported
from ..errors import SurrogateError, check_known, suggest
from ..jsonutil import to_json

if TYPE_CHECKING:
    from ..events import Events
    from ..spec import EventSpec


class MetricError(SurrogateError):
    """A metric cannot be computed on the given input (missing features, bad options)."""


# -- observables ------------------------------------------------------------------------
@dataclass(frozen=True)
class Observable:
    """Per-event values of one named scalar, with how to histogram and label it.

    ``bins``: fixed edges (a CaloChallenge histogram, say: used as given, values outside
    are dropped exactly as ``np.histogram`` does), or an int number of bins over the
    reference sample's range (with under/overflow bins, so a model's mass outside the
    reference range still counts), or ``None`` for the metric's default number.
    ``log``: log-spaced automatic bins and a log x axis.  ``group``: observables of one
    group (``E_layer_0`` ... ``E_layer_44`` -> ``E_layer``) are averaged in the summary,
    as the CaloChallenge averages separation powers over layers.
    """

    values: np.ndarray
    label: str = ""
    unit: str = ""
    bins: np.ndarray | int | None = None
    log: bool = False
    group: str | None = None

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64).reshape(-1)
        object.__setattr__(self, "values", values)
        if self.bins is not None and not isinstance(self.bins, (int, np.integer)):
            edges = np.asarray(self.bins, dtype=np.float64)
            if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
                raise MetricError("Observable.bins must be increasing edges or an int")
            object.__setattr__(self, "bins", edges)

    def like(self, values: np.ndarray) -> Observable:
        """The same observable definition with other values."""
        return Observable(values, self.label, self.unit, self.bins, self.log, self.group)


class ObservableSet:
    """Named scalar functions of an event batch, plus named feature matrices.

    Register a subclass through the ``register_observables`` hook
    (``register("mydet.showers", "my_detector.metrics:ShowerObservables")``); the harness
    instantiates it without arguments and calls :meth:`bind` on the data's spec and
    context.  Subclasses implement ``observables`` and usually ``features``.

    ``replaces_generic`` (default ``True``): when a set with it applies, the sets without
    it (the core's ``generic`` one: field components or per-field summaries) are left
    out, since the domain knows better which quantities matter; sets with it that apply
    are all used together.  A validation config's ``observables`` names the sets to use
    instead, replacing nothing.
    """

    name: ClassVar[str] = ""
    replaces_generic: ClassVar[bool] = True
    description: ClassVar[str] = ""

    def bind(self, spec: EventSpec, context: Mapping[str, Any]) -> ObservableSet | None:
        """This set configured for data of ``spec``, or ``None`` when it does not apply.

        ``context`` holds what is known of the data's origin: ``simulator`` (name or
        ``None``), ``simulator_options``, ``reference_file``, ``model`` (generator family).
        """
        return self

    def observables(self, events: Events) -> dict[str, Observable]:
        """One ``Observable`` per name; values have one entry per event."""
        raise NotImplementedError

    def features(self, events: Events) -> dict[str, np.ndarray]:
        """Named ``(n, d)`` feature matrices for the multivariate metrics.

        The key ``"default"`` is what a metric uses unless configured otherwise.  The base
        implementation stacks the observables and the conditions.
        """
        return {"default": default_features(self.observables(events), events)}


def default_features(observables: Mapping[str, Observable], events: Events | None) -> np.ndarray:
    """Observables as columns, then the conditions (the classifier must see them to test
    the conditional distribution)."""
    cols = [o.values for o in observables.values()]
    if events is not None and events.conditions:
        cols += list(events.condition_matrix().T)
    if not cols:
        raise MetricError("no observables and no conditions: nothing to build features from")
    return np.stack(cols, axis=1)


# -- samples -----------------------------------------------------------------------------
class Sample:
    """What a metric sees of one event sample: the events (may be ``None`` when built from
    arrays), their observables and their named feature matrices.

    ``log_density``: the model's log-density of each event, for the sample a model
    generated, where the model's density is exact (``Surrogate.density == "exact"``) and
    a metric or report section asks for it (:attr:`Metric.needs_log_density`); ``None``
    otherwise (the reference samples).  It is what importance weights against a known
    unnormalised target are made of.
    """

    def __init__(
        self,
        events: Events | None = None,
        observables: Mapping[str, Observable | np.ndarray] | None = None,
        features: Mapping[str, np.ndarray] | np.ndarray | None = None,
        label: str = "",
        log_density: np.ndarray | None = None,
    ) -> None:
        self.events = events
        self.label = label
        self.log_density = _log_density(log_density, label)
        self.observables: dict[str, Observable] = {
            k: v if isinstance(v, Observable) else Observable(v)
            for k, v in (observables or {}).items()
        }
        if isinstance(features, np.ndarray):
            features = {"default": features}
        self.features: dict[str, np.ndarray] = {
            k: _as_matrix(v, k) for k, v in (features or {}).items()
        }
        if not self.features and self.observables:
            self.features["default"] = default_features(self.observables, events)
        lengths = {len(o.values) for o in self.observables.values()}
        lengths |= {len(v) for v in self.features.values()}
        if events is not None:
            lengths.add(len(events))
        if self.log_density is not None:
            lengths.add(len(self.log_density))
        if len(lengths) > 1:
            raise MetricError(
                f"sample {label!r}: observables, features and log-densities differ in length"
            )

    @classmethod
    def from_events(
        cls,
        events: Events,
        sets: list[ObservableSet],
        *,
        label: str = "",
        log_density: np.ndarray | None = None,
    ) -> Sample:
        """Evaluate the observable sets on ``events`` (names must not collide)."""
        observables: dict[str, Observable] = {}
        features: dict[str, np.ndarray] = {}
        for s in sets:
            obs = s.observables(events)
            clash = sorted(set(obs) & set(observables))
            if clash:
                raise MetricError(f"observable {clash[0]!r} is defined by two observable sets")
            observables |= obs
            for key, mat in s.features(events).items():
                if key in features and key == "default":
                    features[key] = np.concatenate([features[key], mat], axis=1)
                else:
                    features[key] = mat
        return cls(events, observables, features, label, log_density)

    @classmethod
    def from_arrays(
        cls, data: np.ndarray, *, names: list[str] | None = None, label: str = ""
    ) -> Sample:
        """A sample from an ``(n, d)`` array: each column an observable, the whole the
        ``default`` features (what ``surrogate compare`` on plain arrays needs)."""
        data = _as_matrix(data, "data")
        names = names or [f"x[{i}]" for i in range(data.shape[1])]
        if len(names) != data.shape[1]:
            raise MetricError(f"{len(names)} names for {data.shape[1]} columns")
        return cls(None, dict(zip(names, data.T, strict=True)), {"default": data}, label)

    def __len__(self) -> int:
        for o in self.observables.values():
            return len(o.values)
        for v in self.features.values():
            return len(v)
        return 0 if self.events is None else len(self.events)

    def feature_matrix(self, name: str = "default") -> np.ndarray:
        try:
            return self.features[name]
        except KeyError:
            raise MetricError(
                f"no feature set {name!r}{suggest(name, self.features)}"
                f" (available: {', '.join(sorted(self.features)) or 'none'})"
            ) from None


def _log_density(values: Any, label: str) -> np.ndarray | None:
    """One float64 log-density per event; NaN is kept (a metric says what it makes of
    it), a matrix refused."""
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise MetricError(f"sample {label!r}: log_density must be one value per event")
    return arr


def _as_matrix(x: Any, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise MetricError(f"{what}: expected an (n, d) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise MetricError(f"{what}: NaN or Inf values")
    return arr


# -- results -----------------------------------------------------------------------------
@dataclass
class MetricResult:
    """A metric's value on one pair of samples.

    ``value`` is the summary the pass/fail bounds see by default; for per-observable
    metrics it is the worst (largest) group mean, ``per_observable`` holds every
    observable's value and ``groups`` the group means.  ``error`` is a one-sigma
    statistical uncertainty where the metric provides one.  ``ideal`` is the value of
    two identical distributions; ``display_scale`` is how the report prints it (FPD and
    KPD are quoted x10^3 in the CaloChallenge).
    """

    value: float
    error: float | None = None
    per_observable: dict[str, float] = field(default_factory=dict)
    per_observable_error: dict[str, float] = field(default_factory=dict)
    groups: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    ideal: float = 0.0
    higher_is_better: bool = False
    display_scale: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": _num(self.value),
            "error": _num(self.error),
            "per_observable": {k: _num(v) for k, v in self.per_observable.items()},
            "per_observable_error": {k: _num(v) for k, v in self.per_observable_error.items()},
            "groups": {k: _num(v) for k, v in self.groups.items()},
            "details": to_json(self.details),
            "ideal": self.ideal,
            "higher_is_better": self.higher_is_better,
            "display_scale": self.display_scale,
        }


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def summarise(
    per_observable: Mapping[str, float], groups_of: Mapping[str, str | None]
) -> tuple[float, dict[str, float]]:
    """(worst group mean, group means): each group's mean, then the largest of them.

    An observable without a group is its own group.
    """
    members: dict[str, list[float]] = {}
    for name, value in per_observable.items():
        members.setdefault(groups_of.get(name) or name, []).append(float(value))
    means = {g: float(np.mean(v)) for g, v in members.items()}
    if not means:
        raise MetricError("no observables to summarise")
    return max(means.values()), means


# -- mergeable statistics ----------------------------------------------------------------
class Accumulator(ABC):
    """Statistics of one sample that merge: built by :meth:`Metric.accumulator` with its
    bins fixed, filled shard by shard (:meth:`add`) wherever the shard ran, and merged
    (:meth:`merge`) where the shards meet.  Its size must not depend on the number of
    events, and it must pickle (it travels to the workers and back)."""

    @abstractmethod
    def empty(self) -> Self:
        """A copy with the same bins and nothing counted (one per shard and sample)."""

    @abstractmethod
    def add(self, sample: Sample) -> None:
        """Count ``sample`` in."""

    @abstractmethod
    def merge(self, other: Self) -> None:
        """Count in what ``other`` (same bins) holds."""


# -- metrics -----------------------------------------------------------------------------
class Metric:
    """A comparison of a generated sample with a reference sample.

    Register a subclass through the ``register_metrics`` hook.  Subclasses set
    ``description``, ``defaults`` (every option with its default: unknown options are
    refused) and implement ``compute``.

    ``inputs`` says what ``compute`` reads of the two samples, so the report can say
    what a number is a distance between: ``"observables"`` (per-observable metrics: one
    value per :class:`Observable`, summarised as the worst group mean), ``"features"``
    (multivariate: the feature matrix named by the ``features`` option, ``"default"``
    unless configured) or ``"events"`` (the raw events, ``Sample.events``: a metric
    building its own inputs from the fields).

    Results are keyed by the metric's registered ``name``: ``compute`` returns one
    ``MetricResult`` (the table's row ``name``) or a dict of them, whose keys are listed
    in ``results`` (the classifier's ``("auc", "jsd")``), giving rows ``name.key``
    (``classifier.auc``).  The rows are known before anything is computed
    (:meth:`row_names`), so a bound on a misspelt row fails in seconds.
    """

    name: str = ""
    description: ClassVar[str] = ""
    inputs: ClassVar[Literal["observables", "features", "events"]] = "features"
    defaults: ClassVar[dict[str, Any]] = {}
    results: ClassVar[tuple[str, ...]] = ()
    #: True: ``compute`` reads the generated sample's ``Sample.log_density``, which the
    #: validation harness then fills for a model with an exact density (one extra
    #: ``log_prob`` pass over the generated events, made only when a metric asks).
    needs_log_density: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        what = f"metric {self.name or type(self).__name__!r}"
        check_known(options, self.defaults, what, error=MetricError)
        self.options: dict[str, Any] = {**copy.deepcopy(self.defaults), **options}

    def configured(self, **options: Any) -> Metric:
        """A copy with ``options`` changed (the validation config's per-metric options)."""
        new = type(self)(**{**self.options, **options})
        new.name = self.name
        return new

    def bind(self, spec: EventSpec, context: Mapping[str, Any]) -> Metric | None:
        """This metric for data of ``spec``, or ``None`` when it does not apply (a
        calorimeter metric on a toy, say).  See :meth:`ObservableSet.bind`."""
        return self

    def compute(
        self, reference: Sample, generated: Sample, *, seed: int = 0, device: str = "cpu"
    ) -> MetricResult | dict[str, MetricResult]:
        raise NotImplementedError

    def accumulator(self, pilot: Sample) -> Accumulator | None:
        """Mergeable statistics of a sample, their bins fixed on ``pilot`` (a shard of
        the reference), for :meth:`finalize`; ``None`` (the default): the metric needs
        the events, so a sharded validation runs :meth:`compute` on a subsample."""
        return None

    def finalize(
        self, reference: Accumulator, generated: Accumulator, *, seed: int = 0, device: str = "cpu"
    ) -> MetricResult | dict[str, MetricResult]:
        """``compute``'s result from the merged statistics of the two samples (only for a
        metric whose :meth:`accumulator` gives some)."""
        raise NotImplementedError

    def summary(self) -> str:
        """One line for the report: the description, with settings that matter."""
        return self.description

    def row_names(self) -> list[str]:
        """The rows of the metric table this metric fills."""
        return [f"{self.name}.{r}" for r in self.results] if self.results else [self.name]

    def __repr__(self) -> str:
        return f"<Metric {self.name or type(self).__name__} {self.options}>"
