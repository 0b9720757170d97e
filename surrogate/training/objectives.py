"""What the one training loop minimises: the objective, swappable like the optimiser.

``likelihood``
    the negative log-likelihood of the data (maximum likelihood; the forward KL
    ``KL(p || q)`` up to a constant): every family's own ``training_loss``.
``energy``
    ``E_q[u(x) + log q(x)]`` over the model's own draws, where ``u`` is the target's
    reduced energy (:mod:`surrogate.energy`): ``KL(q || p) - ln Z``, which needs no data
    (Noé et al., Science 365, eaaw1147, 2019, the Boltzmann generator's "KL" loss; bgflow's
    ``KLTrainer`` docstring swaps the words forward and reverse, so the names here say what
    is averaged over what).
``mixed``
    ``(1 - w) NLL + w E_q[u + log q]`` with ``w = energy_weight``: the likelihood keeps every
    mode the data show, the energy term corrects the density where the data are thin.

A model trained on an energy implements the :class:`DensityModel` protocol below; the
objective calls it and the target, nothing else, so the loop (resume, EMA, early stopping,
time budget) is unchanged.  Gradients of the energy term are pathwise where the model's
draws are differentiable (a flow) and score-function estimates, ``(f - mean f) grad log
q`` with the batch mean as baseline (Williams 1992; VAN, Wu et al. PRL 122, 080602, 2019),
where they are not (a discrete autoregressive model).

The validation estimate of the energy term draws with a generator reseeded at every
validation pass: every epoch is scored on the same noise, so early stopping compares
models, not draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from ..errors import TrainingError
from .options import TrainOptions

#: Seed of the validation draws (any fixed number: the point is that it is fixed).
VALIDATION_SEED = 0x76616C


class DensityModel(Protocol):
    """What a family trained on an energy provides (a flow does)."""

    #: True: draws are differentiable functions of the parameters (pathwise gradients).
    reparameterised: bool
    #: Where the networks are (the validation draws' generator is made there).
    device: torch.device

    def training_loss(self, batch: Any, optimizer: str, ctx: Any) -> dict[str, torch.Tensor]:
        """The family's own (likelihood) loss of a data batch."""
        ...

    def draw_with_log_prob(
        self, batch: Any, generator: torch.Generator | None
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """One draw per row of ``batch``, at its conditions: the raw fields, the raw
        conditions (what the target's energy takes) and ``log q`` in raw units."""
        ...


def resolve_objective(options: TrainOptions, *, has_data: bool, has_target: bool) -> str:
    """The objective a run uses: the option, or what ``auto`` means for its inputs; a
    combination that cannot work is a one-line :class:`TrainingError`."""
    kind = options.objective
    if kind == "auto":
        kind = "mixed" if has_data and has_target else "energy" if has_target else "likelihood"
    if kind in ("energy", "mixed") and not has_target:
        raise TrainingError(
            f"objective {kind!r} needs a target that knows its energy (fit(..., target=sim))"
        )
    if kind in ("likelihood", "mixed") and not has_data:
        raise TrainingError(f"objective {kind!r} needs training events; give data")
    return kind


def soft_cap(u: torch.Tensor, cap: float | None) -> torch.Tensor:
    """``u`` below ``cap``; ``cap + log1p(u - cap)`` above it (infinite ``u`` too)."""
    if cap is None:
        return u
    u = torch.nan_to_num(u, nan=math.inf).clamp(max=1e30)
    return torch.where(u > cap, cap + torch.log1p((u - cap).clamp(min=0)), u)


@dataclass
class Objective:
    """The loss of one batch for the loop (see the module docstring).

    ``kind`` is resolved (:func:`resolve_objective`); ``target`` is the simulator whose
    ``energy`` the energy term evaluates (``None`` for likelihood).
    """

    kind: str
    target: Any = None
    energy_weight: float = 0.5
    energy_cap: float | None = None
    energy_anneal: float | None = None
    _val_generator: torch.Generator | None = field(default=None, repr=False)
    _val_epoch: int | None = field(default=None, repr=False)

    @classmethod
    def from_options(
        cls, options: TrainOptions, *, has_data: bool, target: Any = None
    ) -> Objective:
        kind = resolve_objective(options, has_data=has_data, has_target=target is not None)
        if target is not None:
            target._require_energy()
        return cls(
            kind, target, float(options.energy_weight), options.energy_cap, options.energy_anneal
        )

    @property
    def uses_energy(self) -> bool:
        return self.kind in ("energy", "mixed")

    def bind(self, model: DensityModel) -> BoundObjective:
        """``model`` as the loop trains it under this objective."""
        return BoundObjective(model, self)

    def training_loss(
        self, model: DensityModel, batch: Any, optimizer: str, ctx: Any
    ) -> dict[str, torch.Tensor]:
        if self.kind == "likelihood":
            return model.training_loss(batch, optimizer, ctx)
        losses = self._energy_term(model, batch, None, self.annealing(ctx.global_step))
        return self._mixed(losses, losses["loss"], model, batch, optimizer, ctx)

    def validation_loss(self, model: DensityModel, batch: Any, ctx: Any) -> dict[str, torch.Tensor]:
        if not self.uses_energy:
            return model.training_loss(batch, "main", ctx)
        if self._val_generator is None or self._val_epoch != ctx.epoch:
            self._val_generator = torch.Generator(device=model.device)
            self._val_generator.manual_seed(VALIDATION_SEED)
            self._val_epoch = ctx.epoch
        losses = self._energy_term(model, batch, self._val_generator)
        return self._mixed(losses, losses["kl"], model, batch, "main", ctx)

    def _mixed(
        self,
        losses: dict[str, torch.Tensor],
        energy_loss: torch.Tensor,
        model: DensityModel,
        batch: Any,
        optimizer: str,
        ctx: Any,
    ) -> dict[str, torch.Tensor]:
        """The energy term's ``losses`` as they are (``energy``), or with ``loss`` the
        weighted sum of the likelihood's and ``energy_loss`` (``mixed``)."""
        if self.kind == "energy":
            return losses
        nll = model.training_loss(batch, optimizer, ctx)["loss"]
        w = self.energy_weight
        return {**losses, "loss": (1 - w) * nll + w * energy_loss, "nll": nll}

    def annealing(self, step: int) -> float:
        """The factor ``1 - energy_anneal ** step`` of the energy at optimiser step
        ``step`` (1 without annealing)."""
        return 1.0 if self.energy_anneal is None else 1.0 - self.energy_anneal**step

    def _energy_term(
        self, model: DensityModel, batch: Any, generator: torch.Generator | None, a: float = 1.0
    ) -> dict[str, torch.Tensor]:
        """``{"loss", "kl", "energy"}``: the surrogate loss whose gradient is that of
        ``E_q[a u + log q]``, the estimate ``E_q[u + log q]`` and the mean reduced energy."""
        fields, conditions, log_q = model.draw_with_log_prob(batch, generator)
        u = soft_cap(self.target.energy(fields, conditions).to(log_q.dtype), self.energy_cap)
        # a non-finite draw (overlapping particles, a flow's NaN) makes the loss non-finite:
        # the loop then stops with one line and keeps the last good checkpoint
        f = a * u + log_q
        if model.reparameterised:
            loss = f.mean()
        else:
            fd = f.detach()
            loss = ((fd - fd.mean()) * log_q).mean()
        kl = (u + log_q).detach().mean()
        return {"loss": loss, "kl": kl, "energy": u.detach().mean()}


class BoundObjective:
    """A model with an objective's losses: everything else (networks, optimisers,
    batches) is the model's own, so the loop trains it like any family."""

    def __init__(self, model: DensityModel, objective: Objective) -> None:
        self._model, self._objective = model, objective

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def training_loss(self, batch: Any, optimizer: str, ctx: Any) -> dict[str, torch.Tensor]:
        return self._objective.training_loss(self._model, batch, optimizer, ctx)

    def validation_loss(self, batch: Any, ctx: Any) -> dict[str, torch.Tensor]:
        return self._objective.validation_loss(self._model, batch, ctx)
