"""Parallel tempering (replica exchange): MALA/HMC chains that cross energy barriers.

A local chain at low temperature stays in the well it starts in for a time that grows as
``exp(ΔU / T)`` with the barrier ``ΔU``; its energy decorrelates within the well, so
neither the autocorrelation time nor the acceptance notices.  Parallel tempering
(Swendsen & Wang 1986, PRL 57, 2607; Geyer 1991, "Markov chain Monte Carlo maximum
likelihood") runs replicas on a ladder ``T = T_0 < T_1 < ... < T_{R-1}``; the hot ones
cross the barrier, and swaps of configurations between neighbouring replicas, accepted
with probability ``min(1, exp[(1/T_k - 1/T_{k+1}) (U_k - U_{k+1})])``, carry the crossings
down, leaving the product of the replicas' Boltzmann distributions invariant.  Only the
``T_0`` replica is kept.

The ladder is geometric, ``T_k = T_0 r^{k/(R-1)}``: for a roughly constant heat capacity
that gives neighbours the same energy-distribution overlap, hence equal swap acceptance.
Swaps alternate between the even and the odd pairs (the deterministic even-odd scheme,
which moves a replica across the ladder in ``O(R)`` rather than ``O(R²)`` rounds; Syed et
al. 2022, JRSS B 84, 321).  Each replica has its own step size, adapted in burn-in.

The energies of all replicas are evaluated at ``T_0`` (inside the target's temperature
range even where ``T_{R-1}`` is not) and rescaled, ``u_T = U / T``, which assumes the
target's reduced energy is ``U(x) / T`` (every :class:`~.target.Target`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from surrogate.errors import SpecError
from surrogate.interfaces import Simulator

from .mcmc import Chains, ChainStreams, MCMCSampler, record_run, root_entropy


def geometric_ladder(temperature: np.ndarray, n_replicas: int, t_ratio: float) -> np.ndarray:
    """``(n_chains, n_replicas)`` temperatures ``T r^{k / (R - 1)}``, ``r = t_ratio``."""
    if n_replicas < 2 or t_ratio <= 1.0:
        raise SpecError(
            f"tempering needs at least 2 replicas and t_ratio > 1 ({n_replicas}, {t_ratio})"
        )
    steps = np.arange(n_replicas) / (n_replicas - 1)
    return np.asarray(temperature, np.float64)[:, None] * float(t_ratio) ** steps


def _replica_initial(
    initial: np.ndarray | None, shape: tuple[int, ...], n_chains: int, n_replicas: int
) -> Any:
    """Initial states per replica slot: one state per chain is copied to its replicas
    (a single state, or anything else, is left to the local sampler to broadcast or
    refuse)."""
    if initial is None:
        return None
    arr = np.asarray(initial)
    if arr.shape == (n_chains, n_replicas, *shape):
        return arr.reshape(n_chains * n_replicas, *shape)
    if arr.shape == (n_chains, *shape):
        return np.repeat(arr, n_replicas, axis=0)
    return arr


class TemperingSampler:
    """``n_chains`` independent replica ladders of ``n_replicas`` MALA/HMC chains each.

    Replica ``k`` of chain ``c`` moves with the random stream of key ``(c, k)``, so chain
    ``c`` does not depend on how many chains run.  ``options`` go to
    :class:`~.mcmc.MCMCSampler` (``step_size``, ``target_acceptance``, ``leapfrog_steps``,
    ``jitter``); ``initial`` is one state per chain (copied to its replicas), one per
    replica ``(n_chains, n_replicas, *shape)``, or ``None`` (the target's
    ``initial_state``).
    """

    def __init__(
        self,
        target: Simulator,
        temperature: float | np.ndarray,
        *,
        n_chains: int,
        entropy: list[int],
        n_replicas: int = 8,
        t_ratio: float = 10.0,
        swap_every: int = 1,
        method: str = "mala",
        initial: np.ndarray | None = None,
        **options: Any,
    ) -> None:
        base = np.broadcast_to(np.asarray(temperature, np.float64), (n_chains,))
        self.ladder = geometric_ladder(base, n_replicas, t_ratio)
        self.n_chains, self.n_replicas = n_chains, n_replicas
        self.swap_every = max(1, int(swap_every))
        keys = [(c, k) for c in range(n_chains) for k in range(n_replicas)]
        self.local = MCMCSampler(
            target,
            self.ladder.ravel(),
            ChainStreams(entropy, keys),
            method=method,
            initial=_replica_initial(initial, target.spec.fields[0].shape, n_chains, n_replicas),
            evaluated_at=np.repeat(base, n_replicas),
            **options,
        )
        self.method = method
        self.moves = 0
        self.parity = 0
        self._swap_sum = np.zeros(n_replicas - 1)
        self._swap_tries = np.zeros(n_replicas - 1)

    def _grid(self, value: np.ndarray) -> np.ndarray:
        return np.asarray(value).reshape(self.n_chains, self.n_replicas, *np.shape(value)[1:])

    def swap(self) -> None:
        """Propose swaps between the even (or, alternately, odd) neighbouring replicas."""
        local, temps = self.local, self.ladder
        uniform = self._grid(local.streams.uniform())
        pairs = np.arange(self.parity, self.n_replicas - 1, 2)
        self.parity ^= 1
        potential = self._grid(local.u.numpy()) * temps
        low, high = pairs, pairs + 1
        log_a = (1 / temps[:, low] - 1 / temps[:, high]) * (potential[:, low] - potential[:, high])
        accept = np.log(uniform[:, low]) < log_a
        self._swap_sum[pairs] += np.exp(np.minimum(log_a, 0.0)).sum(axis=0)
        self._swap_tries[pairs] += self.n_chains
        order = np.tile(np.arange(self.n_replicas), (self.n_chains, 1))
        chains, which = np.nonzero(accept)
        order[chains, low[which]] = high[which]
        order[chains, high[which]] = low[which]
        source = (order + self.n_replicas * np.arange(self.n_chains)[:, None]).ravel()
        ratio = torch.as_tensor(temps.ravel()[source] / temps.ravel())
        index = torch.as_tensor(source)
        local.x = local.x[index]
        local.u = local.u[index] * ratio
        local.f = local.f[index] * ratio.reshape(-1, *([1] * (local.f.dim() - 1)))

    def _after_move(self) -> None:
        self.moves += 1
        if self.moves % self.swap_every == 0:
            self.swap()

    def step(self) -> np.ndarray:
        """One local move of every replica (and the swaps due); returns the acceptance
        probabilities of the ``T_0`` replicas."""
        accepted = self.local.step()
        self._after_move()
        return self._grid(accepted)[:, 0]

    def kept(self) -> tuple[np.ndarray, np.ndarray]:
        """The ``T_0`` replicas' states and reduced energies."""
        x, u = self.local.kept()
        return self._grid(x)[:, 0], self._grid(u)[:, 0]

    def burn_in(self, n_steps: int) -> None:
        """``n_steps`` moves with swaps, adapting every replica's step size."""
        self.local.burn_in(n_steps, after_step=self._after_move)

    @property
    def final(self) -> np.ndarray:
        """Every replica's state, ``(n_chains, n_replicas, *shape)``, to continue from."""
        return self._grid(self.local.x.numpy().copy())

    @property
    def step_size(self) -> np.ndarray:
        """Every replica's step size, ``(n_chains, n_replicas)``."""
        return self._grid(self.local.step_size)

    def run(self, n_steps: int, keep_every: int = 1) -> Chains:
        """Continue ``n_steps`` moves at the frozen step sizes, keeping the ``T_0``
        replicas; ``swap_acceptance`` is the mean swap probability per neighbour pair."""
        start = time.perf_counter()
        self._swap_sum[:] = 0.0
        self._swap_tries[:] = 0.0
        samples, energies, accepted = record_run(self, n_steps, keep_every)
        with np.errstate(invalid="ignore"):
            swaps = self._swap_sum / self._swap_tries
        return Chains(
            method=self.method,
            temperature=self.ladder[:, 0].copy(),
            samples=samples,
            energies=energies,
            acceptance=accepted,
            step_size=self.step_size[:, 0].copy(),
            keep_every=keep_every,
            energy_evaluations=self.local.evaluations[0],
            gradient_evaluations=self.local.evaluations[1],
            seconds=time.perf_counter() - start,
            final=self.final[:, 0].copy(),
            swap_acceptance=swaps,
        )


def run_tempering(
    target: Simulator,
    temperature: float | np.ndarray,
    *,
    n_chains: int,
    n_steps: int,
    rng: np.random.Generator,
    n_replicas: int = 8,
    t_ratio: float = 10.0,
    method: str = "mala",
    burn_in: int = 1000,
    keep_every: int = 1,
    **options: Any,
) -> Chains:
    """``n_chains`` tempered ladders: ``burn_in`` adapting moves with swaps, then
    ``n_steps`` kept moves of the ``T_0`` replicas (see :class:`TemperingSampler`)."""
    sampler = TemperingSampler(
        target,
        temperature,
        n_chains=n_chains,
        entropy=root_entropy(rng),
        n_replicas=n_replicas,
        t_ratio=t_ratio,
        method=method,
        **options,
    )
    sampler.burn_in(burn_in)
    return sampler.run(n_steps, keep_every)
