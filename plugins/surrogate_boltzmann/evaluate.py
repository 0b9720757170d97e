"""``evaluate``: how good a Boltzmann generator is, in the estimators of :mod:`.estimators`.

One call draws ``n`` samples with their exact log-density from the model at one
temperature, weighs them against the target's energy and returns a
:class:`BoltzmannScores`:

- always: the reverse (Kish) ESS, the largest normalised weights, ``ln Z`` by importance
  sampling with its error and the ELBO; with the exact ``ln Z`` where the target knows
  it, the error of the estimate and ``KL(q || p)``;
- with ``reference`` (exact samples of the target, or decorrelated MCMC): the EUBO and,
  where ``ln Z`` is known, the forward ESS and ``KL(p || q)``, which see the modes a
  model misses (the reverse ESS cannot); the energy ``W_1``/``W_2`` (the physical energy,
  without a centre-of-mass restraint, for particle systems), raw and reweighted; for
  particle systems the interatomic-distance ``W_2`` and the symmetry-aware ``W_2``;
- for targets with named states (``target.states(x) -> {name: mask}``, or ``states``):
  the free-energy difference of each state from the first, from the raw samples and
  reweighted, against the exact value where the target has ``state_log_z(T)`` and else
  against the reference's counts;
- for targets with labelled modes (``n_modes``, ``mode_labels``): the mode coverage, with
  the reference's shares as the expected ones when a reference is given;
- for lattice models (a target with ``magnetisation``): ``<|m|>``, ``<E>/N``, the specific
  heat and the Binder cumulant of the raw and the reweighted samples (and the
  reference's), and the free energy per site from ``ln Z``.

The model needs ``sample_and_log_prob(n, conditions, seed=...) -> (events, log_q)``
(the flow family's), and ``log_prob(events)`` for the reference's terms.  Energies are
in units of ``k = 1``, so free energies are in the target's energy units.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from surrogate.events import Events
from surrogate.interfaces import Simulator
from surrogate.jsonutil import to_json
from surrogate.metrics.base import MetricError

from . import estimators as est

Array = np.ndarray
States = Callable[[Array], Mapping[str, Array]]

#: configurations per sample in the symmetry-aware W2 (its cost grows as n^2)
SYMMETRY_SAMPLES = 300
#: the largest normalised weights reported
TOP_WEIGHTS = 5


@dataclass(frozen=True)
class BoltzmannScores:
    """What :func:`evaluate` measured (``None``: not measurable for this target or
    without a reference).  ``ess`` is Kish's fraction, ``forward_ess`` FAB's; ``log_z``
    is ``ln Z`` by importance sampling; ``free_energies`` maps ``"A->B"`` to the raw,
    reweighted and exact or reference ``F_B - F_A`` with their errors; ``modes`` and
    ``lattice`` hold :func:`.estimators.mode_coverage` and the lattice observables."""

    target: str
    model: str
    n: int
    temperature: float
    ess: float
    ess_count: float
    top_weights: tuple[float, ...]
    log_z: float
    log_z_error: float
    elbo: float
    elbo_error: float
    log_z_exact: float | None = None
    reverse_kl: float | None = None
    eubo: float | None = None
    eubo_error: float | None = None
    forward_ess: float | None = None
    forward_kl: float | None = None
    energy_w1: float | None = None
    energy_w2: float | None = None
    energy_w2_reweighted: float | None = None
    distance_w2: float | None = None
    symmetry_w2: float | None = None
    free_energies: dict[str, dict[str, float | None]] = field(default_factory=dict)
    modes: dict[str, Any] | None = None
    lattice: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (non-finite numbers become ``None``)."""
        return to_json(asdict(self))


def evaluate(
    model: Any,
    target: Simulator | str,
    n: int,
    temperature: float,
    *,
    seed: int,
    reference: Events | None = None,
    states: States | None = None,
    symmetry_samples: int = SYMMETRY_SAMPLES,
    mode_tolerance: float = est.DEFAULT_TOLERANCE,
) -> BoltzmannScores:
    """The :class:`BoltzmannScores` of ``model`` on ``target`` (a simulator with an
    energy, or its registered name) at ``temperature`` from ``n`` samples (``seed``);
    see the module docstring for what ``reference`` and ``states`` add."""
    if isinstance(target, str):
        from surrogate import simulator

        target = simulator(target)
    t = float(temperature)
    events, log_q = _draw(model, int(n), t, seed)
    log_w = _checked_weights(target.energy(events), log_q)
    log_z = _exact_log_z(target, t)
    scores: dict[str, Any] = _importance(log_w, log_z)
    if reference is not None:
        _check_temperature(reference, t)
        scores |= _forward(model, target, reference, log_z)
        scores |= _energy_distances(target, events, reference, log_w)
        scores |= _particle_distances(target, events, reference, symmetry_samples, seed)
    scores["free_energies"] = state_free_energies(target, events, log_w, t, reference, states)
    scores["modes"] = _modes(target, events, reference, mode_tolerance)
    scores["lattice"] = _lattice(target, events, log_w, t, reference, scores)
    return BoltzmannScores(
        target=target.name or type(target).__name__,
        model=getattr(model, "name", "") or type(model).__name__,
        n=len(log_w),
        temperature=t,
        **scores,
    )


# -- drawing and weighing ----------------------------------------------------------------
def _draw(model: Any, n: int, temperature: float, seed: int) -> tuple[Events, Array]:
    """``n`` events and their log-density from one pass of the model."""
    draw = getattr(model, "sample_and_log_prob", None)
    if not callable(draw):
        name = getattr(model, "name", "") or type(model).__name__
        raise MetricError(
            f"model {name!r} has no sample_and_log_prob: a Boltzmann generator needs "
            "samples with their exact density (a flow)"
        )
    events, log_q = draw(n, {"temperature": temperature}, seed=seed)
    return events, np.asarray(log_q, dtype=np.float64).reshape(-1)


def _checked_weights(u: Array, log_q: Array) -> Array:
    """The log-weights, refusing NaN (and ``+inf``: a sample of zero model density)."""
    log_w = est.log_weights(u, log_q)
    bad = int(np.isnan(log_w).sum() + np.isposinf(log_w).sum())
    if bad:
        raise MetricError(
            f"{bad} of {log_w.size} importance weights are NaN or infinite: a flow that "
            "produces NaN weights (NaN samples or log-densities) cannot be evaluated"
        )
    return log_w


def _exact_log_z(target: Simulator, temperature: float) -> float | None:
    if not target.has_log_prob:
        return None
    return float(target.log_normalizer({"temperature": temperature}, 1)[0])


def _check_temperature(reference: Events, temperature: float) -> None:
    t = np.asarray(reference["temperature"], np.float64)
    if not np.allclose(t, temperature, rtol=1e-6):
        raise MetricError(
            f"the reference is at temperatures {t.min():.4g}..{t.max():.4g}, "
            f"not at the evaluated {temperature:.4g}"
        )


def _importance(log_w: Array, log_z: float | None) -> dict[str, Any]:
    """The reverse estimators, on the model's own samples."""
    ess = est.kish_ess(log_w)
    lz, lower = est.log_z_estimate(log_w), est.elbo(log_w)
    return {
        "ess": ess.fraction,
        "ess_count": ess.count,
        "top_weights": tuple(est.top_weights(log_w, TOP_WEIGHTS).tolist()),
        "log_z": lz.value,
        "log_z_error": lz.error,
        "elbo": lower.value,
        "elbo_error": lower.error,
        "log_z_exact": log_z,
        "reverse_kl": None if log_z is None else est.reverse_kl(log_w, log_z).value,
    }


def _forward(
    model: Any, target: Simulator, reference: Events, log_z: float | None
) -> dict[str, Any]:
    """The forward estimators, on the reference's exact samples: EUBO, and with the
    exact ``ln Z`` the forward ESS and ``KL(p || q)``."""
    log_w_p = _checked_weights(target.energy(reference), np.asarray(model.log_prob(reference)))
    upper = est.eubo(log_w_p)
    out: dict[str, Any] = {"eubo": upper.value, "eubo_error": upper.error}
    if log_z is not None:
        out["forward_ess"] = est.forward_ess(log_w_p, log_z).fraction
        out["forward_kl"] = est.forward_kl(log_w_p, log_z).value
    return out


# -- sample distances ---------------------------------------------------------------------
def is_lattice(target: Simulator) -> bool:
    """A lattice model (spins) says so with a ``magnetisation`` method."""
    return callable(getattr(target, "magnetisation", None))


def is_particle_system(target: Simulator) -> bool:
    """Configurations of particles: a field ``x`` of shape ``(particles, dimension)`` that
    is no lattice of spins."""
    spec = getattr(target, "spec", None)
    if spec is None or "x" not in spec.field_names or is_lattice(target):
        return False
    return len(spec.field("x").shape) == 2


def physical_energy(target: Simulator, events: Events) -> Array:
    """The energy whose distribution is compared: ``target.physical_energy(x)`` where the
    target has one (a particle system's, without its centre-of-mass restraint), else
    ``u kT`` (the potential at each event's temperature)."""
    own = getattr(target, "physical_energy", None)
    if callable(own):
        return np.asarray(own(np.asarray(events["x"], np.float64)), np.float64).reshape(-1)
    u = np.asarray(target.energy(events), np.float64)
    return u * np.asarray(events["temperature"], np.float64)


def _energy_distances(
    target: Simulator, events: Events, reference: Events, log_w: Array
) -> dict[str, float]:
    e_model, e_ref = physical_energy(target, events), physical_energy(target, reference)
    return {
        "energy_w1": est.wasserstein(e_ref, e_model, 1),
        "energy_w2": est.wasserstein(e_ref, e_model, 2),
        "energy_w2_reweighted": est.wasserstein(
            e_ref, e_model, 2, weights_b=est.normalised_weights(log_w)
        ),
    }


def _particle_distances(
    target: Simulator, events: Events, reference: Events, samples: int, seed: int
) -> dict[str, float]:
    if not is_particle_system(target):
        return {}
    x, y = np.asarray(reference["x"]), np.asarray(events["x"])
    return {
        "distance_w2": est.distance_w2(x, y),
        "symmetry_w2": est.symmetry_w2(x, y, max_samples=samples, seed=seed),
    }


# -- states, modes, lattices ---------------------------------------------------------------
def state_free_energies(
    target: Simulator,
    events: Events,
    log_w: Array,
    temperature: float,
    reference: Events | None,
    states: States | None,
) -> dict[str, dict[str, float | None]]:
    """``F_B - F_A`` from the first named state ``A`` to each other one, keyed
    ``"A->B"``: from the raw counts, reweighted, exact (``state_log_z``) and from the
    reference's counts, each with its error.  ``log_w`` may be shifted by a constant."""
    states = states or getattr(target, "states", None)
    if states is None:
        return {}
    masks = dict(states(np.asarray(events["x"])))
    names = list(masks)
    exact = _exact_state_log_z(target, temperature)
    ref = None if reference is None else dict(states(np.asarray(reference["x"])))
    out = {}
    for b in names[1:]:
        a = names[0]
        raw = est.raw_free_energy_difference(masks[a], masks[b], temperature)
        weighted = est.free_energy_difference(log_w, masks[a], masks[b], temperature)
        row = {
            "raw": raw.value,
            "raw_error": raw.error,
            "reweighted": weighted.value,
            "reweighted_error": weighted.error,
            "exact": None if exact is None else -temperature * (exact[b] - exact[a]),
        }
        if ref is not None:
            counted = est.raw_free_energy_difference(ref[a], ref[b], temperature)
            row |= {"reference": counted.value, "reference_error": counted.error}
        out[f"{a}->{b}"] = row
    return out


def _exact_state_log_z(target: Simulator, temperature: float) -> dict[str, float] | None:
    """``ln Z`` of each state where the target has it (``state_log_z``)."""
    fn = getattr(target, "state_log_z", None)
    if not callable(fn):
        return None
    return {k: float(np.asarray(v).reshape(-1)[0]) for k, v in fn(np.array([temperature])).items()}


def _modes(
    target: Simulator, events: Events, reference: Events | None, tolerance: float
) -> dict[str, Any] | None:
    k = int(getattr(target, "n_modes", 0) or 0)
    labels = target.mode_labels(events) if k else None
    if labels is None:
        return None
    expected = None
    if reference is not None:
        expected = est.mode_coverage(target.mode_labels(reference), k).shares
    return asdict(est.mode_coverage(labels, k, tolerance, expected))


def _lattice(
    target: Simulator,
    events: Events,
    log_w: Array,
    temperature: float,
    reference: Events | None,
    scores: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The lattice observables of the raw, reweighted and reference samples, and the
    free energy per site from the estimated and the exact ``ln Z``."""
    if not is_lattice(target):
        return None
    beta = 1.0 / temperature
    spins = np.asarray(events["x"])
    energy = physical_energy(target, events)
    sites = int(np.prod(spins.shape[1:]))
    out: dict[str, Any] = {
        "raw": asdict(est.ising_observables(spins, beta, energy=energy)),
        "reweighted": asdict(est.ising_observables(spins, beta, energy=energy, log_w=log_w)),
        "free_energy_per_site": est.free_energy_per_site(scores["log_z"], beta, sites),
        "free_energy_per_site_error": scores["log_z_error"] / (beta * sites),
    }
    if scores.get("log_z_exact") is not None:
        exact = est.free_energy_per_site(scores["log_z_exact"], beta, sites)
        out["free_energy_per_site_exact"] = exact
        out["free_energy_relative_error"] = abs(out["free_energy_per_site"] / exact - 1.0)
    if reference is not None:
        ref_spins = np.asarray(reference["x"])
        out["reference"] = asdict(
            est.ising_observables(ref_spins, beta, energy=physical_energy(target, reference))
        )
    return out
