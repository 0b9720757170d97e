"""Gradient-based Markov chains on a Boltzmann target: MALA and HMC, many chains at once.

Both kernels leave ``p(x) ∝ exp(-u(x))`` invariant through a Metropolis-Hastings test, so
the kept chain is exact whatever the step size; the step size only decides how fast the
chain decorrelates.  It is therefore adapted during burn-in only, per chain, by a
Robbins-Monro recursion with the iterate averaging of Hoffman & Gelman's dual averaging
(2014, JMLR 15, 1593, §3.2; see :class:`StepSizeAdaptation`) towards a target acceptance
probability: 0.574 for MALA, the optimum of Roberts & Rosenthal (1998, JRSS B 60, 255)
as the dimension grows, and 0.65 for HMC (Neal 2011, "MCMC using Hamiltonian dynamics",
§5.4; Beskos et al. 2013).  After burn-in it is frozen at the averaged iterate, so the
kept chain is a time-homogeneous Markov chain.

All chains advance in lock step as one torch float64 batch, each with its own
temperature and step size.  Every random number a chain uses comes from its own stream
(:class:`ChainStreams`, keyed by the chain's index), so chain ``i`` is the same whether 4
or 40 chains run beside it, and a seed gives the same chains on any split of the work.

A proposal whose energy or force is NaN or infinite (overlapping particles, a hard wall)
is rejected, so a chain never enters a state of zero density; a starting state of
non-finite energy is refused with a :class:`~surrogate.errors.SpecError`.

The reduced energy of a :class:`~.target.Target` is ``U(x) / T``.  A chain may be run at
a temperature other than the one its energy is evaluated at (the replicas of
:mod:`.tempering`): ``u_T = u_{T_eval} · T_eval / T``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from surrogate.errors import SpecError
from surrogate.interfaces import Simulator

METHODS = ("mala", "hmc")
#: the acceptance probability the step size is tuned towards, per method
TARGET_ACCEPTANCE = {"mala": 0.574, "hmc": 0.65}


# -- random streams ------------------------------------------------------------------
def root_entropy(rng: np.random.Generator) -> list[int]:
    """128 bits of entropy for a set of chain streams: one draw of ``rng``, whatever the
    number of chains."""
    return [int(v) for v in rng.integers(0, 2**32, size=4, dtype=np.uint64)]


class ChainStreams:
    """Independent random streams, one per chain and kind of draw, drawn in blocks.

    Chain ``key`` (its index, or ``(chain, replica)``) draws its starting state from the
    stream ``SeedSequence(entropy, spawn_key=(*key, 1))`` and its ``k``-th kind of draw (a
    normal or uniform of one shape, numbered in order of first use) from that of
    ``(*key, 0, k)``: each depends on the entropy and the key alone, so chain ``i`` gets
    the same numbers whatever the number of chains.  A vectorised step needs a draw per
    chain from that chain's own generator, and one call per chain per step would cost
    more than the step, so each stream fills a block of draws at a time; as every kind
    has its own stream, the block size (smaller for many chains, to bound the memory)
    changes when numbers are drawn, never which.
    """

    #: draws per block, and the most scalars all chains' block of one kind may hold
    block, block_scalars = 64, 2**22

    def __init__(self, entropy: list[int], keys: list[tuple[int, ...]]) -> None:
        self.n = len(keys)
        self._entropy = list(entropy)
        self._keys = [tuple(key) for key in keys]
        self._inits = [self._generator((*key, 1)) for key in self._keys]
        self._buffers: dict[tuple[str, tuple[int, ...]], list[Any]] = {}

    def _generator(self, key: tuple[int, ...]) -> np.random.Generator:
        seed = np.random.SeedSequence(self._entropy, spawn_key=key)
        return np.random.Generator(np.random.PCG64(seed))

    def init_generator(self, i: int) -> np.random.Generator:
        """The generator of chain ``i``'s starting state (apart from its moves)."""
        return self._inits[i]

    def _draw(self, kind: str, shape: tuple[int, ...]) -> np.ndarray:
        slot = self._buffers.get((kind, shape))
        if slot is None:
            k = len(self._buffers)
            gens = [self._generator((*key, 0, k)) for key in self._keys]
            slot = self._buffers[(kind, shape)] = [gens, np.empty((self.n, 0, *shape)), 0]
        gens, buf, pos = slot
        if pos == buf.shape[1]:
            size = max(1, min(self.block, self.block_scalars // (self.n * math.prod(shape) or 1)))
            buf = np.empty((self.n, size, *shape))
            for gen, row in zip(gens, buf, strict=True):
                if kind == "normal":
                    gen.standard_normal(out=row)
                else:
                    gen.random(out=row)
            slot[1], pos = buf, 0
        slot[2] = pos + 1
        return buf[:, pos].copy()

    def normal(self, shape: tuple[int, ...]) -> np.ndarray:
        """A standard normal draw of ``shape`` per chain: ``(n, *shape)``."""
        return self._draw("normal", tuple(shape))

    def uniform(self, shape: tuple[int, ...] = ()) -> np.ndarray:
        """A uniform draw on ``[0, 1)`` of ``shape`` per chain: ``(n, *shape)``."""
        return self._draw("uniform", tuple(shape))


# -- step-size adaptation ------------------------------------------------------------
class StepSizeAdaptation:
    """Per-chain stochastic approximation of the step size with the target acceptance.

    A Robbins-Monro recursion on ``log ε``, ``log ε ← log ε + g_m (α_m - δ)`` with the gain
    ``g_m = (1 + m / 10)^-0.75`` (the sums of ``g`` diverge and of ``g²`` converge, so the
    iterate settles on the root of ``E[α(ε)] = δ``; Robbins & Monro 1951), and the frozen
    value the recency-weighted average of the iterates with weights ``m^-0.75``, the
    averaging of Hoffman & Gelman's dual averaging (2014, §3.2).  A start off by orders of
    magnitude costs tens of steps (``|Δ log ε| ≤ 1`` per step).

    Why not their dual-averaging iterate itself: with one acceptance per chain per step
    its iterates keep an O(1) spread in ``log ε``, and since the acceptance is concave in
    ``log ε`` there, their average lands above the target (measured on a 4-D Gaussian,
    500 burn-in steps: MALA 0.61 for 0.574, HMC 0.78 for 0.65); this recursion, whose
    gain decays, gives 0.576 and 0.66.
    """

    m0, kappa = 10.0, 0.75

    def __init__(self, step_size: np.ndarray, target: float) -> None:
        self.target = target
        self.m = 0
        self.log_eps = np.log(step_size)
        self.log_eps_bar = self.log_eps.copy()

    def update(self, acceptance: np.ndarray) -> np.ndarray:
        """Feed the acceptance probabilities of one step; returns the next step sizes."""
        self.m += 1
        gain = (1.0 + self.m / self.m0) ** -self.kappa
        self.log_eps = self.log_eps + gain * (acceptance - self.target)
        eta = self.m**-self.kappa
        self.log_eps_bar = eta * self.log_eps + (1.0 - eta) * self.log_eps_bar
        return np.exp(self.log_eps)

    def final(self) -> np.ndarray:
        """The step sizes to freeze: the averaged iterate."""
        return np.exp(self.log_eps_bar)


# -- what a run returns --------------------------------------------------------------
@dataclass(frozen=True)
class Chains:
    """The kept part of a run of ``n_chains`` Markov chains (after burn-in).

    ``samples``: every ``keep_every``-th state, ``(n_kept, n_chains, *shape)``;
    ``energies``: the reduced energy ``u = U / T`` after every kept-phase step, ``(n_steps,
    n_chains)``, for the autocorrelation time; ``acceptance``: the mean acceptance
    probability of each chain over the kept steps; ``step_size``: the frozen step sizes.
    The evaluation counts are those of the sampler since it was built, burn-in included,
    summed over chains (an energy-and-gradient pass counts one of each).
    """

    method: str
    temperature: np.ndarray
    samples: np.ndarray
    energies: np.ndarray
    acceptance: np.ndarray
    step_size: np.ndarray
    keep_every: int
    energy_evaluations: int
    gradient_evaluations: int
    seconds: float
    final: np.ndarray
    #: spins flipped (cluster moves only)
    flips: int = 0
    #: mean acceptance of the swaps between neighbouring replicas (tempering only)
    swap_acceptance: np.ndarray = field(default_factory=lambda: np.zeros(0))


# -- the energy of a batch -----------------------------------------------------------
def field_name(target: Simulator) -> str:
    """The one configuration field a Boltzmann target has."""
    fields = target.spec.fields
    if len(fields) != 1:
        raise SpecError(f"a Markov chain needs a target with one field, not {len(fields)}")
    return fields[0].name


def _per_chain(value: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-chain value ``(n,)`` broadcastable against a batch ``(n, *shape)``."""
    return value.reshape(-1, *([1] * (x.dim() - 1)))


class Energy:
    """``(u, force)`` of a batch at per-chain temperatures, counting the evaluations.

    Where the target has no closed-form force, one autograd pass gives the energy and its
    gradient together (one evaluation of each), instead of the two passes that
    ``energy`` then ``force`` would take.
    """

    def __init__(self, target: Simulator, temperature: np.ndarray, evaluated_at: np.ndarray):
        self.target = target
        self.name = field_name(target)
        self.conditions = {"temperature": np.asarray(evaluated_at, np.float64)}
        self.scale = torch.as_tensor(np.asarray(evaluated_at) / np.asarray(temperature))
        self.autograd = type(target)._force is Simulator._force
        self.energy_evaluations = 0
        self.gradient_evaluations = 0

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.energy_evaluations += len(x)
        self.gradient_evaluations += len(x)
        if not self.autograd:
            fields = {self.name: x}
            u = self.target.energy(fields, self.conditions)
            f = self.target.force(fields, self.conditions)[self.name]
            return u.detach() * self.scale, _per_chain(self.scale, f) * f.detach()
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            u = self.target.energy({self.name: leaf}, self.conditions)
            (grad,) = torch.autograd.grad(u.sum(), leaf)
        return u.detach() * self.scale, -_per_chain(self.scale, grad) * grad


def _sq_norm(x: torch.Tensor) -> torch.Tensor:
    return (x * x).reshape(len(x), -1).sum(dim=1)


def _finite(u: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return torch.isfinite(u) & torch.isfinite(f.reshape(len(f), -1)).all(dim=1)


def initial_states(
    target: Simulator, n: int, streams: ChainStreams, initial: np.ndarray | None
) -> np.ndarray:
    """The chains' starting states: ``initial`` (one state broadcast, or one per chain),
    else ``target.initial_state(1, rng)`` per chain from that chain's own stream."""
    shape = target.spec.fields[0].shape
    if initial is not None:
        arr = np.asarray(initial)
        if arr.shape == tuple(shape):
            arr = np.broadcast_to(arr, (n, *shape))
        if arr.shape != (n, *shape):
            raise SpecError(f"initial states of shape {arr.shape}, expected ({n}, *{shape})")
        return np.array(arr)
    make = getattr(target, "initial_state", None)
    if make is None:
        raise SpecError(
            f"target {target.name or type(target).__name__!r} has no initial_state(n, rng): "
            "pass the chains' initial states"
        )
    return np.concatenate([np.asarray(make(1, streams.init_generator(i))) for i in range(n)])


def check_finite_start(u: np.ndarray, force: np.ndarray, what: str) -> None:
    """Refuse a starting state of NaN or infinite energy (zero density), or of a force
    that is not finite (every proposal from it would be rejected)."""
    bad = np.flatnonzero(~np.isfinite(u))
    if len(bad):
        raise SpecError(
            f"{what}: the initial state of chain {bad[0]} has energy {u[bad[0]]} "
            "(overlapping particles or a state outside the support): start from a state "
            "of finite energy"
        )
    bad = np.flatnonzero(~np.isfinite(force.reshape(len(force), -1)).all(axis=1))
    if len(bad):
        raise SpecError(f"{what}: the initial state of chain {bad[0]} has a non-finite force")


# -- the sampler ---------------------------------------------------------------------
class MCMCSampler:
    """MALA or HMC chains on ``target``, vectorised; :meth:`burn_in` adapts and freezes
    the step size, :meth:`run` continues the chains and returns what it kept.

    ``temperature``: per chain; ``evaluated_at``: the temperature the target's energy is
    evaluated at (default: the same; see the module docstring).  ``step_size``: the
    starting (or, without burn-in, the frozen) step size, per chain or one for all.
    HMC takes ``leapfrog_steps`` steps per move with the step size jittered uniformly by
    ``±jitter`` per move, which breaks the near-periodic trajectories a fixed length has
    on a Gaussian (Neal 2011, §5.4.2.4).
    """

    def __init__(
        self,
        target: Simulator,
        temperature: np.ndarray,
        streams: ChainStreams,
        *,
        method: str = "mala",
        initial: np.ndarray | None = None,
        evaluated_at: np.ndarray | None = None,
        step_size: float | np.ndarray = 0.1,
        target_acceptance: float | None = None,
        leapfrog_steps: int = 10,
        jitter: float = 0.2,
    ) -> None:
        if method not in METHODS:
            raise SpecError(f"unknown Markov chain method {method!r} (methods: mala, hmc)")
        if leapfrog_steps < 1:
            raise SpecError(f"leapfrog_steps must be at least 1, not {leapfrog_steps}")
        self.method = method
        self.temperature = np.broadcast_to(np.asarray(temperature, np.float64), (streams.n,)).copy()
        at = self.temperature if evaluated_at is None else np.array(evaluated_at, np.float64)
        self.streams = streams
        self.energy = Energy(target, self.temperature, at)
        self.step_size = np.broadcast_to(np.asarray(step_size, np.float64), (streams.n,)).copy()
        self.target_acceptance = target_acceptance or TARGET_ACCEPTANCE[method]
        self.leapfrog_steps = int(leapfrog_steps)
        self.jitter = float(jitter)
        x0 = initial_states(target, streams.n, streams, initial)
        self.x = torch.as_tensor(np.asarray(x0, np.float64))
        self.u, self.f = self.energy(self.x)
        what = f"{method} chains on {target.name or type(target).__name__}"
        check_finite_start(self.u.numpy(), self.f.numpy(), what)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def _mala_proposal(self, eps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``y = x + ε²/2 f(x) + ε ξ`` and the log proposal ratio ``log q(x|y)/q(y|x)``."""
        xi = torch.as_tensor(self.streams.normal(self.shape))
        e = _per_chain(eps, self.x)
        y = self.x + 0.5 * e * e * self.f + e * xi
        u_y, f_y = self.energy(y)
        back = self.x - y - 0.5 * e * e * f_y
        log_q = 0.5 * _sq_norm(xi) - _sq_norm(back) / (2.0 * eps * eps)
        return y, u_y, f_y, self.u - u_y + log_q

    def _hmc_proposal(self, eps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``leapfrog_steps`` leapfrog steps from a fresh momentum; the log acceptance
        ratio is the drop in ``H = u + |p|²/2``."""
        p0 = torch.as_tensor(self.streams.normal(self.shape))
        wobble = torch.as_tensor(self.streams.uniform())
        e = _per_chain(eps * (1.0 + self.jitter * (2.0 * wobble - 1.0)), self.x)
        q, f = self.x, self.f
        p = p0 + 0.5 * e * f
        for step in range(self.leapfrog_steps):
            q = q + e * p
            u_q, f = self.energy(q)
            p = p + (0.5 if step == self.leapfrog_steps - 1 else 1.0) * e * f
        log_a = self.u + 0.5 * _sq_norm(p0) - u_q - 0.5 * _sq_norm(p)
        return q, u_q, f, log_a

    def step(self) -> np.ndarray:
        """One MALA or HMC move of every chain; returns the acceptance probabilities."""
        eps = torch.as_tensor(self.step_size)
        propose = self._mala_proposal if self.method == "mala" else self._hmc_proposal
        y, u_y, f_y, log_a = propose(eps)
        ok = _finite(u_y, f_y) & ~torch.isnan(log_a)
        log_a = torch.where(ok, log_a, torch.full_like(log_a, -math.inf))
        accept = torch.log(torch.as_tensor(self.streams.uniform())) < log_a
        mask = _per_chain(accept, self.x)
        self.x = torch.where(mask, y, self.x)
        self.f = torch.where(mask, f_y, self.f)
        self.u = torch.where(accept, u_y, self.u)
        return torch.exp(torch.clamp(log_a, max=0.0)).numpy()

    def burn_in(self, n_steps: int, after_step: Callable[[], Any] | None = None) -> None:
        """``n_steps`` moves adapting the step size, then the step size is frozen;
        ``after_step`` runs after every move (the swaps of tempering)."""
        if n_steps <= 0:
            return
        adapt = StepSizeAdaptation(self.step_size, self.target_acceptance)
        for _ in range(n_steps):
            self.step_size = adapt.update(self.step())
            if after_step is not None:
                after_step()
        self.step_size = adapt.final()

    def kept(self) -> tuple[np.ndarray, np.ndarray]:
        """The states and reduced energies a run records."""
        return self.x.numpy().copy(), self.u.numpy().copy()

    @property
    def evaluations(self) -> tuple[int, int]:
        return self.energy.energy_evaluations, self.energy.gradient_evaluations

    def run(self, n_steps: int, keep_every: int = 1) -> Chains:
        """Continue every chain ``n_steps`` moves at the frozen step size."""
        start = time.perf_counter()
        kept, energies, accepted = record_run(self, n_steps, keep_every)
        return Chains(
            method=self.method,
            temperature=self.temperature.copy(),
            samples=kept,
            energies=energies,
            acceptance=accepted,
            step_size=self.step_size.copy(),
            keep_every=keep_every,
            energy_evaluations=self.evaluations[0],
            gradient_evaluations=self.evaluations[1],
            seconds=time.perf_counter() - start,
            final=self.x.numpy().copy(),
        )


def record_run(sampler: Any, n_steps: int, keep_every: int) -> tuple[np.ndarray, ...]:
    """Step ``sampler`` ``n_steps`` times, keeping every ``keep_every``-th state (of the
    chains its ``kept()`` returns), every step's energies and the mean acceptance."""
    if n_steps < 1 or keep_every < 1:
        raise SpecError(f"a run needs n_steps >= 1 and keep_every >= 1 ({n_steps}, {keep_every})")
    kept, energies, accepted = [], [], 0.0
    for i in range(n_steps):
        accepted = accepted + sampler.step()
        state, u = sampler.kept()
        energies.append(u)
        if (i + 1) % keep_every == 0:
            kept.append(state)
    samples = np.stack(kept) if kept else np.zeros((0, *state.shape), state.dtype)
    return samples, np.stack(energies), np.asarray(accepted) / n_steps


def run_mcmc(
    target: Simulator,
    temperature: float | np.ndarray,
    *,
    n_chains: int,
    n_steps: int,
    rng: np.random.Generator,
    method: str = "mala",
    burn_in: int = 1000,
    keep_every: int = 1,
    **options: Any,
) -> Chains:
    """``n_chains`` MALA/HMC chains: ``burn_in`` adapting moves, then ``n_steps`` kept
    moves.  ``options`` go to :class:`MCMCSampler` (``initial``, ``step_size``,
    ``target_acceptance``, ``leapfrog_steps``, ``jitter``)."""
    streams = ChainStreams(root_entropy(rng), [(i,) for i in range(n_chains)])
    sampler = MCMCSampler(target, temperature, streams, method=method, **options)
    sampler.burn_in(burn_in)
    return sampler.run(n_steps, keep_every)
