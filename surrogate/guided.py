"""Property-guided generation: events whose observable lies in a wanted range, found in
a model's latent space (:mod:`surrogate.latent`).

:func:`guided_sample` draws latent points, decodes them as the model's ``sample`` does
(``from_latent(..., noise=True)``) and keeps the events with ``low <= observable <= high``:

``method="rejection"``
    z from the prior ``N(0, I)``: the kept events are distributed exactly as the model's
    ``p(x | c, observable in range)``; the acceptance estimates ``P(in range)`` under the
    model, with a binomial error.  Every weight is 1.
``method="adaptive"``
    the cross-entropy method (Rubinstein 1999, Methodol. Comput. Appl. Probab. 1, 127;
    the rare-event recipe of de Boer et al. 2005, Ann. Oper. Res. 134, 19): a Gaussian
    proposal ``q`` in latent space, refitted each round to the draws nearest the range
    (the ``elite`` fraction, by their distance to it) until enough land inside
    (``MIN_INSIDE``), then to those inside, with likelihood-ratio weights and
    smoothing; then the events are drawn from the last ``q``.  Those are *not*
    distributed as the model's conditional: each carries the importance weight
    ``w = p(z) / q(z)``, and weighted averages (:meth:`GuidedResult.weighted_mean`)
    estimate the conditional's; the effective sample size (Kish) says how many
    unweighted events they are worth, and ``mean(w * inside)`` over the proposal's draws
    estimates ``P(in range)``.  The proposal is a defensive mixture (Hesterberg 1995,
    Technometrics 37, 185): a share ``defensive`` of the draws come from the prior,
    which bounds every weight by ``1 / defensive`` where the fitted Gaussian's tails are
    lighter than the prior's.  The search's own draws are counted in the cost and not
    returned (their proposals differ from the last one).

No gradient search: the observables are numpy functions of decoded events (registered
observable sets, a readout threshold that zeroes voxels) with no gradient to follow, and
a point moved along a gradient has no proposal density to weight it by.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .errors import SpecError, SurrogateError, check_known
from .events import Events
from .interfaces import Seed, make_rng
from .latent import LatentModel, model_spec, prior_log_prob, prior_sample, require_latent

ObservableLike = Callable[[Events], Any] | str
Method = Literal["rejection", "adaptive"]
METHODS = ("rejection", "adaptive")
#: Variance added to a fitted proposal's covariance, so it stays positive definite.
RIDGE = 1e-6
#: A round refits to the draws inside the range once this many (at least 2 (d + 1), and
#: at most the elite share) landed there: the cross-entropy fit of the conditional needs
#: only enough points for a Gaussian, and a range the Gaussian cannot cover to the elite
#: share (a shell around the origin) would otherwise never end the search.
MIN_INSIDE = 20


# -- the observable ---------------------------------------------------------------------------
def observable_function(
    spec: Any, observable: ObservableLike, context: Mapping[str, Any] | None = None
) -> Callable[[Events], np.ndarray]:
    """A function events -> one float per event: ``observable`` itself when callable, else
    the observable of that name in the observable sets that apply to ``spec`` (as a
    validation binds them, with ``context``: ``simulator``, ``simulator_options``...)."""
    if callable(observable):
        return lambda events: _values(observable(events), len(events), "the observable")
    if not isinstance(observable, str):
        raise SurrogateError(f"observable must be a callable or a name, not {observable!r}")
    from .metrics import observable_sets_for

    sets = observable_sets_for(spec, context)

    def by_name(events: Events) -> np.ndarray:
        known: list[str] = []
        for s in sets:
            found = s.observables(events)
            if observable in found:
                return _values(found[observable].values, len(events), observable)
            known += list(found)
        what = "the observables of " + (", ".join(s.name for s in sets) or "no set")
        check_known([observable], known, what, noun="observable")
        raise AssertionError("unreachable")

    return by_name


def _values(values: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(getattr(values, "values", values), dtype=np.float64).reshape(-1)
    if len(arr) != n:
        raise SurrogateError(f"{what} gave {len(arr)} values for {n} events")
    return arr


def distance(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """How far each value lies outside ``[low, high]`` (0 inside; NaN: infinitely)."""
    d = np.maximum(low - values, 0.0) + np.maximum(values - high, 0.0)
    return np.where(np.isnan(d), np.inf, d)


def ess(weights: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (Kish 1965)."""
    w = np.asarray(weights, dtype=np.float64)
    s2 = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / s2 if s2 > 0 else 0.0


# -- the result -------------------------------------------------------------------------------
@dataclass(frozen=True)
class GuidedResult:
    """The accepted events with their observable, latent points and weights, and what
    finding them cost."""

    events: Events
    values: np.ndarray
    latents: np.ndarray
    weights: np.ndarray
    method: str
    low: float
    high: float
    requested: int
    draws: int  # latent points decoded, the search's included
    search_draws: int
    hits: int  # draws of the final proposal (the prior for rejection) inside the range
    seconds: float
    probability: float  # estimated P(low <= observable <= high) under the model
    probability_error: float
    seen: tuple[float, float]  # the observable's range over every draw
    search: tuple[dict[str, Any], ...] = field(default=())

    @property
    def accepted(self) -> int:
        return len(self.values)

    @property
    def complete(self) -> bool:
        """Whether ``requested`` events were found within the budget."""
        return self.accepted >= self.requested

    @property
    def acceptance(self) -> float:
        """Accepted events per latent draw, the search's draws included (the cost)."""
        return self.hits / self.draws if self.draws else 0.0

    @property
    def proposal_acceptance(self) -> float:
        """The share of the final proposal's draws inside the range."""
        production = self.draws - self.search_draws
        return self.hits / production if production else 0.0

    @property
    def ess(self) -> float:
        return ess(self.weights)

    @property
    def rate(self) -> float:
        """Accepted events per second of wall time."""
        return self.accepted / self.seconds if self.seconds > 0 else math.inf

    def weighted_mean(self, values: np.ndarray | None = None) -> tuple[float, float]:
        """The self-normalised weighted mean of ``values`` (default: the observable) over
        the accepted events and its standard error, ``sqrt(sum w^2 (v - mean)^2) / sum w``
        (the delta method; Owen 2013, Monte Carlo theory, eq. 9.9)."""
        v = self.values if values is None else np.asarray(values, dtype=np.float64)
        w = self.weights
        mean = float(np.sum(w * v) / np.sum(w))
        return mean, float(np.sqrt(np.sum(w**2 * (v - mean) ** 2)) / np.sum(w))

    def summary(self) -> dict[str, Any]:
        """The figures of merit, as plain numbers."""
        return {
            "method": self.method,
            "range": [self.low, self.high],
            "requested": self.requested,
            "accepted": self.accepted,
            "draws": self.draws,
            "search_draws": self.search_draws,
            "acceptance": self.acceptance,
            "proposal_acceptance": self.proposal_acceptance,
            "probability": self.probability,
            "probability_error": self.probability_error,
            "ess": self.ess,
            "seconds": self.seconds,
            "events_per_s": self.rate,
            "seen": list(self.seen),
        }


# -- the proposal -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Proposal:
    """``defensive * N(0, I) + (1 - defensive) * N(mean, cov)`` in latent space."""

    mean: np.ndarray
    cov: np.ndarray
    defensive: float = 0.0

    @classmethod
    def prior(cls, dim: int) -> Proposal:
        return cls(np.zeros(dim), np.eye(dim), 0.0)

    @property
    def chol(self) -> np.ndarray:
        return np.linalg.cholesky(self.cov)

    def draw(self, rng: np.random.Generator, m: int) -> np.ndarray:
        eps = rng.standard_normal((m, len(self.mean)))
        fitted = self.mean + eps @ self.chol.T
        from_prior = rng.random(m) < self.defensive
        return np.where(from_prior[:, None], eps, fitted)

    def log_prob(self, z: np.ndarray) -> np.ndarray:
        from scipy.linalg import solve_triangular

        chol = self.chol
        y = solve_triangular(chol, (z - self.mean).T, lower=True)
        log_det = float(np.log(np.diag(chol)).sum())
        log_g = -0.5 * (np.sum(y * y, axis=0) + len(self.mean) * np.log(2 * np.pi)) - log_det
        if self.defensive <= 0:
            return log_g
        return np.logaddexp(
            math.log(self.defensive) + prior_log_prob(z), math.log1p(-self.defensive) + log_g
        )

    def refit(
        self, z: np.ndarray, weights: np.ndarray, smoothing: float, defensive: float
    ) -> Proposal:
        """The weighted Gaussian fit of ``z``, smoothed with this proposal's (full
        covariance when the weighted points number five per dimension, else diagonal)."""
        w = weights / weights.sum()
        mean = w @ z
        dev = z - mean
        dim = len(mean)
        full = ess(w) >= 5 * dim
        cov = (dev * w[:, None]).T @ dev if full else np.diag(w @ (dev * dev))
        a = float(smoothing)
        return Proposal(
            a * mean + (1 - a) * self.mean,
            a * cov + (1 - a) * self.cov + RIDGE * np.eye(dim),
            defensive,
        )


# -- the search -------------------------------------------------------------------------------
class _Draws:
    """Decodes latent batches at the conditions, evaluates the observable and keeps the
    accepted events; counts the draws against the budget."""

    def __init__(
        self,
        model: LatentModel,
        conditions: dict[str, float] | None,
        observable: Callable[[Events], np.ndarray],
        low: float,
        high: float,
        rng: np.random.Generator,
        budget: int,
        max_time: float | None = None,
    ) -> None:
        self.model, self.conditions, self.observable = model, conditions, observable
        self.low, self.high, self.rng, self.budget = low, high, rng, budget
        self.start = time.perf_counter()
        self.deadline = math.inf if max_time is None else self.start + float(max_time)
        self.draws = 0
        self.phase_start = 0  # draws before the current phase (the adaptive production)
        self.lo, self.hi = math.inf, -math.inf
        self.parts: list[tuple[Events, np.ndarray, np.ndarray, np.ndarray]] = []

    @property
    def left(self) -> int:
        """Draws left: the budget's rest, none once the time allowed is up (after a
        phase's first batch, so that there is an estimate to return)."""
        if self.draws > self.phase_start and time.perf_counter() > self.deadline:
            return 0
        return self.budget - self.draws

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

    @property
    def accepted(self) -> int:
        return sum(len(p[1]) for p in self.parts)

    def decode(self, z: np.ndarray) -> tuple[Events, np.ndarray]:
        seed = int(self.rng.integers(2**63 - 1))
        events = self.model.from_latent(z, self.conditions, noise=True, seed=seed)
        values = self.observable(events)
        self.draws += len(z)
        finite = values[np.isfinite(values)]
        if len(finite):
            self.lo, self.hi = min(self.lo, finite.min()), max(self.hi, finite.max())
        return events, values

    def keep(self, events: Events, values: np.ndarray, z: np.ndarray, w: np.ndarray) -> int:
        """Keep the events inside the range; how many were."""
        inside = np.flatnonzero(distance(values, self.low, self.high) == 0)
        if len(inside):
            self.parts.append((events[inside], values[inside], z[inside], w[inside]))
        return len(inside)

    def unreachable(self) -> SurrogateError:
        seen = f"[{self.lo:.6g}, {self.hi:.6g}]" if self.lo <= self.hi else "no finite value"
        spent = "the budget" if self.draws >= self.budget else f"{self.seconds:.3g} s"
        return SurrogateError(
            f"no event with {self.low:.6g} <= observable <= {self.high:.6g} in {self.draws} "
            f"latent draws ({spent}); the observable ranged over {seen}"
        )

    def result(self, n: int, **figures: Any) -> GuidedResult:
        if not self.parts:
            raise self.unreachable()
        values, latents, weights = (
            np.concatenate([p[i] for p in self.parts])[:n] for i in (1, 2, 3)
        )
        return GuidedResult(
            events=Events.concatenate([p[0] for p in self.parts])[:n],
            values=values,
            latents=latents,
            weights=weights,
            low=self.low,
            high=self.high,
            requested=n,
            draws=self.draws,
            seen=(self.lo, self.hi),
            **figures,
        )


def _rejection(job: _Draws, n: int, batch: int) -> GuidedResult:
    dim = job.model.latent_dim
    hits = 0
    while job.accepted < n and job.left > 0:
        z = prior_sample(dim, min(batch, job.left), job.rng)
        events, values = job.decode(z)
        hits += job.keep(events, values, z, np.ones(len(z)))
    p = hits / job.draws
    return job.result(
        n,
        method="rejection",
        search_draws=0,
        hits=hits,
        seconds=job.seconds,
        probability=p,
        probability_error=math.sqrt(p * (1 - p) / job.draws),
    )


@dataclass(frozen=True)
class AdaptiveOptions:
    """The cross-entropy search's settings (see the module docstring): ``elite`` share of
    each round's draws refitted to, ``smoothing`` of the new fit against the last one
    (de Boer et al. advise 0.4-0.9), the ``defensive`` prior share, and how many rounds
    fitted to draws inside the range (``refine``) end the search, within
    ``max_rounds``."""

    elite: float = 0.1
    smoothing: float = 0.7
    defensive: float = 0.1
    refine: int = 2
    max_rounds: int = 30

    def __post_init__(self) -> None:
        for name, value in (("elite", self.elite), ("smoothing", self.smoothing)):
            if not 0 < value <= 1:
                raise SpecError(f"adaptive {name} must be in (0, 1], not {value!r}")
        if not 0 <= self.defensive < 1:
            raise SpecError(f"adaptive defensive must be in [0, 1), not {self.defensive!r}")
        if self.refine < 1 or self.max_rounds < 1:
            raise SpecError("adaptive refine and max_rounds must be at least 1")


def _search(job: _Draws, batch: int, opts: AdaptiveOptions) -> tuple[Proposal, list[dict]]:
    """Cross-entropy rounds until ``refine`` of them were fitted inside the range."""
    q, inside_fits = Proposal.prior(job.model.latent_dim), 0
    rounds: list[dict[str, Any]] = []
    while inside_fits < opts.refine and len(rounds) < opts.max_rounds and job.left > 0:
        z = q.draw(job.rng, min(batch, job.left))
        _, values = job.decode(z)
        d = distance(values, job.low, job.high)
        k = max(math.ceil(opts.elite * len(z)), 2)
        inside = np.flatnonzero(d == 0)
        enough = len(inside) >= min(k, max(MIN_INSIDE, 2 * (len(q.mean) + 1)))
        elite = inside if enough else np.argsort(d, kind="stable")[:k]
        level = float(d[elite].max())
        rounds.append({"draws": len(z), "inside": len(inside), "level": level})
        inside_fits += level == 0
        log_w = prior_log_prob(z[elite]) - q.log_prob(z[elite])  # relative: no underflow
        q = q.refit(z[elite], np.exp(log_w - log_w.max()), opts.smoothing, opts.defensive)
    if inside_fits == 0:
        if not any(r["inside"] for r in rounds):
            raise job.unreachable()
        raise SurrogateError(
            f"the adaptive search did not reach the range in {job.draws} latent draws "
            f"({len(rounds)} rounds, {sum(r['inside'] for r in rounds)} draws inside): "
            "raise the budget or max_rounds, or use method='rejection'"
        )
    return q, rounds


def _adaptive(job: _Draws, n: int, batch: int, opts: AdaptiveOptions) -> GuidedResult:
    q, rounds = _search(job, batch, opts)
    search_draws, hits, terms = job.draws, 0, []
    job.phase_start = search_draws
    while job.accepted < n and job.left > 0:
        z = q.draw(job.rng, min(batch, job.left))
        events, values = job.decode(z)
        w = np.exp(prior_log_prob(z) - q.log_prob(z))
        hits += job.keep(events, values, z, w)
        terms.append(np.where(distance(values, job.low, job.high) == 0, w, 0.0))
    t = np.concatenate(terms) if terms else np.zeros(0)
    return job.result(
        n,
        method="adaptive",
        search_draws=search_draws,
        hits=hits,
        seconds=job.seconds,
        probability=float(t.mean()) if len(t) else math.nan,
        probability_error=float(t.std() / math.sqrt(len(t))) if len(t) > 1 else math.nan,
        search=tuple(rounds),
    )


def _fixed(conditions: Mapping[str, Any] | None) -> dict[str, float] | None:
    if conditions is None:
        return None
    out = {}
    for k, v in conditions.items():
        a = np.asarray(v, dtype=np.float64)
        if a.size != 1:
            raise SpecError(f"guided_sample takes one value per condition, not {a.size} for {k!r}")
        out[k] = float(a.reshape(-1)[0])
    return out


def _check(n: int, low: float, high: float, method: str, budget: int, batch: int) -> None:
    check_known([method], METHODS, "guided_sample", noun="method", error=SpecError)
    if not low <= high:
        raise SpecError(f"guided_sample needs low <= high, not [{low}, {high}]")
    for name, value in (("n", n), ("budget", budget), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise SpecError(f"guided_sample: {name} must be a positive integer, not {value!r}")


def guided_sample(
    model: Any,
    n: int,
    conditions: Mapping[str, Any] | None,
    observable: ObservableLike,
    low: float,
    high: float,
    *,
    method: Method = "rejection",
    seed: Seed = None,
    budget: int = 1_000_000,
    max_time: float | None = None,
    batch: int = 4096,
    context: Mapping[str, Any] | None = None,
    adaptive: AdaptiveOptions | None = None,
) -> GuidedResult:
    """Up to ``n`` events of ``model`` at ``conditions`` (one value per condition, or
    ``None``: drawn as ``sample`` draws them) whose ``observable`` lies in ``[low, high]``,
    searched for in the model's latent space with at most ``budget`` latent draws (and
    for at most ``max_time`` seconds, checked between batches), in batches of ``batch``
    (see the module docstring for the methods and what the weights mean).
    ``observable``: a function events -> one value per event, or the name of an
    observable of a registered observable set bound to the model's spec (with
    ``context``).  Fewer than ``n`` when the budget or the time ran out (``complete`` is
    False); none in range: a one-line error with the range the observable took."""
    m = require_latent(model)
    low, high = float(low), float(high)
    _check(n, low, high, method, budget, batch)
    ctx = {"model": getattr(model, "name", ""), **(context or {})}
    fn = observable_function(model_spec(m), observable, ctx)
    job = _Draws(m, _fixed(conditions), fn, low, high, make_rng(seed), int(budget), max_time)
    if method == "rejection":
        return _rejection(job, int(n), int(batch))
    return _adaptive(job, int(n), int(batch), adaptive or AdaptiveOptions())
