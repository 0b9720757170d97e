"""What one event is: named arrays (fields) and the conditions they are simulated at.

A spec is the contract between a simulator, the surrogates trained on its output and the
files in between.  Everything that crosses that boundary is checked here, so an error
names the offending field instead of surfacing as a shape mismatch deep inside a model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import NonFiniteError, SpecError, check_known, suggest
from .layouts import DEFAULT, get_layout

PRIORS = ("uniform", "loguniform")


def _bound(x: float | None) -> float | None:
    """JSON has no infinity: an open bound is stored as ``null``."""
    return None if x is None or math.isinf(x) else float(x)


@dataclass(frozen=True)
class Field:
    """One named array of an event.

    ``shape`` is the per-event shape (``()`` for a scalar).  ``low``/``high`` are physical
    bounds (voxel energies are >= 0, say); values outside them are refused as input.
    """

    name: str
    shape: tuple[int, ...] = ()
    dtype: str = "float32"
    unit: str = ""
    low: float | None = None
    high: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if any(s <= 0 for s in self.shape):
            raise SpecError(f"field {self.name!r}: shape {self.shape} must be positive")
        try:
            np.dtype(self.dtype)
        except TypeError as exc:
            raise SpecError(f"field {self.name!r}: unknown dtype {self.dtype!r}") from exc

    @property
    def size(self) -> int:
        """Number of scalars per event."""
        return math.prod(self.shape)

    @property
    def batch_shape(self) -> str:
        """The shape of ``n`` events of the field, as error messages print it."""
        return "(n" + "".join(f", {s}" for s in self.shape) + ")"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "unit": self.unit,
            "low": _bound(self.low),
            "high": _bound(self.high),
            "description": self.description,
        }


@dataclass(frozen=True)
class Condition:
    """A per-event scalar the events are generated at (incident energy, ring radius...).

    ``[low, high]`` is the valid range: a model trained on it refuses to extrapolate.
    ``prior`` says how a simulator draws the condition when the caller gives none.
    """

    name: str
    unit: str = ""
    low: float = -math.inf
    high: float = math.inf
    prior: str = "uniform"
    description: str = ""

    def __post_init__(self) -> None:
        low = -math.inf if self.low is None else float(self.low)
        high = math.inf if self.high is None else float(self.high)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        if not low <= high:
            raise SpecError(f"condition {self.name!r}: low {low} > high {high}")
        if self.prior not in PRIORS:
            raise SpecError(f"condition {self.name!r}: prior must be one of {PRIORS}")
        if self.prior == "loguniform" and low <= 0:
            raise SpecError(f"condition {self.name!r}: a log-uniform prior needs low > 0")

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` values from the prior over the valid range."""
        if math.isinf(self.low) or math.isinf(self.high):
            raise SpecError(
                f"condition {self.name!r} has an open range and no default distribution: pass it"
            )
        if self.prior == "loguniform":
            return np.exp(rng.uniform(math.log(self.low), math.log(self.high), n))
        return rng.uniform(self.low, self.high, n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "low": _bound(self.low),
            "high": _bound(self.high),
            "prior": self.prior,
            "description": self.description,
        }


@dataclass(frozen=True)
class EventSpec:
    """The fields of an event, the conditions and the on-disk layout.

    ``layout`` names a file layout registered by a plugin (:mod:`surrogate.layouts`);
    the core's ``default`` uses one dataset per field and per condition.  A domain layout
    (the CaloChallenge's, from the calorimeter plugin) is checked against the spec when a
    file is written or read.
    """

    fields: tuple[Field, ...]
    conditions: tuple[Condition, ...] = ()
    layout: str = "default"
    _index: dict[str, Field | Condition] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "conditions", tuple(self.conditions))
        if not self.fields:
            raise SpecError("an event spec needs at least one field")
        names = [f.name for f in self.fields] + [c.name for c in self.conditions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SpecError(f"names used twice in the spec: {', '.join(dupes)}")
        object.__setattr__(
            self,
            "_index",
            {**{f.name: f for f in self.fields}, **{c.name: c for c in self.conditions}},
        )
        if self.layout != DEFAULT.name:  # the core's layout fits every spec
            get_layout(self)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def condition_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.conditions)

    def field(self, name: str) -> Field:
        item = self._index.get(name)
        if not isinstance(item, Field):
            raise SpecError(f"unknown field {name!r}{suggest(name, self.field_names)}")
        return item

    def condition(self, name: str) -> Condition:
        item = self._index.get(name)
        if not isinstance(item, Condition):
            raise SpecError(f"unknown condition {name!r}{suggest(name, self.condition_names)}")
        return item

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": [f.to_dict() for f in self.fields],
            "conditions": [c.to_dict() for c in self.conditions],
            "layout": self.layout,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventSpec:
        try:
            return cls(
                fields=tuple(
                    Field(**{**f, "shape": tuple(f.get("shape", ()))}) for f in data["fields"]
                ),
                conditions=tuple(Condition(**c) for c in data.get("conditions", ())),
                layout=data.get("layout", "default"),
            )
        except (KeyError, TypeError) as exc:
            raise SpecError(f"malformed event spec: {exc}") from exc

    def describe(self) -> str:
        """A few human-readable lines, for the CLI and model cards."""
        lines = [
            f"  field {f.name}: shape {f.shape}, {f.dtype}, unit {f.unit or '-'}"
            for f in self.fields
        ]
        lines += [
            f"  condition {c.name}: [{c.low:g}, {c.high:g}] {c.unit or ''}".rstrip()
            + f", prior {c.prior}"
            for c in self.conditions
        ]
        return "\n".join(lines)

    # -- checks -------------------------------------------------------------------------
    def check_fields(
        self, fields: Mapping[str, Any], *, what: str = "events", first_event: int = 0
    ) -> dict[str, np.ndarray]:
        """Return the fields as arrays of the spec's dtype, or raise naming the bad field.

        Checks presence, per-event shape, dtype kind (a float field refuses strings or
        complex numbers), finiteness and the physical bounds.  ``first_event``: the number
        of the first event where they come from (a slice of a file), so an error names the
        event a user can find.
        """
        check_known(fields, self.field_names, what, noun="field", error=SpecError)
        out: dict[str, np.ndarray] = {}
        n: int | None = None
        for f in self.fields:
            if f.name not in fields:
                raise SpecError(f"{what}: missing field {f.name!r}")
            arr = np.asarray(fields[f.name])
            if arr.shape[1:] != f.shape or arr.ndim != len(f.shape) + 1:
                raise SpecError(
                    f"{what}: field {f.name!r} has shape {arr.shape}, expected {f.batch_shape}"
                )
            if n is not None and arr.shape[0] != n:
                raise SpecError(f"{what}: field {f.name!r} has {arr.shape[0]} events, others {n}")
            n = arr.shape[0]
            if not np.can_cast(arr.dtype, f.dtype, casting="same_kind"):
                raise SpecError(
                    f"{what}: field {f.name!r} has dtype {arr.dtype}, expected {f.dtype}"
                )
            arr = _cast(arr, f.dtype, f.name, what, first_event)
            _check_values(arr, f.name, (f.low, f.high), what, "field", first_event)
            out[f.name] = arr
        return out

    def check_conditions(
        self,
        conditions: Mapping[str, Any],
        n: int,
        *,
        what: str = "conditions",
        partial: bool = False,
        first_event: int = 0,
    ) -> dict[str, np.ndarray]:
        """Return every condition as a float64 array of length ``n``; scalars are broadcast.

        ``partial``: conditions not given are left out instead of refused (the caller draws
        them); ``first_event`` as in :meth:`check_fields`.
        """
        check_known(conditions, self.condition_names, what, noun="condition", error=SpecError)
        out: dict[str, np.ndarray] = {}
        for c in self.conditions:
            if c.name not in conditions:
                if partial:
                    continue
                raise SpecError(f"{what}: missing condition {c.name!r}")
            try:
                arr = np.asarray(conditions[c.name], dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise SpecError(f"{what}: condition {c.name!r} is not numeric") from exc
            if arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
            if arr.ndim == 0:
                arr = np.full(n, float(arr))
            if arr.shape != (n,):
                raise SpecError(
                    f"{what}: condition {c.name!r} has shape {arr.shape}, expected ({n},)"
                )
            _check_values(arr, c.name, (c.low, c.high), what, "condition", first_event)
            out[c.name] = arr
        return out

    def resolve_conditions(
        self,
        n: int,
        conditions: Mapping[str, Any] | None,
        rng: np.random.Generator,
    ) -> dict[str, np.ndarray]:
        """Conditions for ``n`` events: the given ones checked, the others drawn from their
        priors (so ``{"energy": 50}`` fixes the energy and draws the angle)."""
        given = self.check_conditions(conditions or {}, n, partial=True)
        return {
            c.name: given[c.name] if c.name in given else c.draw(n, rng) for c in self.conditions
        }

    # -- flat vectors -------------------------------------------------------------------
    @property
    def event_size(self) -> int:
        """Scalars per event over all fields: the width of :meth:`flatten`'s output."""
        return sum(f.size for f in self.fields)

    def flatten(self, fields: Mapping[str, Any]) -> np.ndarray:
        """The fields of ``n`` events as one ``(n, event_size)`` matrix, in spec order.

        The one flattening every model and metric uses, so a vector's columns mean the
        same thing everywhere; :meth:`unflatten` inverts it.
        """
        first = np.asarray(fields[self.fields[0].name])
        n = len(first)
        return np.concatenate(
            [np.asarray(fields[f.name]).reshape(n, -1) for f in self.fields], axis=1
        )

    def unflatten(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """Split an ``(n, event_size)`` matrix back into fields of the spec's shapes."""
        if flat.ndim != 2 or flat.shape[1] != self.event_size:
            raise SpecError(
                f"expected a flat matrix (n, {self.event_size}), got shape {flat.shape}"
            )
        out, offset, n = {}, 0, len(flat)
        for f in self.fields:
            out[f.name] = flat[:, offset : offset + f.size].reshape(n, *f.shape)
            offset += f.size
        return out

    def difference(self, other: EventSpec) -> list[str]:
        """What differs between two specs, one line per field or condition ("" if none)."""
        lines = []
        mine = {f.name: f.shape for f in self.fields}
        theirs = {f.name: f.shape for f in other.fields}
        for name in sorted(mine.keys() | theirs.keys()):
            a, b = mine.get(name), theirs.get(name)
            if a != b:
                lines.append(f"field {name!r}: {_shape_or_absent(a)} vs {_shape_or_absent(b)}")
        if self.condition_names != other.condition_names:
            lines.append(
                f"conditions: {list(self.condition_names)} vs {list(other.condition_names)}"
            )
        return lines

    def compatible_with(self, other: EventSpec) -> bool:
        """Same fields (names, shapes) and conditions: events of one fit the other."""
        return [(f.name, f.shape) for f in self.fields] == [
            (f.name, f.shape) for f in other.fields
        ] and self.condition_names == other.condition_names


def _shape_or_absent(shape: tuple[int, ...] | None) -> str:
    return "absent" if shape is None else f"shape {shape}"


def _cast(arr: np.ndarray, dtype: Any, name: str, what: str, first_event: int) -> np.ndarray:
    """``arr`` as ``dtype``; a finite value beyond the range of a narrower float (1e300 as
    float32) is refused by name rather than let through as Inf or warned about."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(dtype, copy=False)
    narrowed = out is not arr and out.dtype.kind == "f" and arr.dtype.kind == "f" and arr.size
    # an overflow shows in the cast's min or max: only then look for the events it hit
    if narrowed and not (np.isfinite(out.min()) and np.isfinite(out.max())):
        lost = np.isinf(out) & np.isfinite(arr)
        if lost.any():
            i = first_event + int(np.argmax(lost.reshape(len(arr), -1).any(axis=1)))
            raise SpecError(
                f"{what}: field {name!r} has values beyond the range of {out.dtype} "
                f"(first in event {i})"
            )
    return out


def _non_finite(
    arr: np.ndarray, bad: np.ndarray, name: str, where: str, first_event: int
) -> NonFiniteError:
    """The error naming how many events of ``arr`` (one row an event) are bad, the first,
    and where in it."""
    per_event = bad.reshape(len(arr), -1)
    rows = per_event.any(axis=1)
    i = int(np.argmax(rows))
    element = ""
    if arr.ndim > 1:
        index = np.unravel_index(int(np.argmax(per_event[i])), arr.shape[1:])
        element = f", element {tuple(int(e) for e in index)}"
    value = arr[i][bad[i]].flat[0] if arr.ndim > 1 else arr[i]
    return NonFiniteError(
        where,
        name=name,
        event=first_event + i,
        count=int(rows.sum()),
        total=len(arr),
        detail=f"{element}, is {value}",
    )


def _check_values(
    arr: np.ndarray,
    name: str,
    bounds: tuple[float | None, float | None],
    what: str,
    kind: str,
    first_event: int,
) -> None:
    """Refuse NaN, Inf and values out of ``bounds``, naming the first event that has them."""
    if arr.dtype.kind not in "fc" or not arr.size:
        return
    where = f"{what}: {kind} {name!r}"
    # NaN and +-Inf reach the minimum or the maximum: two reductions check every value
    # without a temporary array the size of the events
    smallest, largest = arr.min(), arr.max()
    if arr.dtype.kind == "c" or not (np.isfinite(smallest) and np.isfinite(largest)):
        bad = ~np.isfinite(arr)  # complex values order by their real part first
        if bad.any():
            raise _non_finite(arr, bad, name, where, first_event)
    low, high = bounds
    rows = arr.reshape(len(arr), -1)
    if low is not None and not math.isinf(low) and smallest < low:
        i = first_event + int(np.argmax(rows.min(axis=1) < low))
        raise SpecError(f"{where} has values below {low:g} (min {smallest:g}, first in event {i})")
    if high is not None and not math.isinf(high) and largest > high:
        i = first_event + int(np.argmax(rows.max(axis=1) > high))
        raise SpecError(f"{where} has values above {high:g} (max {largest:g}, first in event {i})")
