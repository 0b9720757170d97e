"""The estimators of Boltzmann generators as metrics of the validation harness.

Every metric here applies only when the ground truth is a Boltzmann target (a
:class:`~.target.Target` registered as a simulator: ``context["simulator"]``); ``bind``
rebuilds it from ``context["simulator"]`` and ``context["simulator_options"]`` and
declines every other simulator, and data of unknown origin.

Sample against sample (``reference`` is reference A, ``generated`` the model's events or,
for the floor row, reference B):

- ``boltzmann.energy_w2``: ``W_2`` between the energies (the physical energy, without a
  centre-of-mass restraint, for particle systems; ``u kT`` otherwise), details: ``W_1``;
- ``boltzmann.distance_w2``, ``boltzmann.symmetry_w2`` (particle systems): ``W_2`` of the
  interatomic distances, and the symmetry-aware ``W_2`` (min over rotations, reflections
  and permutations per pair; a subsample, as its cost grows as ``n^2``);
- ``boltzmann.mode_coverage`` (targets with labelled modes): the fraction of modes
  covered (:func:`.estimators.mode_coverage`, the reference's shares expected);
- ``boltzmann.ising`` (lattice models): ``<|m|>``, ``<E>/N``, specific heat and Binder
  cumulant, each as ``|generated - reference|`` in units of its bootstrap error.

Importance weights (``needs_log_density``: the harness gives the generated sample the
model's log-density, for a model with an exact one):

- ``boltzmann.ess``: Kish's reverse ESS as a fraction;
- ``boltzmann.log_z`` (targets that know ``ln Z``): ``|ln mean(p / q)|``, which at one
  temperature is FAB's ``log Z`` error ``|ln Z_hat - ln Z|``; details: ``KL(q || p)``.

Validation draws temperatures from the condition's prior, so weights of different
temperatures meet: with a known ``ln Z(T)`` each weight is normalised by its own, and the
estimators are averages over the temperatures; without one, the ESS needs one temperature
and is NaN otherwise (with a note).  The floor row of the importance metrics is NaN: a
reference sample has no model log-density.  The forward ESS and the EUBO need the model's
density on the reference, which the harness does not compute: :func:`.evaluate.evaluate`
reports them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from surrogate.errors import SurrogateError
from surrogate.events import Events
from surrogate.metrics import Metric, MetricError, MetricResult, Sample
from surrogate.spec import EventSpec

from . import estimators as est
from .evaluate import is_lattice, is_particle_system, physical_energy
from .target import Target

Array = np.ndarray
#: shares listed in a mode-coverage result's details up to this many modes
MAX_LISTED_MODES = 100
NO_DENSITY = (
    "no model log-density for this sample (a reference sample, or a model whose density "
    "is not exact)"
)


def target_from_context(context: Mapping[str, Any]) -> Target | None:
    """The Boltzmann target the data come from, rebuilt with its options; ``None`` for
    data of another simulator (not built) or of no known simulator."""
    from surrogate import simulator
    from surrogate.registry import get_registry

    name = context.get("simulator")
    if not name:
        return None
    try:
        factory = get_registry().get("simulator", name)
    except SurrogateError:
        return None
    if not (isinstance(factory, type) and issubclass(factory, Target)):
        return None
    return simulator(name, **dict(context.get("simulator_options") or {}))


def _exact_density(context: Mapping[str, Any]) -> bool:
    """Whether the model family (``context["model"]``) has an exact density; unknown
    families are given the benefit of the doubt."""
    from surrogate.factories import surrogate_class

    name = context.get("model")
    try:
        return name is None or surrogate_class(name).density == "exact"
    except SurrogateError:
        return True


def _events(sample: Sample, what: str) -> Events:
    if sample.events is None:
        raise MetricError(f"{what} needs the events (a sample built from events)")
    return sample.events


class _TargetMetric(Metric):
    """A metric of a Boltzmann target: :meth:`bind` builds the target and keeps it."""

    inputs = "events"
    target: Target | None = None

    def applies(self, target: Target) -> bool:
        return True

    def bind(self, spec: EventSpec, context: Mapping[str, Any]) -> Metric | None:
        target = target_from_context(context)
        if target is None or not self.applies(target):
            return None
        if self.needs_log_density and not _exact_density(context):
            return None
        new = self.configured()
        new.target = target
        return new

    def configured(self, **options: Any) -> Metric:
        new = super().configured(**options)
        new.target = self.target
        return new

    def _target(self) -> Target:
        if self.target is None:
            raise MetricError(f"{self.name}: not bound to a Boltzmann target")
        return self.target


def _bootstrap_error(
    fn: Callable[[Array, Array], float], a: Array, b: Array, resamples: int, seed: int
) -> float | None:
    """The standard deviation of ``fn`` over ``resamples`` resamples of both samples."""
    if resamples < 2:
        return None
    rng = np.random.default_rng(seed)
    values = [
        fn(a[rng.integers(0, len(a), len(a))], b[rng.integers(0, len(b), len(b))])
        for _ in range(resamples)
    ]
    return float(np.std(values, ddof=1))


# -- sample against sample ----------------------------------------------------------------
class EnergyW2(_TargetMetric):
    description = "W2 between the energy distributions (particle systems: physical energy)"
    defaults = {"bootstrap": 10}

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        target = self._target()
        e_ref = physical_energy(target, _events(reference, self.name))
        e_gen = physical_energy(target, _events(generated, self.name))

        def w2(a: Array, b: Array) -> float:
            return est.wasserstein(a, b, 2)

        value = w2(e_ref, e_gen)
        error = None
        if math.isfinite(value):
            error = _bootstrap_error(w2, e_ref, e_gen, self.options["bootstrap"], seed)
        return MetricResult(
            value,
            error,
            details={
                "w1": est.wasserstein(e_ref, e_gen, 1),
                "non_finite": int((~np.isfinite(e_gen)).sum()),
            },
        )


class DistanceW2(_TargetMetric):
    description = "W2 between the interatomic-distance distributions (particle systems)"
    defaults = {"bootstrap": 10}

    def applies(self, target: Target) -> bool:
        return is_particle_system(target)

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        x = np.asarray(_events(reference, self.name)["x"], np.float64)
        y = np.asarray(_events(generated, self.name)["x"], np.float64)
        error = _bootstrap_error(est.distance_w2, x, y, self.options["bootstrap"], seed)
        return MetricResult(est.distance_w2(x, y), error)


class SymmetryW2(_TargetMetric):
    description = (
        "symmetry-aware W2: optimal assignment of configurations aligned by rotation, "
        "reflection and permutation (a subsample)"
    )
    defaults = {"samples": 200, "rounds": 3}

    def applies(self, target: Target) -> bool:
        return is_particle_system(target)

    def summary(self) -> str:
        return f"{self.description}: {self.options['samples']} configurations per sample"

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        x = np.asarray(_events(reference, self.name)["x"], np.float64)
        y = np.asarray(_events(generated, self.name)["x"], np.float64)
        n = int(self.options["samples"])
        value = est.symmetry_w2(x, y, rounds=int(self.options["rounds"]), max_samples=n, seed=seed)
        return MetricResult(value, details={"samples": min(n, len(x), len(y))})


class ModeCoverageMetric(_TargetMetric):
    description = "fraction of the target's modes the sample covers (reference shares expected)"
    defaults = {"tolerance": est.DEFAULT_TOLERANCE}

    def applies(self, target: Target) -> bool:
        return int(getattr(target, "n_modes", 0) or 0) > 0

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        target = self._target()
        k = int(target.n_modes)
        labels_ref = target.mode_labels(_events(reference, self.name))
        labels_gen = target.mode_labels(_events(generated, self.name))
        if labels_ref is None or labels_gen is None:
            raise MetricError(f"{self.name}: the target labels no modes")
        expected = est.mode_coverage(labels_ref, k).shares
        cov = est.mode_coverage(labels_gen, k, float(self.options["tolerance"]), expected)
        details: dict[str, Any] = {
            "covered": cov.covered,
            "n_modes": k,
            "off_mode": cov.off_mode,
            "total_variation": cov.total_variation,
        }
        if k <= MAX_LISTED_MODES:
            details |= {"shares": list(cov.shares), "expected": list(cov.expected)}
        return MetricResult(cov.fraction, details=details, ideal=1.0, higher_is_better=True)


LATTICE_OBSERVABLES = ("abs_magnetisation", "energy_per_site", "specific_heat", "binder")


class LatticeMetric(_TargetMetric):
    description = (
        "<|m|>, <E>/N, specific heat and Binder cumulant: |generated - reference| in "
        "units of the bootstrap error of the difference; headline: the largest"
    )
    defaults = {"bootstrap": 20}

    def applies(self, target: Target) -> bool:
        return is_lattice(target)

    def _observables(self, events: Events, index: Array | None = None) -> Array:
        target = self._target()
        spins = np.asarray(events["x"])
        beta = 1.0 / np.asarray(events["temperature"], np.float64)
        energy = physical_energy(target, events)
        if index is not None:
            spins, beta, energy = spins[index], beta[index], energy[index]
        obs = est.ising_observables(spins, beta, energy=energy)
        return np.array([getattr(obs, k) for k in LATTICE_OBSERVABLES])

    def _spread(self, events: Events, rng: np.random.Generator) -> Array:
        n, k = len(events), int(self.options["bootstrap"])
        if k < 2:
            raise MetricError(f"{self.name}: needs bootstrap >= 2 for its errors")
        draws = [self._observables(events, rng.integers(0, n, n)) for _ in range(k)]
        return np.std(draws, axis=0, ddof=1)

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        ref, gen = _events(reference, self.name), _events(generated, self.name)
        rng = np.random.default_rng(seed)
        o_ref, o_gen = self._observables(ref), self._observables(gen)
        error = np.hypot(self._spread(ref, rng), self._spread(gen, rng))
        with np.errstate(divide="ignore", invalid="ignore"):
            pulls = np.abs(o_gen - o_ref) / error
        per = dict(zip(LATTICE_OBSERVABLES, pulls.tolist(), strict=True))
        details = {
            "reference": dict(zip(LATTICE_OBSERVABLES, o_ref.tolist(), strict=True)),
            "generated": dict(zip(LATTICE_OBSERVABLES, o_gen.tolist(), strict=True)),
            "error": dict(zip(LATTICE_OBSERVABLES, error.tolist(), strict=True)),
        }
        return MetricResult(float(np.nanmax(pulls)), per_observable=per, details=details)


# -- importance weights -----------------------------------------------------------------------
def normalised_log_weights(target: Target, sample: Sample) -> tuple[Array | None, str]:
    """``(log w, note)`` of a generated sample with the model's log-density: ``log p/q``
    where ``ln Z(T)`` is known (comparable across temperatures), the unnormalised
    ``-u - log q`` at one temperature; ``None`` with the reason otherwise."""
    if sample.log_density is None:
        return None, NO_DENSITY
    events = _events(sample, "importance weights")
    log_w = est.log_weights(target.energy(events), sample.log_density)
    bad = int(np.isnan(log_w).sum() + np.isposinf(log_w).sum())
    if bad:
        return None, f"{bad} of {log_w.size} importance weights are NaN or infinite"
    t = np.asarray(events["temperature"], np.float64)
    if target.has_log_prob:
        return log_w - target.log_normalizer({"temperature": t}, len(t)), ""
    if np.ptp(t) > 0:
        return None, "temperatures vary and ln Z(T) is unknown: their weights do not compare"
    return log_w, ""


class ESSMetric(_TargetMetric):
    description = "Kish's effective sample size of the importance weights, as a fraction"
    needs_log_density = True

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        log_w, note = normalised_log_weights(self._target(), generated)
        if log_w is None:
            return MetricResult(math.nan, details={"note": note}, ideal=1.0, higher_is_better=True)
        ess = est.kish_ess(log_w)
        details = {
            "count": ess.count,
            "n": ess.n,
            "top_weights": est.top_weights(log_w, 5).tolist(),
        }
        return MetricResult(ess.fraction, details=details, ideal=1.0, higher_is_better=True)


class LogZMetric(_TargetMetric):
    description = "|ln Z_hat - ln Z| by importance sampling (FAB's log Z error)"
    needs_log_density = True

    def applies(self, target: Target) -> bool:
        return target.has_log_prob

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        log_w, note = normalised_log_weights(self._target(), generated)
        if log_w is None:
            return MetricResult(math.nan, details={"note": note})
        bias = est.log_z_estimate(log_w)
        details = {"signed": bias.value, "reverse_kl": est.reverse_kl(log_w, 0.0).value}
        return MetricResult(abs(bias.value), bias.error, details=details)
