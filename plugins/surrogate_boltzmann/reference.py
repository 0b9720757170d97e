"""Reference samples of a Boltzmann target that has no exact sampler: Markov chains run
until they are decorrelated, thinned by their measured autocorrelation time.

:func:`reference_sample` is what ``Target.sample`` calls.  For the per-event temperatures
it is given, it

1. groups the events by temperature (the distinct values) and starts ``n_chains`` chains
   per temperature, at most one per event: a scalar temperature gets ``n_chains`` chains,
   temperatures drawn per event (all distinct) one chain per event, in vectorised
   batches of at most ``max_chains`` chains (one chain per event pays burn-in and pilot
   for every event: ask for few distinct temperatures where that matters);
2. burns in ``burn_in`` moves, adapting the step sizes (:mod:`.mcmc`), then freezes them
   (the default is per method, :data:`BURN_IN`: the pilot that follows is at least
   ``min_length · τ`` frozen moves, which is what equilibrates the chains, so burn-in
   only has to settle the step size; Wolff has none to settle);
3. runs a pilot of ``pilot_steps`` frozen moves and measures the integrated
   autocorrelation time ``τ`` of the reduced energy (:mod:`.autocorr`), pooled over the
   chains of neighbouring temperatures (at least ``pool`` chains per estimate, so a
   chain per event still gives a usable ``τ``); where the pilot is shorter than
   ``min_length · τ``, it runs again twice as long, up to ``max_pilot_steps``, and then
   refuses with a one-line :class:`~.autocorr.AutocorrelationError` rather than return
   correlated samples;
4. keeps every ``⌈2 τ⌉``-th state (``thinning="auto"``; ``2τ`` moves apart the energy
   correlation is ``≈ e^{-2}`` for an exponential decay, and a mean over the thinned
   chain has nearly the variance of independent samples) until every event has one.

The energy is the observable ``τ`` is measured on: slow modes it does not see (a chain
that never crosses a barrier between wells of similar energy) are not caught, which is
what tempering (``replicas > 1``) is for.  The diagnostics of the last call are kept as
``target.last_diagnostics`` (:class:`ChainDiagnostics`).  :func:`run_chains` is the
lower-level call for a fixed budget of moves, e.g. budget-matched MCMC baselines.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from surrogate.errors import SpecError
from surrogate.interfaces import Simulator

from .autocorr import MIN_LENGTH, WINDOW, AutocorrelationError, integrated_time
from .mcmc import METHODS, Chains, ChainStreams, MCMCSampler, root_entropy, run_mcmc
from .tempering import TemperingSampler, run_tempering
from .wolff import WolffSampler, run_wolff

log = logging.getLogger(__name__)

ALL_METHODS = (*METHODS, "wolff")
#: burn-in moves per method where the settings name none: an HMC move costs
#: ``leapfrog_steps`` evaluations and its step size settles in fewer moves
BURN_IN = {"mala": 1000, "hmc": 500, "wolff": 100}


@dataclass(frozen=True)
class ReferenceSettings:
    """How :func:`reference_sample` runs its chains (see the module docstring).

    ``method``: ``"mala"``, ``"hmc"`` or ``"wolff"``; ``None`` takes the target's
    ``reference_method``.  ``n_chains``: chains per distinct temperature (at most one per
    event).  ``burn_in``: ``None`` for the method's default (:data:`BURN_IN`).
    ``thinning``: ``"auto"`` (``⌈2 τ⌉``) or a fixed number of moves.
    ``step_size`` is the starting step size, ``target_acceptance`` ``None`` for the
    method's (MALA 0.574, HMC 0.65).  ``replicas > 1`` runs parallel tempering with a
    geometric ladder up to ``t_ratio`` times the temperature (MALA/HMC only).
    ``max_chains``: the most chains run at once (more run in consecutive batches).
    """

    method: str | None = None
    n_chains: int = 64
    burn_in: int | None = None
    pilot_steps: int = 1000
    max_pilot_steps: int = 32000
    thinning: int | str = "auto"
    min_length: float = MIN_LENGTH
    window: float = WINDOW
    pool: int = 16
    max_chains: int = 4096
    step_size: float = 0.1
    target_acceptance: float | None = None
    leapfrog_steps: int = 10
    replicas: int = 1
    t_ratio: float = 10.0

    def __post_init__(self) -> None:
        if self.method is not None and self.method not in ALL_METHODS:
            raise SpecError(f"unknown reference method {self.method!r} ({', '.join(ALL_METHODS)})")
        if self.thinning != "auto" and not (isinstance(self.thinning, int) and self.thinning > 0):
            raise SpecError(f"thinning must be 'auto' or a positive integer, not {self.thinning!r}")
        counts = (self.n_chains, self.pilot_steps, self.pool, self.replicas, self.leapfrog_steps)
        counts = (*counts, self.max_chains - self.n_chains + 1)
        burn_in = 0 if self.burn_in is None else self.burn_in
        if min(counts) < 1 or burn_in < 0 or self.max_pilot_steps < self.pilot_steps:
            raise SpecError(
                f"reference settings need positive counts and steps, n_chains <= max_chains "
                f"and pilot_steps <= max_pilot_steps: {self}"
            )


@dataclass(frozen=True)
class ChainDiagnostics:
    """What a :func:`run_reference` call did and cost.

    Per distinct temperature (``temperatures``, sorted): ``tau``, the energy's
    integrated autocorrelation time in moves (of the pooled estimate the temperature
    belongs to); ``acceptance``, the median over its chains of their mean acceptance
    probability in the (last) pilot; ``step_size``, the median frozen step size;
    ``swap_acceptance``, per neighbouring pair of replicas in the pilot (tempering).
    Evaluation counts are summed over all chains and replicas, burn-in and pilot
    included; ``flips`` counts spins flipped (Wolff).
    """

    method: str
    temperatures: np.ndarray
    tau: np.ndarray
    acceptance: np.ndarray
    step_size: np.ndarray
    n_chains: int
    burn_in: int
    pilot_steps: int
    production_steps: int
    thinning: int
    n_samples: int
    energy_evaluations: int
    gradient_evaluations: int
    seconds: float
    flips: int = 0
    swap_acceptance: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def samples_per_evaluation(self) -> float:
        """Decorrelated samples returned per energy evaluation spent."""
        return self.n_samples / max(1, self.energy_evaluations)


def _method(target: Simulator, settings: ReferenceSettings) -> str:
    method = settings.method or getattr(target, "reference_method", None)
    if method not in ALL_METHODS:
        raise SpecError(
            f"target {target.name or type(target).__name__!r} names no reference method "
            f"(reference_method {method!r}; one of {', '.join(ALL_METHODS)})"
        )
    return str(method)


def make_sampler(
    target: Simulator,
    temperature: np.ndarray,
    method: str,
    rng: np.random.Generator,
    settings: ReferenceSettings,
) -> Any:
    """The sampler of ``method`` for one chain per entry of ``temperature``."""
    n = len(temperature)
    entropy = root_entropy(rng)
    if method == "wolff":
        if settings.replicas > 1:
            raise SpecError("tempering runs MALA or HMC replicas, not Wolff clusters")
        return WolffSampler(target, temperature, ChainStreams(entropy, [(i,) for i in range(n)]))
    options = {
        "method": method,
        "step_size": settings.step_size,
        "target_acceptance": settings.target_acceptance,
        "leapfrog_steps": settings.leapfrog_steps,
    }
    if settings.replicas > 1:
        return TemperingSampler(
            target,
            temperature,
            n_chains=n,
            entropy=entropy,
            n_replicas=settings.replicas,
            t_ratio=settings.t_ratio,
            **options,
        )
    return MCMCSampler(
        target, temperature, ChainStreams(entropy, [(i,) for i in range(n)]), **options
    )


def tau_pools(chains_per_group: np.ndarray, pool: int) -> list[np.ndarray]:
    """The chains each ``τ`` estimate pools: the chains of consecutive temperature groups,
    merged until a pool holds at least ``pool`` chains (a short remainder joins the last
    pool).  Returns the group indices of every pool."""
    pools: list[list[int]] = [[]]
    size = 0
    for g, count in enumerate(chains_per_group):
        if size >= pool:
            pools.append([])
            size = 0
        pools[-1].append(g)
        size += int(count)
    if len(pools) > 1 and size < pool:
        pools[-2].extend(pools.pop())
    return [np.asarray(p) for p in pools]


def _pilot_taus(
    energies: np.ndarray, chain_group: np.ndarray, pools: list[np.ndarray], s: ReferenceSettings
) -> np.ndarray:
    """``τ`` per temperature group from the pilot's energies (strict: may raise)."""
    tau = np.empty(int(chain_group.max()) + 1)
    for groups in pools:
        chains = np.isin(chain_group, groups)
        tau[groups] = integrated_time(energies[:, chains], c=s.window, min_length=s.min_length)
    return tau


def _temperatures_text(temperatures: np.ndarray) -> str:
    low, high = float(temperatures.min()), float(temperatures.max())
    return f"T = {low:g}" if low == high else f"T = {low:g}..{high:g}"


def _pilot(
    sampler: Any, chain_group: np.ndarray, pools: list[np.ndarray], s: ReferenceSettings
) -> tuple[Chains, np.ndarray, int]:
    """Frozen pilot runs, doubling in length until ``τ`` is measurable; returns the last
    pilot's chains, ``τ`` per group and the pilot moves run in all."""
    steps, total = s.pilot_steps, 0
    while True:
        chains = sampler.run(steps, keep_every=steps)
        total += steps
        try:
            return chains, _pilot_taus(chains.energies, chain_group, pools, s), total
        except AutocorrelationError as exc:
            if 2 * steps > s.max_pilot_steps:
                raise AutocorrelationError(
                    f"reference {sampler.method} chains at {_temperatures_text(chains.temperature)}"
                    f": {exc}; raise ReferenceSettings.max_pilot_steps ({s.max_pilot_steps}) or "
                    "use tempering (replicas)"
                ) from None
            steps *= 2


def _group_median(values: np.ndarray, chain_group: np.ndarray, n_groups: int) -> np.ndarray:
    return np.array([np.median(values[chain_group == g]) for g in range(n_groups)])


def _assemble(samples: np.ndarray, inverse: np.ndarray, chains_per_group: np.ndarray) -> np.ndarray:
    """Event ``m`` of a temperature group takes sample ``m // c`` of the group's chain
    ``m % c`` (consecutive events from different chains)."""
    out = np.empty((len(inverse), *samples.shape[2:]), samples.dtype)
    offsets = np.concatenate([[0], np.cumsum(chains_per_group)[:-1]])
    for g, c in enumerate(chains_per_group):
        events = np.flatnonzero(inverse == g)
        m = np.arange(len(events))
        out[events] = samples[m // c, offsets[g] + m % c]
    return out


def _run_groups(
    target: Simulator,
    method: str,
    temps: np.ndarray,
    rng: np.random.Generator,
    s: ReferenceSettings,
) -> tuple[np.ndarray, ChainDiagnostics]:
    """One vectorised batch of chains for the events at ``temps`` (steps 1-4 of the
    module docstring)."""
    start = time.perf_counter()
    values, inverse, counts = np.unique(temps, return_inverse=True, return_counts=True)
    per_group = np.minimum(counts, s.n_chains)
    chain_group = np.repeat(np.arange(len(values)), per_group)
    sampler = make_sampler(target, values[chain_group], method, rng, s)
    burn_in = BURN_IN[method] if s.burn_in is None else s.burn_in
    sampler.burn_in(burn_in)
    pilot, tau, pilot_steps = _pilot(sampler, chain_group, tau_pools(per_group, s.pool), s)
    thin = math.ceil(2 * tau.max()) if s.thinning == "auto" else int(s.thinning)
    draws = int(np.max(-(-counts // per_group)))
    production = sampler.run(draws * thin, keep_every=thin)
    diagnostics = ChainDiagnostics(
        method=method,
        temperatures=values,
        tau=tau,
        acceptance=_group_median(pilot.acceptance, chain_group, len(values)),
        step_size=_group_median(production.step_size, chain_group, len(values)),
        n_chains=len(chain_group),
        burn_in=burn_in,
        pilot_steps=pilot_steps,
        production_steps=draws * thin,
        thinning=thin,
        n_samples=len(temps),
        energy_evaluations=production.energy_evaluations,
        gradient_evaluations=production.gradient_evaluations,
        seconds=time.perf_counter() - start,
        flips=production.flips,
        swap_acceptance=pilot.swap_acceptance,
    )
    return _assemble(production.samples, inverse, per_group), diagnostics


def batches(temps: np.ndarray, n_chains: int, max_chains: int) -> list[np.ndarray]:
    """The events of each batch of at most ``max_chains`` chains: whole temperature
    groups (of ``min(events, n_chains)`` chains each), in order of temperature."""
    _, inverse, counts = np.unique(temps, return_inverse=True, return_counts=True)
    batch_of_group = np.empty(len(counts), np.int64)
    batch = size = 0
    for g, chains in enumerate(np.minimum(counts, n_chains)):
        if size and size + chains > max_chains:
            batch, size = batch + 1, 0
        batch_of_group[g] = batch
        size += int(chains)
    event_batch = batch_of_group[inverse]
    return [np.flatnonzero(event_batch == b) for b in range(batch + 1)]


def _merged(parts: list[ChainDiagnostics], seconds: float) -> ChainDiagnostics:
    """The diagnostics of several batches as one: per-temperature arrays joined, counts
    summed, steps and thinning the largest of any batch."""
    if len(parts) == 1:
        return parts[0]
    join = {k: np.concatenate([getattr(p, k) for p in parts]) for k in PER_TEMPERATURE}
    total = {k: sum(getattr(p, k) for p in parts) for k in SUMMED}
    most = {k: max(getattr(p, k) for p in parts) for k in LARGEST}
    swaps = np.mean([p.swap_acceptance for p in parts], axis=0)
    return ChainDiagnostics(
        method=parts[0].method, seconds=seconds, swap_acceptance=swaps, **join, **total, **most
    )


PER_TEMPERATURE = ("temperatures", "tau", "acceptance", "step_size")
SUMMED = ("n_chains", "n_samples", "energy_evaluations", "gradient_evaluations", "flips")
LARGEST = ("burn_in", "pilot_steps", "production_steps", "thinning")


def run_reference(
    target: Simulator,
    n: int,
    temperature: np.ndarray | float,
    rng: np.random.Generator,
    settings: ReferenceSettings | None = None,
) -> tuple[np.ndarray, ChainDiagnostics]:
    """``n`` decorrelated configurations at per-event ``temperature`` and what it cost.

    ``settings`` default to the target's ``reference_settings`` where it has them, else
    :class:`ReferenceSettings`'s defaults.  More than ``max_chains`` chains (many
    distinct temperatures) run in consecutive batches, which bounds the memory of the
    pilot's energies (``pilot steps × chains``).
    """
    start = time.perf_counter()
    s = settings or getattr(target, "reference_settings", None) or ReferenceSettings()
    method = _method(target, s)
    if n < 1:
        raise SpecError(f"a reference run needs n >= 1 events, not {n}")
    temps = np.broadcast_to(np.asarray(temperature, np.float64), (n,))
    out, parts = None, []
    for events in batches(temps, s.n_chains, s.max_chains):
        x, diagnostics = _run_groups(target, method, temps[events], rng, s)
        if out is None:
            out = np.empty((n, *x.shape[1:]), x.dtype)
        out[events] = x
        parts.append(diagnostics)
    assert out is not None
    return out, _merged(parts, time.perf_counter() - start)


def reference_sample(
    target: Simulator,
    n: int,
    temperature: np.ndarray | float,
    rng: np.random.Generator,
    settings: ReferenceSettings | None = None,
) -> np.ndarray:
    """``n`` decorrelated configurations ``(n, *shape)`` at per-event ``temperature``
    (see the module docstring); the diagnostics go to ``target.last_diagnostics``."""
    if n == 0:
        f = target.spec.fields[0]
        return np.zeros((0, *f.shape), f.dtype)
    samples, diagnostics = run_reference(target, n, temperature, rng, settings)
    target.last_diagnostics = diagnostics
    log.info(
        "%s: %d samples by %s, tau_int %.3g-%.3g moves (energy), thinned every %d; "
        "%d energy evaluations in %.1f s",
        target.name or type(target).__name__,
        n,
        diagnostics.method,
        float(np.min(diagnostics.tau)),
        float(np.max(diagnostics.tau)),
        diagnostics.thinning,
        diagnostics.energy_evaluations,
        diagnostics.seconds,
    )
    return samples


def run_chains(
    target: Simulator,
    temperature: float | np.ndarray,
    *,
    n_chains: int,
    n_steps: int,
    rng: np.random.Generator,
    method: str | None = None,
    burn_in: int = 1000,
    keep_every: int = 1,
    replicas: int = 1,
    t_ratio: float = 10.0,
    **options: Any,
) -> Chains:
    """``n_chains`` chains of ``method`` (default: the target's ``reference_method``):
    ``burn_in`` moves (adapting), then ``n_steps`` kept moves, with no thinning by ``τ``.

    The cost is explicit: a MALA move is one energy-and-gradient evaluation per chain, an
    HMC move ``leapfrog_steps``, a tempered move ``replicas`` times that, a Wolff move one
    (cheap, local) energy; ``Chains.energy_evaluations`` counts them, burn-in included.
    ``options`` go to the sampler (``initial``; ``step_size``, ``target_acceptance``,
    ``leapfrog_steps``, ``jitter`` for MALA/HMC).
    """
    method = _method(target, ReferenceSettings(method=method))
    common = {"n_chains": n_chains, "n_steps": n_steps, "rng": rng, "burn_in": burn_in}
    if method == "wolff":
        if replicas > 1:
            raise SpecError("tempering runs MALA or HMC replicas, not Wolff clusters")
        return run_wolff(target, temperature, keep_every=keep_every, **common, **options)
    if replicas > 1:
        return run_tempering(
            target,
            temperature,
            n_replicas=replicas,
            t_ratio=t_ratio,
            method=method,
            keep_every=keep_every,
            **common,
            **options,
        )
    return run_mcmc(target, temperature, method=method, keep_every=keep_every, **common, **options)
