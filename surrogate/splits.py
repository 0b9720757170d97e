"""Event splits for two-stage models: an invertible map of one event onto a
low-dimensional *summary* and the *rest*, so that a model learns the summary first and
the rest given it.

Why: a generator that learns hundreds of values at once adds their independent errors
up in every sum of them, and the sums (a calorimeter's layer energies, the total) are
what physics checks first.  Every model that does well in the CaloChallenge generates
those first: CaloFlow (arXiv:2106.05285, 2110.11377) trains Flow I on the layer energies
given the incident energy and Flow II on the energy-normalised voxels given the layer
energies; CaloINN and CaloDREAM split the same way.  This module is the generic part of
that design: a domain plugin says how its events split (``register_splits``), a
simulator recommends a split (:meth:`surrogate.Simulator.split`) and a two-stage family
trains one model per part.

A split is named in configs as ``{"type": NAME, ...options}`` (a saved model records
it so); its options are the fields of a frozen settings dataclass (``settings_class``,
see :mod:`surrogate.settings`), checked once when the split is built.  For events of a
spec ``S``:

``summary_spec(S)``
    the summary's fields, at ``S``'s conditions: stage 1 models ``p(summary | conditions)``.
``rest_spec(S)``
    the rest's fields, at ``S``'s conditions *plus one condition per scalar of the
    summary* (named after the summary field, ``field_i`` for the i-th scalar of a field
    with a shape), so stage 2 is an ordinary conditional model of
    ``p(rest | conditions, summary)``; :func:`stage2_conditions` gives their values.
    Those conditions' ranges are the summary fields' bounds.
``forward(fields, conditions) -> (summary, rest, logdet)``
    with ``logdet = log|det d(summary, rest)/d(raw)|`` per event, exact, so that
    ``log p(raw) = log p1(summary) + log p2(rest | summary) + logdet`` stays exact when
    both stages' densities are.  Summary and rest together hold as many scalars as the
    event (a bijection); :func:`numerical_logdet` checks a split's Jacobian by finite
    differences.
``inverse(summary, rest, conditions) -> fields``
    the raw fields (float64; the caller casts them to the spec's dtypes).
``bijective``
    ``True`` (the default) for the maps above.  A split whose rest is the event itself
    (or holds the summary again) sets it ``False``: stage 2 is then a model of the event
    given its summary, ``inverse`` imposes stage 1's summary on stage 2's event, and a
    two-stage model of it has no density (``forward``'s log-determinant is unused).
``preprocessing(S) -> (summary chain, rest chain)``
    the preprocessing chains (:mod:`surrogate.preprocessing`) the split recommends for
    the two stages' models; ``None``: the model's default.

Pure numpy: no torch here.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .errors import PluginError, SpecError, check_known
from .settings import as_dict, build
from .spec import Condition, EventSpec, Field

Fields = dict[str, np.ndarray]
Conds = Mapping[str, np.ndarray]
Chain = list[dict[str, Any]] | None

#: The registry kind of splits (``register_splits``).
KIND = "split"


class Split(ABC):
    """An invertible map of events into a summary and the rest (module docstring).

    Subclasses set ``type`` (the registered name) and ``settings_class`` (the options;
    ``None``: the split takes none) and implement the fields of both parts and the maths.
    """

    settings_class: ClassVar[type | None] = None
    type: ClassVar[str] = ""
    #: summary and rest hold the event's scalars once each (module docstring)
    bijective: ClassVar[bool] = True

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.where = f"split {self.type!r}"
        options = {k: v for k, v in config.items() if k != "type"}
        self.settings: Any = None
        if self.settings_class is None:
            check_known(options, (), self.where, noun="option", error=SpecError)
        else:
            self.settings = build(self.settings_class, options, where=self.where)

    def to_config(self) -> dict[str, Any]:
        """The config that rebuilds this split (every option, defaults included)."""
        options = {} if self.settings is None else as_dict(self.settings)
        return {"type": self.type, **options}

    # -- the two parts ------------------------------------------------------------------
    @abstractmethod
    def summary_fields(self, spec: EventSpec) -> tuple[Field, ...]:
        """The summary's fields for events of ``spec``; a :class:`SpecError` naming the
        split when ``spec`` is not one the split applies to (other fields, other shapes)."""

    @abstractmethod
    def rest_fields(self, spec: EventSpec) -> tuple[Field, ...]:
        """The rest's fields for events of ``spec`` (refusing a spec as above)."""

    def summary_spec(self, spec: EventSpec) -> EventSpec:
        """Stage 1's events: the summary at the events' conditions."""
        return EventSpec(self.summary_fields(spec), spec.conditions)

    def rest_spec(self, spec: EventSpec) -> EventSpec:
        """Stage 2's events: the rest at the events' conditions and the summary's scalars."""
        extra = summary_conditions(self.summary_spec(spec))
        return EventSpec(self.rest_fields(spec), spec.conditions + extra)

    # -- the maths ----------------------------------------------------------------------
    @abstractmethod
    def forward(
        self, fields: Mapping[str, Any], conditions: Conds
    ) -> tuple[Fields, Fields, np.ndarray]:
        """Raw fields -> ``(summary, rest, logdet)``; ``logdet`` per event, shape (n,)."""

    @abstractmethod
    def inverse(
        self, summary: Mapping[str, Any], rest: Mapping[str, Any], conditions: Conds
    ) -> Fields:
        """``(summary, rest)`` -> the raw fields."""

    def preprocessing(self, spec: EventSpec) -> tuple[Chain, Chain]:
        """The chains the split recommends for its summary and its rest (``None``: the
        stage model's default)."""
        return None, None

    def __repr__(self) -> str:
        return f"<Split {self.to_config()}>"


def _condition_names(f: Field) -> list[str]:
    return [f.name] if f.shape == () else [f"{f.name}_{i}" for i in range(f.size)]


def summary_conditions(summary: EventSpec) -> tuple[Condition, ...]:
    """One condition per scalar of the summary's fields, in flattening order, over the
    fields' bounds: how stage 2 receives the summary."""
    return tuple(
        Condition(
            name,
            f.unit,
            -math.inf if f.low is None else f.low,
            math.inf if f.high is None else f.high,
            description=f"stage 1's {f.name}",
        )
        for f in summary.fields
        for name in _condition_names(f)
    )


def stage2_conditions(summary: EventSpec, values: Mapping[str, Any], conditions: Conds) -> Fields:
    """Stage 2's conditions: ``conditions`` and the summary ``values`` as the conditions
    :func:`summary_conditions` declares."""
    out = {k: np.asarray(v, dtype=np.float64) for k, v in conditions.items()}
    for f in summary.fields:
        flat = np.asarray(values[f.name], dtype=np.float64)
        flat = flat.reshape(len(flat), f.size)
        for i, name in enumerate(_condition_names(f)):
            out[name] = flat[:, i]
    return out


def split_class(kind: str) -> type[Split]:
    """The split type ``kind``, as registered by a plugin (``register_splits``)."""
    from .registry import get_registry

    try:
        cls = get_registry().get(KIND, kind)
    except PluginError as exc:
        raise SpecError(f"split: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Split)) or cls.type != kind:
        raise PluginError(f"split {kind!r} is registered as {cls!r}, not its Split")
    return cls


def make_split(config: Mapping[str, Any] | str) -> Split:
    """The split a config names: ``{"type": NAME, ...options}``, or ``NAME`` alone."""
    if isinstance(config, str):
        config = {"type": config}
    if not isinstance(config, Mapping) or not isinstance(config.get("type"), str):
        raise SpecError(f"a split is a dict {{'type': NAME, ...options}}, not {config!r}")
    return split_class(config["type"])(config)


def numerical_logdet(
    split: Split,
    spec: EventSpec,
    fields: Mapping[str, Any],
    conditions: Conds,
    *,
    step: float = 1e-6,
) -> np.ndarray:
    """``log|det d(summary, rest)/d(raw)|`` per event by central finite differences, to
    check a split's exact ``logdet`` in its tests (``step`` relative to each value)."""
    raw = spec.flatten(fields).astype(np.float64)
    n, d = raw.shape
    summary, rest = split.summary_spec(spec), split.rest_spec(spec)
    if summary.event_size + rest.event_size != d:
        raise SpecError(
            f"{split.where}: summary ({summary.event_size}) and rest ({rest.event_size}) "
            f"scalars do not add up to the event's {d}: not a bijection"
        )

    def image(x: np.ndarray) -> np.ndarray:
        s, r, _ = split.forward(spec.unflatten(x), conditions)
        return np.concatenate([summary.flatten(s), rest.flatten(r)], axis=1)

    jacobian = np.empty((n, d, d))
    for j in range(d):
        h = step * np.maximum(np.abs(raw[:, j]), 1.0)
        up, down = raw.copy(), raw.copy()
        up[:, j] += h
        down[:, j] -= h
        jacobian[:, :, j] = (image(up) - image(down)) / (2 * h[:, None])
    return np.linalg.slogdet(jacobian)[1]
