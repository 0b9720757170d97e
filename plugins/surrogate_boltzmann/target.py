"""``Target``: a Boltzmann distribution ``p(x | T) ∝ exp(-U(x) / T)`` as a simulator.

Energies are in units of k = 1, so the condition ``temperature`` is kT in the units of
``U`` and the reduced energy the core sees (:mod:`surrogate.energy`) is ``U(x) / T``.
The configuration is the one field ``x``: ``(dim,)`` for a density in the plane or in
``dim`` dimensions, ``(particles, dimension)`` for a particle system, ``(L, L)`` spins for
a lattice model.

A subclass implements :meth:`potential` with torch operations (so forces come by
autograd unless it overrides ``_force``) and, where they exist, :meth:`exact_sample` and
:meth:`log_z`.  ``sample`` draws exactly where an exact sampler exists and runs the
reference Markov chains otherwise (:mod:`.reference`), so ``sample(n, {"temperature":
T})`` always returns independent configurations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from surrogate import Condition, EventSpec, Field, Simulator
from surrogate.errors import SpecError


def temperature_condition(t_min: float, t_max: float) -> Condition:
    """The ``temperature`` condition over ``[t_min, t_max]`` (log-uniform prior: equal
    weight per factor of temperature, as tempering ladders are spaced)."""
    t_min, t_max = float(t_min), float(t_max)
    if not 0 < t_min <= t_max:
        raise SpecError(f"temperature range needs 0 < t_min <= t_max, not [{t_min}, {t_max}]")
    return Condition(
        "temperature",
        "kT",
        t_min,
        t_max,
        prior="loguniform" if t_max > t_min else "uniform",
        description="temperature kT in the units of the energy (k = 1)",
    )


class Target(Simulator):
    """Base of the Boltzmann targets (see the module docstring)."""

    version = "1.0"
    #: dtype of the configuration field (spins are int8)
    dtype = "float32"
    #: reduced-energy units of ``potential``: the convention the docs and benchmarks name
    convention: str = ""
    #: the configuration's natural length: a generator works on ``x / length_scale``, so
    #: a flow's spline range (a few units) covers the target with no data to fit a
    #: standardisation on (training on the energy alone)
    length_scale: float = 1.0

    def _target_spec(
        self,
        shape: tuple[int, ...],
        t_min: float,
        t_max: float,
        description: str,
        low: float | None = None,
        high: float | None = None,
    ) -> EventSpec:
        """The spec of field ``x`` (bounds ``low``/``high``: spins are in [-1, 1])."""
        field = Field("x", tuple(shape), self.dtype, "", low, high, description)
        return EventSpec(fields=(field,), conditions=(temperature_condition(t_min, t_max),))

    # -- what a target implements -----------------------------------------------------
    def potential(self, x: Any) -> Any:
        """``U(x)`` per configuration: torch ``(n, *shape) -> (n,)``, differentiable."""
        raise NotImplementedError

    def exact_sample(self, n: int, temperature: np.ndarray, rng: np.random.Generator) -> Any:
        """``n`` exact, independent configurations at per-event ``temperature`` (numpy
        ``(n, *shape)``), or ``None`` where no exact sampler exists."""
        return None

    def initial_state(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Where Markov chains start: Gaussian noise of the target's length scale, not
        exact samples (a chain started in equilibrium would hide its burn-in and, on a
        multi-modal target, the barrier it has to cross).  Particle and lattice targets
        override it with configurations of finite energy."""
        shape = self.spec.fields[0].shape
        return self.length_scale * rng.standard_normal((n, *shape))

    def log_z(self, temperature: np.ndarray) -> np.ndarray | None:
        """``ln Z(T) = ln ∫ exp(-U(x)/T) dx`` per temperature where known, else ``None``."""
        return None

    # -- the core's interfaces --------------------------------------------------------
    def preprocessing(self) -> list[dict[str, Any]]:
        """A fixed affine map by :attr:`length_scale` (none at 1): it needs no data, and
        a Boltzmann generator trained on the energy alone maps its draws back through
        it in torch (:meth:`surrogate.preprocessing.Preprocessing.as_affine`)."""
        if self.length_scale == 1.0:
            return []
        return [{"type": "affine", "shift": 0.0, "scale": float(self.length_scale)}]

    def _energy(self, fields: Mapping[str, Any], conditions: Mapping[str, Any]) -> Any:
        return self.potential(fields["x"]) / conditions["temperature"]

    @property
    def has_log_prob(self) -> bool:
        return self.log_z(np.ones(1)) is not None

    def _log_normalizer(self, conditions: Mapping[str, np.ndarray]) -> np.ndarray:
        log_z = self.log_z(np.asarray(conditions["temperature"], np.float64))
        assert log_z is not None
        return log_z

    def _sample(
        self, n: int, conditions: dict[str, np.ndarray], rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        temperature = conditions["temperature"]
        x = self.exact_sample(n, temperature, rng)
        if x is None:
            from .reference import reference_sample

            x = reference_sample(self, n, temperature, rng)
        return {"x": np.asarray(x)}
