"""Preprocessing as part of the model: a saved, invertible chain of per-field transforms.

A chain is described by a JSON-able list of steps, for example (calorimeter showers)::

    [{"type": "normalise_by_condition", "field": "showers", "condition": "incident_energies"},
     {"type": "log", "field": "showers", "eps": 1e-8},
     {"type": "standardise"}]

A generator trains on ``forward(raw)`` and returns ``inverse(generated)``, so a saved model
is applied to raw simulator output with no user-side preprocessing.  Domain plugins offer a
chain through :meth:`surrogate.Simulator.preprocessing`; ``None`` means the generator's
default, :meth:`Preprocessing.default` (standardise every field).

Every step is elementwise per event, so the chain keeps the field shapes, and reports the
log-determinant of its Jacobian: with ``y = forward(x)``,
``log p_raw(x) = log p_y(y) + log|det dy/dx|``, which is how a flow's ``log_prob`` is
given in the units of the raw fields.

Steps that need statistics (``standardise``, ``logit`` without explicit bounds) are fitted
by streaming over batches (:meth:`Preprocessing.fit`), one pass per such step, so data
larger than memory can be used.  The fitted state is a dict of named numpy arrays, stored
with the model weights.  Pure numpy: no torch here.

Step types (``field``: one field name, ``fields``: a list; neither: every field):

``standardise``  ``(x - mean) / std``; ``per="element"`` (default: one mean/std per
                 element of the field) or ``"field"`` (one for the whole field);
                 ``min_std`` floors the std (constant voxels).
``log``          ``log(x + eps)`` (``eps`` default 1e-6); for non-negative quantities.
                 Its inverse, ``exp``, is unbounded: a generator's outlier in log space
                 comes back as an exponentially large value (a short VAE emitted 1e6 GeV
                 cells for a 200 GeV beam).  ``high`` caps the inverse at a physical
                 maximum (voxel / E_inc <= 3, say); without it the chain trades that
                 guard for no assumption about the range.  ``logit`` is bounded by
                 construction.
``logit``        ``logit(alpha + (1 - 2 alpha) (x - low) / (high - low))``; ``low``/``high``
                 default to the field's bounds in the spec, else the data's min/max.
``normalise_by_condition``  ``x / (scale * condition) ** power`` (``power`` default 1),
                 e.g. voxel energies over the incident energy.
``affine``       ``(x - shift) / scale`` with given numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from .errors import SpecError, check_known, suggest
from .spec import EventSpec

Fields = dict[str, np.ndarray]
Conds = Mapping[str, np.ndarray]


class Step:
    """One transform of the chain.  Subclasses set ``type``/``params`` and the maths."""

    type: ClassVar[str] = ""
    params: ClassVar[dict[str, Any]] = {}
    needs_fit: ClassVar[bool] = False

    def __init__(self, config: Mapping[str, Any], spec: EventSpec, index: int) -> None:
        self.where = f"preprocessing step {index} ({self.type})"
        allowed = {"type", "field", "fields", *self.params}
        check_known(config, allowed, self.where, noun="key", error=SpecError)
        self.config = dict(config)
        self.options = {**self.params, **{k: v for k, v in config.items() if k in self.params}}
        if "field" in config and "fields" in config:
            raise SpecError(f"{self.where}: give 'field' or 'fields', not both")
        names = config.get("fields", config.get("field"))
        if names is None:
            names = list(spec.field_names)
        elif isinstance(names, str):
            names = [names]
        for name in names:
            if name not in spec.field_names:
                raise SpecError(
                    f"{self.where}: unknown field {name!r}{suggest(name, spec.field_names)}"
                )
        self.fields: list[str] = list(names)
        self.spec = spec
        self.state: dict[str, np.ndarray] = {}

    # -- fitting ------------------------------------------------------------------------
    def begin_fit(self) -> None:
        pass

    def accumulate(self, fields: Fields, conds: Conds) -> None:
        pass

    def end_fit(self) -> None:
        pass

    # -- maths: per field ---------------------------------------------------------------
    def forward_field(
        self, name: str, x: np.ndarray, conds: Conds
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(y, logdet)`` with ``logdet`` summed over the event's elements, (n,)."""
        raise NotImplementedError

    def inverse_field(self, name: str, y: np.ndarray, conds: Conds) -> np.ndarray:
        """Model space -> this step's input.  ``y`` is the chain's own float64 array
        (:meth:`Preprocessing.inverse` copies its input once), so a step may overwrite it
        and return it: sampling decodes millions of values, and a fresh array per
        operation (page faults on first touch) was most of a one-pass model's time."""
        raise NotImplementedError

    def forward(self, fields: Fields, conds: Conds) -> tuple[Fields, np.ndarray]:
        n = len(next(iter(fields.values())))
        out, logdet = dict(fields), np.zeros(n)
        for name in self.fields:
            out[name], ld = self.forward_field(name, fields[name], conds)
            logdet = logdet + ld
        return out, logdet

    def inverse(self, fields: Fields, conds: Conds) -> Fields:
        out = dict(fields)
        for name in self.fields:
            out[name] = self.inverse_field(name, fields[name], conds)
        return out

    def to_config(self) -> dict[str, Any]:
        return dict(self.config)


def _event_sum(a: np.ndarray) -> np.ndarray:
    return a.reshape(len(a), -1).sum(axis=1)


class Standardise(Step):
    type = "standardise"
    params: ClassVar[dict[str, Any]] = {"per": "element", "min_std": 1e-6}
    needs_fit = True

    def __init__(self, config, spec, index):
        super().__init__(config, spec, index)
        if self.options["per"] not in ("element", "field"):
            raise SpecError(f"{self.where}: per must be 'element' or 'field'")

    def _reduce_shape(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1) if self.options["per"] == "element" else x.reshape(-1, 1)

    def begin_fit(self) -> None:
        self._acc: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}

    def accumulate(self, fields, conds):
        # Chan et al.'s parallel update: exact and stable for any number of batches.
        for name in self.fields:
            x = self._reduce_shape(np.asarray(fields[name], dtype=np.float64))
            nb = len(x)
            if nb == 0:
                continue
            mb = x.mean(axis=0)
            m2b = ((x - mb) ** 2).sum(axis=0)
            if name not in self._acc:
                self._acc[name] = (nb, mb, m2b)
                continue
            na, ma, m2a = self._acc[name]
            n = na + nb
            delta = mb - ma
            self._acc[name] = (n, ma + delta * nb / n, m2a + m2b + delta**2 * na * nb / n)

    def end_fit(self):
        for name in self.fields:
            if name not in self._acc:
                raise SpecError(f"{self.where}: no events to fit on")
            n, mean, m2 = self._acc[name]
            std = np.sqrt(m2 / max(n - 1, 1))
            std = np.maximum(std, float(self.options["min_std"]))
            shape = self.spec.field(name).shape if self.options["per"] == "element" else ()
            self.state[f"{name}.mean"] = mean.reshape(shape)
            self.state[f"{name}.std"] = std.reshape(shape)
        del self._acc

    def forward_field(self, name, x, conds):
        mean, std = self.state[f"{name}.mean"], self.state[f"{name}.std"]
        y = (x - mean) / std
        per_event = float(np.log(std).sum()) * (1 if std.ndim else self.spec.field(name).size)
        return y, np.full(len(x), -per_event)

    def inverse_field(self, name, y, conds):
        y *= self.state[f"{name}.std"]
        y += self.state[f"{name}.mean"]
        return y


class Log(Step):
    type = "log"
    params: ClassVar[dict[str, Any]] = {"eps": 1e-6, "high": None}

    def __init__(self, config, spec, index):
        super().__init__(config, spec, index)
        high = self.options["high"]
        if high is not None and not float(high) > 0:
            raise SpecError(f"{self.where}: high must be > 0, not {high!r}")

    def forward_field(self, name, x, conds):
        eps = float(self.options["eps"])
        shifted = x + eps
        if shifted.size and shifted.min() <= 0:
            raise SpecError(
                f"{self.where}: field {name!r} has values <= -eps ({x.min():g}); "
                "the log step is for non-negative quantities"
            )
        y = np.log(shifted)
        return y, -_event_sum(y)

    def inverse_field(self, name, y, conds):
        high = self.options["high"]
        if high is not None:  # cap before exp: no overflow, no value past the maximum
            np.minimum(y, math.log(float(high) + float(self.options["eps"])), out=y)
        np.exp(y, out=y)
        y -= float(self.options["eps"])
        return y


class Logit(Step):
    type = "logit"
    params: ClassVar[dict[str, Any]] = {"low": None, "high": None, "alpha": 1e-6}

    def __init__(self, config, spec, index):
        super().__init__(config, spec, index)
        self._from_data = []
        for name in self.fields:
            f = spec.field(name)
            low = self.options["low"] if self.options["low"] is not None else f.low
            high = self.options["high"] if self.options["high"] is not None else f.high
            if low is None or high is None or math.isinf(low) or math.isinf(high):
                self._from_data.append(name)
            else:
                if not low < high:
                    raise SpecError(f"{self.where}: field {name!r} needs low < high")
                self.state[f"{name}.low"] = np.asarray(float(low))
                self.state[f"{name}.high"] = np.asarray(float(high))

    @property
    def needs_fit(self) -> bool:  # type: ignore[override]
        return bool(self._from_data)

    def begin_fit(self):
        self._min: dict[str, float] = {}
        self._max: dict[str, float] = {}

    def accumulate(self, fields, conds):
        for name in self._from_data:
            x = fields[name]
            if x.size:
                self._min[name] = min(self._min.get(name, np.inf), float(x.min()))
                self._max[name] = max(self._max.get(name, -np.inf), float(x.max()))

    def end_fit(self):
        for name in self._from_data:
            if name not in self._min:
                raise SpecError(f"{self.where}: no events to fit on")
            low, high = self._min[name], self._max[name]
            if not high > low:
                high = low + 1.0
            self.state[f"{name}.low"] = np.asarray(low)
            self.state[f"{name}.high"] = np.asarray(high)

    def forward_field(self, name, x, conds):
        low, high = float(self.state[f"{name}.low"]), float(self.state[f"{name}.high"])
        if x.size and (x.min() < low or x.max() > high):
            raise SpecError(
                f"{self.where}: field {name!r} has values outside [{low:g}, {high:g}], "
                "the range this transform was fitted on"
            )
        alpha = float(self.options["alpha"])
        u = alpha + (1 - 2 * alpha) * (x - low) / (high - low)
        y = np.log(u) - np.log1p(-u)
        ld = math.log((1 - 2 * alpha) / (high - low)) - np.log(u) - np.log1p(-u)
        return y, _event_sum(ld)

    def inverse_field(self, name, y, conds):
        low, high = float(self.state[f"{name}.low"]), float(self.state[f"{name}.high"])
        alpha = float(self.options["alpha"])
        # low + (u - alpha) / (1 - 2 alpha) * (high - low), u = 1 / (1 + exp(-y)), in place
        np.exp(np.negative(y, out=y), out=y)
        y += 1.0
        np.divide(1.0, y, out=y)
        y -= alpha
        y /= 1 - 2 * alpha
        y *= high - low
        y += low
        return np.clip(y, low, high, out=y)


class NormaliseByCondition(Step):
    type = "normalise_by_condition"
    params: ClassVar[dict[str, Any]] = {"condition": None, "scale": 1.0, "power": 1.0}

    def __init__(self, config, spec, index):
        super().__init__(config, spec, index)
        cond = self.options["condition"]
        if cond is None:
            raise SpecError(f"{self.where}: needs 'condition' (one of {spec.condition_names})")
        if cond not in spec.condition_names:
            raise SpecError(
                f"{self.where}: unknown condition {cond!r}{suggest(cond, spec.condition_names)}"
            )

    def _divisor(self, conds: Conds, shape: tuple[int, ...]) -> np.ndarray:
        c = np.asarray(conds[self.options["condition"]], dtype=np.float64).reshape(-1)
        d = (float(self.options["scale"]) * c) ** float(self.options["power"])
        if d.size and (not np.all(np.isfinite(d)) or np.any(d == 0)):
            raise SpecError(f"{self.where}: condition gives a zero or non-finite divisor")
        return d.reshape((-1,) + (1,) * (len(shape) - 1))

    def forward_field(self, name, x, conds):
        d = self._divisor(conds, x.shape)
        size = self.spec.field(name).size
        return x / d, -size * np.log(np.abs(d.reshape(-1)))

    def inverse_field(self, name, y, conds):
        y *= self._divisor(conds, y.shape)
        return y


class Affine(Step):
    type = "affine"
    params: ClassVar[dict[str, Any]] = {"shift": 0.0, "scale": 1.0}

    def __init__(self, config, spec, index):
        super().__init__(config, spec, index)
        if float(self.options["scale"]) == 0:
            raise SpecError(f"{self.where}: scale must not be 0")

    def forward_field(self, name, x, conds):
        s = float(self.options["scale"])
        size = self.spec.field(name).size
        return (x - float(self.options["shift"])) / s, np.full(len(x), -size * math.log(abs(s)))

    def inverse_field(self, name, y, conds):
        y *= float(self.options["scale"])
        y += float(self.options["shift"])
        return y


def step_class(kind: str, index: int) -> type[Step]:
    """The step type ``kind``, as registered by a plugin (``register_preprocessing_steps``)."""
    from .errors import PluginError
    from .registry import get_registry

    try:
        cls = get_registry().get("preprocessing", kind)
    except PluginError as exc:
        raise SpecError(f"preprocessing step {index}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Step)) or cls.type != kind:
        raise PluginError(f"preprocessing step {kind!r} is registered as {cls!r}, not its Step")
    return cls


BatchSource = Callable[[], Iterable[Any]] | Iterable[Any]


class Preprocessing:
    """The chain of steps for one event spec (see the module docstring)."""

    def __init__(self, steps: Iterable[Mapping[str, Any]] | None, spec: EventSpec) -> None:
        if steps is None:
            steps = self.default_config(spec)
        if isinstance(steps, (str, bytes)) or not isinstance(steps, Iterable):
            raise SpecError("preprocessing must be a list of steps like {'type': 'standardise'}")
        self.spec = spec
        self.steps: list[Step] = []
        for i, cfg in enumerate(steps):
            if not isinstance(cfg, Mapping) or "type" not in cfg:
                raise SpecError(
                    f"preprocessing step {i}: expected a dict with a 'type', not {cfg!r}"
                )
            self.steps.append(step_class(cfg["type"], i)(cfg, spec, i))
        self.fitted = not any(s.needs_fit for s in self.steps)

    @staticmethod
    def default_config(spec: EventSpec) -> list[dict[str, Any]]:
        """Standardise every field (per element)."""
        return [{"type": "standardise"}]

    @classmethod
    def default(cls, spec: EventSpec) -> Preprocessing:
        return cls(None, spec)

    def to_config(self) -> list[dict[str, Any]]:
        return [s.to_config() for s in self.steps]

    # -- fitting ------------------------------------------------------------------------
    def fit(self, batches: BatchSource) -> Preprocessing:
        """Fit every step that needs statistics, streaming over ``batches``.

        ``batches`` yields ``Events`` (or ``(fields, conditions)`` pairs).  Pass a callable
        returning a fresh iterable when several steps need fitting (one pass per step);
        a plain iterable is materialised in memory.
        """
        if not callable(batches):
            items = list(batches)

            def source():
                return items
        else:
            source = batches
        for i, step in enumerate(self.steps):
            if not step.needs_fit:
                continue
            step.begin_fit()
            for batch in source():
                fields, conds = _unpack(batch)
                fields = {k: np.asarray(v, dtype=np.float64) for k, v in fields.items()}
                for prev in self.steps[:i]:
                    fields, _ = prev.forward(fields, conds)
                step.accumulate(fields, conds)
            step.end_fit()
        self.fitted = True
        return self

    # -- maths --------------------------------------------------------------------------
    def forward(self, fields: Mapping[str, Any], conds: Conds) -> tuple[Fields, np.ndarray]:
        """Raw fields -> model space (float64) and ``log|det dy/dx|`` per event."""
        self._require_fitted()
        out = {k: np.asarray(v, dtype=np.float64) for k, v in fields.items()}
        n = len(next(iter(out.values())))
        logdet = np.zeros(n)
        for step in self.steps:
            out, ld = step.forward(out, conds)
            logdet = logdet + ld
        return out, logdet

    def inverse(self, fields: Mapping[str, Any], conds: Conds) -> Fields:
        """Model space -> raw fields (float64; the caller casts and clips to the spec).
        The fields are copied once, here: the steps may then work in place."""
        self._require_fitted()
        out = {k: np.array(v, dtype=np.float64) for k, v in fields.items()}
        for step in reversed(self.steps):
            out = step.inverse(out, conds)
        return out

    def as_affine(self, conditions: Conds) -> tuple[np.ndarray, np.ndarray] | None:
        """``(scale, shift)``, flat over the event, with ``raw = model * scale + shift``
        where the fitted chain is one fixed elementwise affine map (``standardise``,
        ``affine``, or no step); ``None`` where it is not (a log, a logit, a division by a
        condition).  ``conditions``: three rows of different conditions, which the map
        must not depend on.

        What training on an energy needs: the target's energy is a function of the raw
        fields, so the model's draws are mapped back in torch, with the gradient, and a
        fixed affine map is the one every chain of such steps composes to.  Found by
        probing the numpy inverse at 0, 1 and 2 (one row each), so no step needs a torch
        twin.
        """
        d = self.spec.event_size
        probe = np.stack([np.zeros(d), np.ones(d), np.full(d, 2.0)])
        raw = self.spec.flatten(self.inverse(self.spec.unflatten(probe), conditions))
        shift, scale = raw[0], raw[1] - raw[0]
        if not np.allclose(raw[2], shift + 2 * scale, rtol=1e-9, atol=1e-12):
            return None
        return scale, shift

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise SpecError("preprocessing is not fitted yet (call fit on training batches)")

    # -- state --------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """Fitted statistics as named arrays: ``"<step index>.<field>.<stat>"``."""
        return {
            f"{i}.{key}": np.asarray(value, dtype=np.float64)
            for i, step in enumerate(self.steps)
            for key, value in step.state.items()
        }

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        for i, step in enumerate(self.steps):
            prefix = f"{i}."
            own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            if step.needs_fit or own:
                missing = [k for k in step.state if k not in own]
                if step.needs_fit and not own:
                    raise SpecError(f"{step.where}: no fitted state in the checkpoint")
                if missing:
                    raise SpecError(f"{step.where}: checkpoint lacks {missing[0]!r}")
                step.state = {k: np.asarray(v, dtype=np.float64) for k, v in own.items()}
        self.fitted = True

    def __repr__(self) -> str:
        return "Preprocessing(" + " -> ".join(s.type for s in self.steps) + ")"


def _unpack(batch: Any) -> tuple[Mapping[str, np.ndarray], Conds]:
    if hasattr(batch, "fields") and hasattr(batch, "conditions"):
        return batch.fields, batch.conditions
    fields, conds = batch
    return fields, conds or {}
