"""``van``: a variational autoregressive network for lattice spin models.

VAN (Wu, Wang & Zhang, "Solving statistical mechanics using variational autoregressive
networks", PRL 122, 080602, 2019) writes the distribution of ``N`` spins ``s_i = ±1`` as
a product of conditionals in raster order, ``q(s) = prod_i q(s_i | s_<i)``, so that
``log q`` is exact and samples are exact and independent: the two things the variational
free energy ``beta F_q = E_q[beta E + ln q] >= beta F`` needs.  Training minimises that
bound over the model's own draws (the core's ``energy`` objective,
:mod:`surrogate.training.objectives`); the draws are discrete, so its gradient is the
score-function estimate with the batch mean as baseline (REINFORCE, Williams, Machine
Learning 8, 229, 1992), which is why the family says ``reparameterised = False``.
Fitted on events instead, it is maximum likelihood (``-log q`` of the batch).

The conditionals come from a MADE (Germain et al., "MADE: Masked autoencoder for
distribution estimation", ICML 2015) with direct input-to-output connections: every
hidden unit gets a degree ``m`` and sees only the spins ``0..m``; spin ``i`` sees only
units of degree ``< i``.  VAN's best numbers used a PixelCNN (van den Oord et al., ICML
2016); on a CPU the MADE is the cheaper choice, because its degree structure lets
sampling compute each hidden unit once, in the step where its inputs become known
(:meth:`MADE.sample`), so drawing all ``N`` spins costs about one forward pass instead
of ``N``.  The encoded temperature enters every hidden layer and the output, so one
network covers a temperature range.

A ferromagnet without a field is symmetric under flipping every spin; with
``z2_symmetric`` the model is ``½ (q(s) + q(-s))`` (VAN's Z2 symmetrisation), which
keeps both magnetised phases below ``T_c`` even when the network finds only one.

Reverse KL is mode-seeking: at L = 16 and beta_c, trained on the energy alone, the model
drops the states of two domains wrapping the torus (about 5 % of ``p``; see
``benchmarks/ising_van.py``), which biases ``ln Z-hat`` low by their share.  VAN anneals
beta from a high temperature against this; fitting on reference events as well (the
``mixed`` objective) keeps them.

Spins are modelled as they are (±1): the preprocessing is always the identity, so the
family has no ``preprocessing`` hyper-parameter for a simulator to fill in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from surrogate.errors import SpecError, TrainingError
from surrogate.events import Events
from surrogate.interfaces import Conditions, Seed
from surrogate.preprocessing import Preprocessing
from surrogate.settings import require
from surrogate_generators.backbones import ACTIVATIONS, make_activation
from surrogate_generators.base import Batch, ConditionEncoder, TorchSurrogate
from surrogate_generators.settings import integer, one_of

LN2 = math.log(2.0)


@dataclass(frozen=True)
class VANSettings:
    """The network's shape.  The defaults are sized for ``L = 16`` on one CPU thread:
    two hidden layers of two units per site keep a step of 1000 draws well under a
    second (the sampling pass is one forward pass, see :class:`MADE`)."""

    #: units per hidden layer (their degrees are spread evenly over the sites)
    hidden: int = 512
    #: hidden layers; 0 leaves the direct connections alone (a logistic autoregressive
    #: model, the fully visible sigmoid belief net)
    layers: int = 2
    activation: str = "silu"
    #: q(s) = ½ (q(s) + q(-s)): exact for a Hamiltonian even in the spins
    z2_symmetric: bool = True
    #: The base class asks every family for a backbone name; VAN's network is its own
    #: masked one, not a swappable body, so it is a constant, not a setting.
    backbone: ClassVar[str] = "made"

    def __post_init__(self) -> None:
        integer(self, "hidden", low=1)
        integer(self, "layers", low=0)
        one_of(self, "activation", tuple(ACTIVATIONS))
        require(
            isinstance(self.z2_symmetric, bool),
            f"z2_symmetric must be true or false, not {self.z2_symmetric!r}",
        )


class MADE(nn.Module):
    """Masked autoregressive network over ``sites`` spins ±1 in raster order; returns
    the logit of ``s_i = +1`` given ``s_<i`` (and the context) for every ``i``.

    Hidden unit ``k`` of every layer has degree ``m_k`` (spread evenly over
    ``0 .. sites - 2``, sorted): it sees the inputs ``j <= m_k`` and the previous layer's
    units of degree ``<= m_k``, and feeds the outputs ``i > m_k``.  Because the degrees
    are sorted, each of those sets is a prefix, which is what :meth:`sample` relies on.
    Output and direct weights start at zero, so an untrained model is uniform.
    """

    def __init__(self, sites: int, context: int, hidden: int, layers: int, activation: str) -> None:
        super().__init__()
        self.sites, self.context = sites, context
        degrees = torch.div(torch.arange(hidden) * max(sites - 1, 1), hidden, rounding_mode="floor")
        self.register_buffer("degrees", degrees, persistent=False)
        site = torch.arange(sites)
        # number of units of degree < i, for every i: the prefix output i may read
        self.prefix = [int(v) for v in torch.searchsorted(degrees, site)]
        self.hidden = nn.ModuleList()
        masks = []
        fan_in, in_degrees = sites, site
        for _ in range(layers):
            self.hidden.append(nn.Linear(fan_in, hidden))
            masks.append((in_degrees[None, :] <= degrees[:, None]).float())
            fan_in, in_degrees = hidden, degrees
        for i, mask in enumerate(masks):
            self.register_buffer(f"mask{i}", mask, persistent=False)
        self.context_in = nn.ModuleList(
            nn.Linear(context, hidden, bias=False) for _ in range(layers if context else 0)
        )
        self.out = nn.Linear(hidden, sites) if layers else None
        self.direct = nn.Linear(sites, sites)
        self.context_out = nn.Linear(context, sites, bias=False) if context else None
        out_mask = (site[:, None] > degrees[None, :]).float()
        self.register_buffer("out_mask", out_mask, persistent=False)
        direct_mask = (site[:, None] > site[None, :]).float()
        self.register_buffer("direct_mask", direct_mask, persistent=False)
        for layer in (self.out, self.direct, self.context_out):
            if layer is not None:
                nn.init.zeros_(layer.weight)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
        self.act = make_activation(activation)

    def _mask(self, i: int) -> torch.Tensor:
        return getattr(self, f"mask{i}")

    def logits(self, s: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Every conditional's logit, ``(B, sites)``, from spins ``(B, sites)`` in one pass."""
        h = s
        for i, layer in enumerate(self.hidden):
            pre = functional.linear(h, layer.weight * self._mask(i), layer.bias)
            if self.context:
                pre = pre + self.context_in[i](c)
            h = self.act(pre)
        out = functional.linear(s, self.direct.weight * self.direct_mask, self.direct.bias)
        if self.out is not None:
            out = out + functional.linear(h, self.out.weight * self.out_mask, self.out.bias)
        if self.context_out is not None:
            out = out + self.context_out(c)
        return out

    def log_prob(self, s: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``log q(s)`` (float64, ``(B,)``): ``sum_i log sigmoid(s_i * logit_i)`` for ±1."""
        return functional.logsigmoid(s.double() * self.logits(s, c).double()).sum(1)

    def sample(self, c: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """``len(c)`` configurations ``(B, sites)`` of ±1, spin by spin in raster order.

        Step ``i`` computes, in every layer, only the units of degree ``i - 1``, whose
        inputs (spins ``< i``, units of degree ``< i``) are all known by then, and keeps
        them: the sites are drawn in ``sites`` sequential steps whose total work is one
        forward pass.  No masks are needed: each unit's allowed inputs are a prefix."""
        n = len(c)
        uniform = torch.rand(n, self.sites, generator=generator, device=c.device)
        s = torch.zeros(n, self.sites, device=c.device)
        hs = [torch.zeros(n, len(self.degrees), device=c.device) for _ in self.hidden]
        ctx_h = [lin(c) for lin in self.context_in]
        base = self.direct.bias.expand(n, self.sites)
        if self.context_out is not None:
            base = base + self.context_out(c)
        if self.out is not None:
            base = base + self.out.bias
        for i in range(self.sites):
            logit = base[:, i] + s[:, :i] @ self.direct.weight[i, :i]
            if self.out is not None:
                self._fill_hidden(s, hs, ctx_h, i)
                k = self.prefix[i]
                logit = logit + hs[-1][:, :k] @ self.out.weight[i, :k]
            s[:, i] = torch.where(uniform[:, i] < torch.sigmoid(logit), 1.0, -1.0)
        return s

    def _fill_hidden(
        self, s: torch.Tensor, hs: list[torch.Tensor], ctx_h: list[torch.Tensor], i: int
    ) -> None:
        """The units of degree ``i - 1`` of every layer, from spins ``< i`` (step ``i``)."""
        lo, hi = self.prefix[i - 1] if i else 0, self.prefix[i]
        if lo == hi:
            return
        prev, width = s, i
        for layer_index, layer in enumerate(self.hidden):
            pre = prev[:, :width] @ layer.weight[lo:hi, :width].T + layer.bias[lo:hi]
            if ctx_h:
                pre = pre + ctx_h[layer_index][:, lo:hi]
            hs[layer_index][:, lo:hi] = self.act(pre)
            prev, width = hs[layer_index], hi


class VAN(TorchSurrogate):
    """Variational autoregressive network over the spins of one lattice field (see the
    module docstring); ``log_prob`` is exact."""

    name = "van"
    version = "1.0"
    density = "exact"
    supports_amp = False
    settings_class = VANSettings
    settings: VANSettings
    #: exact density, draws with their log-density: trains on a target's energy...
    trains_on_energy = True
    #: ... by score-function gradients, since spins are discrete
    reparameterised = False
    #: VAN's batch (1000 draws per step); VAN's Adam rate, 1e-3, is for a PixelCNN over
    #: 10^4 steps: from its uniform start this MADE has a 2.5x smaller bound error after
    #: 400 steps at L = 16 with 1e-2 (0.47% against 1.24% at 3e-3 and 6.7% at 1e-3;
    #: ``benchmarks/ising_van.py``)
    train_defaults: ClassVar[dict[str, Any]] = {"batch_size": 1000, "lr": 1e-2}

    def _setup_spec(self) -> None:
        spec = self._require_spec()
        if len(spec.fields) != 1:
            names = ", ".join(spec.field_names)
            raise SpecError(f"model 'van' models one field of spins, not {names}")
        self._pre = Preprocessing([], spec)
        self._cond = ConditionEncoder(spec)

    def _build(self) -> dict[str, nn.Module]:
        st = self.settings
        return {"made": MADE(self.x_dim, self.c_dim, st.hidden, st.layers, st.activation)}

    @property
    def made(self) -> MADE:
        assert self.nets is not None
        return self.nets["made"]  # type: ignore[return-value]

    # -- the density and the draws ----------------------------------------------------------
    def _log_q(self, s: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``log q(s)`` (float64), symmetrised over ``s -> -s`` when the model is."""
        if not self.settings.z2_symmetric:
            return self.made.log_prob(s, c)
        n = len(s)
        both = self.made.log_prob(torch.cat([s, -s]), torch.cat([c, c]))
        return torch.logaddexp(both[:n], both[n:]) - LN2

    def _draw(self, c: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Spins ``(n, x_dim)`` from ``q``: the MADE's, flipped as a whole with
        probability ½ when symmetrised (a draw from ``½ (q(s) + q(-s))``)."""
        with torch.no_grad():
            s = self.made.sample(c, generator)
            if self.settings.z2_symmetric:
                flip = torch.rand(len(s), 1, generator=generator, device=s.device) < 0.5
                s = torch.where(flip, -s, s)
        return s

    def training_loss(self, batch: Batch, optimizer: str, ctx: Any) -> dict[str, torch.Tensor]:
        """Maximum likelihood on events: the mean ``-log q`` of the batch."""
        return {"loss": -self._log_q(batch.x, batch.c).mean()}

    def draw_with_log_prob(
        self, batch: Batch, generator: torch.Generator | None
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """One draw per row of ``batch``: the spins as float64 ``(n, *shape)`` (exact ±1;
        the energy is then summed in double precision), the raw conditions and
        ``log q``, differentiable in the weights (the score the REINFORCE gradient
        needs; the draw itself carries no gradient)."""
        spec = self._require_spec()
        s = self._draw(batch.c, generator)
        log_q = self._log_q(s, batch.c)
        field = spec.fields[0]
        fields = {field.name: s.double().reshape(len(s), *field.shape)}
        raw = batch.raw if batch.raw is not None else torch.zeros(len(batch), 0)
        conds = {name: raw[:, i] for i, name in enumerate(spec.condition_names)}
        return fields, conds, log_q

    def _prepare(self, events: Events) -> tuple[np.ndarray, ...]:
        arrays = super()._prepare(events)
        _check_spins(arrays[0], TrainingError, "training events")
        return arrays

    def _generate(self, c: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self._draw(c, generator)

    def _log_density(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        _check_spins(x, SpecError, "log_prob input")
        return self._log_q(x, c)

    def sample_and_log_prob(
        self, n: int, conditions: Conditions = None, *, seed: Seed = None
    ) -> tuple[Events, np.ndarray]:
        """``n`` events and their exact ``log q`` (what importance weights need)."""
        events = self.sample(n, conditions, seed=seed)
        return events, self.log_prob(events)


def _check_spins(x: Any, error: type[Exception], what: str) -> None:
    """Refuse values other than ±1: the conditionals are over two states."""
    values = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if not bool(((values == 1) | (values == -1)).all()):
        raise error(f"model 'van': {what} must be spins of ±1 only")
