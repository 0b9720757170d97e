"""The event container shared by simulators, surrogates, files and metrics."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import SpecError
from .spec import EventSpec


class Events:
    """A batch of ``n`` events: named field arrays ``(n, *shape)`` and condition arrays ``(n,)``.

    ``spec`` travels with the events when known (simulator output, files written by this
    toolkit) so that ``Surrogate.fit(events)`` needs nothing else.  Indexing by name returns
    an array (field or condition); indexing by slice, index array or mask returns ``Events``.
    """

    __slots__ = ("conditions", "fields", "spec")

    def __init__(
        self,
        fields: Mapping[str, Any],
        conditions: Mapping[str, Any] | None = None,
        spec: EventSpec | None = None,
    ) -> None:
        self.fields = {k: np.asarray(v) for k, v in fields.items()}
        self.conditions = {k: np.asarray(v) for k, v in (conditions or {}).items()}
        self.spec = spec
        lengths = {len(v) for v in (*self.fields.values(), *self.conditions.values())}
        if len(lengths) > 1:
            raise SpecError(f"events: fields and conditions differ in length: {sorted(lengths)}")

    @classmethod
    def checked(
        cls,
        fields: Mapping[str, Any],
        conditions: Mapping[str, Any] | None,
        spec: EventSpec,
        *,
        what: str = "events",
        first_event: int = 0,
    ) -> Events:
        """Build events validated against ``spec`` (dtype cast, shapes, ranges, NaN);
        ``first_event``: the number of the first one where they come from (a file's
        slice), which errors count from."""
        checked = spec.check_fields(fields, what=what, first_event=first_event)
        n = len(next(iter(checked.values())))
        conds = spec.check_conditions(conditions or {}, n, what=what, first_event=first_event)
        return cls(checked, conds, spec)

    def check(self, spec: EventSpec | None = None, *, what: str = "events") -> Events:
        """Return these events validated against ``spec`` (default: their own)."""
        spec = spec or self.spec
        if spec is None:
            raise SpecError(f"{what}: no event spec to check against")
        return Events.checked(self.fields, self.conditions, spec, what=what)

    def __len__(self) -> int:
        first = next(iter(self.fields.values()), None)
        return 0 if first is None else len(first)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            if key in self.fields:
                return self.fields[key]
            if key in self.conditions:
                return self.conditions[key]
            raise KeyError(key)
        return Events(
            {k: v[key] for k, v in self.fields.items()},
            {k: v[key] for k, v in self.conditions.items()},
            self.spec,
        )

    def __iter__(self) -> Iterator[str]:
        yield from self.fields
        yield from self.conditions

    def __repr__(self) -> str:
        parts = [f"{k}{v.shape[1:]}" for k, v in self.fields.items()]
        parts += [
            f"{k}=[{v.min():.4g}..{v.max():.4g}]" for k, v in self.conditions.items() if len(v)
        ]
        return f"Events(n={len(self)}, " + ", ".join(parts) + ")"

    def batches(self, size: int) -> Iterator[Events]:
        """Consecutive batches of at most ``size`` events."""
        for start in range(0, len(self), size):
            yield self[start : start + size]

    @staticmethod
    def concatenate(parts: Sequence[Events]) -> Events:
        if not parts:
            raise SpecError("nothing to concatenate")
        first = parts[0]
        return Events(
            {k: np.concatenate([p.fields[k] for p in parts]) for k in first.fields},
            {k: np.concatenate([p.conditions[k] for p in parts]) for k in first.conditions},
            first.spec,
        )

    def condition_matrix(self) -> np.ndarray:
        """Conditions as an ``(n, n_conditions)`` float array in spec order."""
        names = self.spec.condition_names if self.spec else tuple(self.conditions)
        if not names:
            return np.zeros((len(self), 0))
        return np.stack([self.conditions[name] for name in names], axis=1)

    def flat(self) -> np.ndarray:
        """All fields flattened and concatenated per event: ``(n, sum of field sizes)``."""
        if self.spec is not None:
            return self.spec.flatten(self.fields)
        return np.concatenate([v.reshape(len(self), -1) for v in self.fields.values()], axis=1)
