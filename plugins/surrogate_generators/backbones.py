"""Swappable network bodies.

A backbone maps ``(x, context)`` of shapes ``(B, in_features)`` and
``(B, context_features)`` (or ``None``) to ``(B, out_features)``.  Families ask for one by
name through :func:`make_backbone`, so image- or volume-shaped events can get a
convolutional body by registering it here (:func:`register_backbone`) without touching
the families: :mod:`.conv` registers ``conv`` for 2-D maps and 3-D cubes.  The signature
every backbone class takes::

    cls(in_features, out_features, context_features=0, **options)

Options come from the model's hyper-parameters (``hidden``, ``blocks``, ``activation``,
``dropout``) and ``backbone_options`` (anything a specific body needs, e.g. its input
shape); a body ignores none silently: unknown options are an error.  A class with
``takes_field_shape = True`` also gets ``shape``, the grid of an event made of one 2-D or
3-D field (:meth:`~surrogate_generators.base.TorchSurrogate.backbone`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from surrogate.errors import SurrogateError, check_known, suggest

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise SurrogateError(
            f"unknown activation {name!r}"
            + (suggest(name, ACTIVATIONS) or f" (known: {', '.join(ACTIVATIONS)})")
        )
    return ACTIVATIONS[name]()


class ResidualBlock(nn.Module):
    """Pre-norm residual block; the context enters every block additively."""

    def __init__(self, hidden: int, context: int, act: str, dropout: float, norm: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden) if norm else nn.Identity()
        self.act1, self.act2 = make_activation(act), make_activation(act)
        self.lin1 = nn.Linear(hidden, hidden)
        self.ctx = nn.Linear(context, hidden) if context else None
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.lin2 = nn.Linear(hidden, hidden)

    def forward(self, h: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        t = self.lin1(self.act1(self.norm(h)))
        if self.ctx is not None and context is not None:
            t = t + self.ctx(context)
        return h + self.lin2(self.drop(self.act2(t)))


class ResidualMLP(nn.Module):
    """``Linear -> blocks x ResidualBlock -> Linear``, conditioned on the context.

    ``zero_init`` starts the output layer at zero (an identity start for flows' coupling
    networks and residual score networks).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        context_features: int = 0,
        *,
        hidden: int = 128,
        blocks: int = 2,
        activation: str = "silu",
        dropout: float = 0.0,
        norm: bool = True,
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        hidden, blocks = int(hidden), int(blocks)
        if hidden < 1 or blocks < 0:
            raise SurrogateError(
                f"mlp backbone needs hidden >= 1, blocks >= 0 ({hidden}, {blocks})"
            )
        self.in_features, self.context_features = int(in_features), int(context_features)
        self.hidden_features = hidden  # nflows reads this to scale spline parameters
        self.inp = nn.Linear(self.in_features + self.context_features, hidden)
        self.blocks = nn.ModuleList(
            ResidualBlock(hidden, self.context_features, activation, float(dropout), bool(norm))
            for _ in range(blocks)
        )
        self.out_norm = nn.LayerNorm(hidden) if norm else nn.Identity()
        self.out_act = make_activation(activation)
        self.out = nn.Linear(hidden, int(out_features))
        if zero_init:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if self.context_features:
            if context is None:
                raise ValueError("this backbone is conditional: pass a context")
            h = self.inp(torch.cat([x, context], dim=-1))
        else:
            h = self.inp(x)
            context = None
        for block in self.blocks:
            h = block(h, context)
        return self.out(self.out_act(self.out_norm(h)))


BACKBONES: dict[str, type[nn.Module]] = {"mlp": ResidualMLP}


def register_backbone(name: str, cls: type[nn.Module]) -> None:
    """Make ``cls`` available as ``backbone=name`` to every family."""
    BACKBONES[name] = cls


def takes_field_shape(name: str) -> bool:
    """Whether the backbone ``name`` is built on the event's grid: its class sets
    ``takes_field_shape = True`` and the family's base passes ``shape`` (the ``conv``
    backbone of :mod:`.conv`)."""
    return bool(getattr(BACKBONES.get(name), "takes_field_shape", False))


def make_backbone(
    name: str, in_features: int, out_features: int, context_features: int = 0, **options: Any
) -> nn.Module:
    """Build the backbone ``name``; unknown names or options are refused with a hint."""
    if name not in BACKBONES:
        raise SurrogateError(
            f"unknown backbone {name!r}"
            + (suggest(name, BACKBONES) or f" (known: {', '.join(sorted(BACKBONES))})")
        )
    cls = BACKBONES[name]
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        known = [
            k
            for k in params
            if k not in ("self", "in_features", "out_features", "context_features")
        ]
        check_known(options, known, f"backbone {name!r}")
    return cls(int(in_features), int(out_features), int(context_features), **options)
