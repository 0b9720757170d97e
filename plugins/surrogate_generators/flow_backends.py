"""The thin interface between the ``flow`` family and a normalizing-flow library.

A backend builds a :class:`FlowModule`: an ``nn.Module`` with

``log_prob(x, context) -> (B,)``
    exact log-density of ``x`` (model space);
``sample_and_log_prob(context, n=None, generator=None) -> (x, log_q)``
    reparameterised samples (gradients flow through them, as reverse-KL training needs)
    and their log-density; ``context`` ``(B, C)`` gives one sample per row, or ``None``
    with ``n`` for an unconditional flow;
``to_base(x, context) -> z`` and ``from_base(z, context) -> x``
    the flow's map between model space and its standard-normal base space and its
    inverse (the latent space of :mod:`surrogate.latent`); ``from_base`` of base draws is
    ``sample``.

Two backends:

``nflows`` (``nflows==0.14``, pinned)
    the transforms that work on torch 2.x (see shared/reference/boltzmann.md section 4):
    rational-quadratic spline coupling and masked autoregressive transforms (spline or
    affine), with reverse or random permutations; never ``NaiveLinear`` (broken inverse)
    or ``LULinear`` (deprecated ``torch.triangular_solve``).
``native``
    spline coupling flows only, with this package's coupling step and spline
    (:mod:`.coupling`, :mod:`.splines`: the same transform, computed without nflows'
    masked copies) composed and permuted by nflows as above.  A training step of the
    calorimeter's 368-voxel flow is several times cheaper on a CPU
    (``benchmarks/flow_cost.py``), and its networks may run in bfloat16 (``amp``): the
    spline takes their outputs in float32.

A further backend (zuko) registers a builder in ``BACKENDS``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from surrogate.errors import SurrogateError, suggest

LOG_2PI = math.log(2 * math.pi)
NetFactory = Callable[[int, int], nn.Module]


class FlowModule(nn.Module):
    """Interface every backend's flow implements (see the module docstring)."""

    features: int

    def log_prob(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def sample_and_log_prob(
        self,
        context: torch.Tensor | None,
        n: int | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def sample(
        self,
        context: torch.Tensor | None,
        n: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        return self.sample_and_log_prob(context, n, generator)[0]

    def to_base(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def from_base(self, z: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


def _standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (z.pow(2).sum(-1) + z.shape[-1] * LOG_2PI)


class NflowsFlow(FlowModule):
    """An nflows ``CompositeTransform`` over a standard-normal base (drawn here, so a
    ``torch.Generator`` seeds the samples)."""

    def __init__(self, transform: nn.Module, features: int) -> None:
        super().__init__()
        self.transform = transform
        self.features = int(features)

    def log_prob(self, x, context):
        z, logabsdet = self.transform(x, context=context)
        return _standard_normal_log_prob(z) + logabsdet

    def sample_and_log_prob(self, context, n=None, generator=None):
        if context is not None:
            n = len(context)
        if n is None:
            raise ValueError("give a context or a number of samples")
        device = next(self.parameters()).device
        z = torch.randn((n, self.features), generator=generator, device=device)
        x, logabsdet = self._inverse(z, context)
        return x, _standard_normal_log_prob(z) - logabsdet

    def to_base(self, x, context):
        return self.transform(x, context=context)[0]

    def from_base(self, z, context):
        return self._inverse(z, context)[0]

    def _inverse(
        self, z: torch.Tensor, context: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            return self.transform.inverse(z, context=context)
        except AssertionError:
            return self._inverse_float64(z, context)

    def _inverse_float64(
        self, z: torch.Tensor, context: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The inverse in float64, for the batch float32 could not invert.

        nflows' rational-quadratic inverse asserts that the quadratic's discriminant is
        non-negative; float32 rounding breaks that for a rare point inside the spline's
        range (measured: one in 1e5 CaloGAN showers of a two-stage model), and the whole
        batch failed.  The same z in float64 gives the same samples to float32 precision.
        """
        wide = copy.deepcopy(self.transform).double()
        wide_context = None if context is None else context.double()
        x, logabsdet = wide.inverse(z.double(), context=wide_context)
        return x.to(z.dtype), logabsdet.to(z.dtype)


def _spline_identity_bias(net: nn.Module, features_out: int, bins: int, min_derivative: float):
    """Make a zero-initialised coupling network produce the identity spline: uniform bins
    (zero widths/heights) and unit derivatives (bias softplus^-1(1 - min_derivative))."""
    out = getattr(net, "out", None)
    if not isinstance(out, nn.Linear):
        return
    per = 3 * bins - 1
    const = math.log(math.expm1(1 - min_derivative))
    with torch.no_grad():
        bias = out.bias.view(features_out, per)
        bias[:, 2 * bins :] = const


def build_nflows(
    features: int,
    context_features: int,
    *,
    net_factory: NetFactory,
    flow_type: str = "coupling",
    transform: str = "spline",
    transforms: int = 6,
    bins: int = 8,
    tail_bound: float = 5.0,
    hidden: int = 128,
    blocks: int = 2,
    dropout: float = 0.0,
    permutation: str = "auto",
) -> FlowModule:
    """A flow of ``transforms`` steps.

    ``flow_type="coupling"``: each step transforms half of the dimensions (alternating
    masks) conditioned on the other half and the context, through ``net_factory``'s network
    (the family's swappable backbone).  ``"autoregressive"``: MADE conditioners (nflows'
    own network; ``hidden``/``blocks``/``dropout`` size it).  ``transform``: ``"spline"``
    (rational-quadratic, linear tails beyond ``tail_bound``) or ``"affine"``.
    Coupling masks alternate between steps; ``permutation`` adds ``"random"`` feature
    permutations between them (seeded by torch's RNG) or ``"none"``; ``"auto"`` is none in
    2D and above it a random permutation that moves the features a step left unchanged
    onto those the next step transforms (:func:`covering_permutation`), so every feature
    is transformed by every two consecutive steps.  Plain random permutations left one
    untransformed in 28 of 50 seeded 3-D two-step flows, and in 2 of 50 8-D six-step ones:
    that marginal kept the base's unit width whatever the training.  Autoregressive steps
    are separated by reversals.
    """
    features, transforms, bins = int(features), int(transforms), int(bins)
    _check_nflows(features, flow_type, transform, transforms, bins, permutation)
    spline = {"num_bins": bins, "tails": "linear", "tail_bound": float(tail_bound)}
    made = {
        "features": features,
        "hidden_features": int(hidden),
        "context_features": int(context_features) or None,
        "num_blocks": int(blocks),
        "use_residual_blocks": True,
        "dropout_probability": float(dropout),
    }

    def step(i: int) -> nn.Module:
        if flow_type == "coupling":
            return _coupling(features, i, transform, net_factory, spline)
        return _autoregressive(transform, made, spline)

    return _chain(features, transforms, step, flow_type, permutation)


def build_native(
    features: int,
    context_features: int,
    *,
    net_factory: NetFactory,
    flow_type: str = "coupling",
    transform: str = "spline",
    transforms: int = 6,
    bins: int = 8,
    tail_bound: float = 5.0,
    permutation: str = "auto",
    **made: Any,
) -> FlowModule:
    """The spline coupling flow :func:`build_nflows` builds, with the coupling steps of
    :mod:`.coupling`; ``made`` (``hidden``, ``blocks``, ``dropout``) sizes autoregressive
    conditioners, which this backend does not build (the coupling networks are
    ``net_factory``'s)."""
    from .coupling import RationalQuadraticCoupling

    features, transforms, bins = int(features), int(transforms), int(bins)
    if flow_type != "coupling" or transform != "spline":
        raise SurrogateError(
            f"flow backend 'native' builds spline coupling flows only, not "
            f"{flow_type} {transform}; use backend='nflows'"
        )
    _check_nflows(features, flow_type, transform, transforms, bins, permutation)

    def step(i: int) -> nn.Module:
        return RationalQuadraticCoupling(
            features, i, net_factory, bins=bins, tail_bound=float(tail_bound)
        )

    return _chain(features, transforms, step, flow_type, permutation)


def _chain(
    features: int,
    transforms: int,
    step: Callable[[int], nn.Module],
    flow_type: str,
    permutation: str,
) -> FlowModule:
    """``transforms`` steps with the permutations between them that ``flow_type`` and
    ``permutation`` call for (see :func:`build_nflows`)."""
    from nflows.transforms import CompositeTransform, RandomPermutation, ReversePermutation

    layers: list[nn.Module] = []
    for i in range(transforms):
        layers.append(step(i))
        if i == transforms - 1 or features < 2:
            continue
        if flow_type == "autoregressive":
            layers.append(ReversePermutation(features))
        elif permutation == "random":
            layers.append(RandomPermutation(features))
        elif permutation == "auto" and features > 2:
            layers.append(covering_permutation(features, i))
    return NflowsFlow(CompositeTransform(layers), features)


def covering_permutation(features: int, step: int) -> nn.Module:
    """A random permutation after coupling step ``step`` that puts the features the step
    left unchanged where step ``step + 1`` transforms (alternating masks have as many of
    those as the step left), and the rest in the other places, each set shuffled with
    torch's RNG.  nflows' ``Permutation`` stores it as a buffer, so a saved flow keeps
    its own."""
    import torch
    from nflows.transforms import Permutation
    from nflows.utils import create_alternating_binary_mask

    this = create_alternating_binary_mask(features, even=(step % 2 == 0)) > 0
    after = create_alternating_binary_mask(features, even=((step + 1) % 2 == 0)) > 0
    unchanged, changed = torch.where(~this)[0], torch.where(this)[0]
    perm = torch.empty(features, dtype=torch.long)
    # the output at position j is the input at perm[j] (nflows' index_select)
    perm[torch.where(after)[0]] = unchanged[torch.randperm(len(unchanged))]
    perm[torch.where(~after)[0]] = changed[torch.randperm(len(changed))]
    return Permutation(perm)


def _check_nflows(
    features: int, flow_type: str, transform: str, transforms: int, bins: int, permutation: str
) -> None:
    """Refuse the flows this backend does not build, before any network is made."""
    if flow_type not in ("coupling", "autoregressive"):
        raise SurrogateError(
            f"flow: flow_type must be coupling or autoregressive, not {flow_type!r}"
        )
    if transform not in ("spline", "affine"):
        raise SurrogateError(f"flow: transform must be spline or affine, not {transform!r}")
    if permutation not in ("auto", "none", "random"):
        raise SurrogateError(f"flow: permutation must be auto, none or random, not {permutation!r}")
    if transforms < 1 or bins < 2:
        raise SurrogateError("flow: needs transforms >= 1 and bins >= 2")
    if flow_type == "coupling" and features < 2:
        raise SurrogateError(
            "flow: coupling layers need events of at least 2 numbers; use flow_type=autoregressive"
        )


def _coupling(
    features: int, step: int, transform: str, net_factory: NetFactory, spline: dict[str, Any]
) -> nn.Module:
    """Coupling step ``step``: its mask alternates with the previous step's."""
    from nflows.transforms import (
        AffineCouplingTransform,
        PiecewiseRationalQuadraticCouplingTransform,
    )
    from nflows.transforms.splines.rational_quadratic import DEFAULT_MIN_DERIVATIVE
    from nflows.utils import create_alternating_binary_mask

    mask = create_alternating_binary_mask(features, even=(step % 2 == 0))
    if transform == "affine":
        return AffineCouplingTransform(mask=mask, transform_net_create_fn=net_factory)
    n_out = int((mask > 0).sum())

    def make(fin: int, fout: int) -> nn.Module:
        net = net_factory(fin, fout)
        _spline_identity_bias(net, n_out, spline["num_bins"], DEFAULT_MIN_DERIVATIVE)
        return net

    return PiecewiseRationalQuadraticCouplingTransform(
        mask=mask, transform_net_create_fn=make, **spline
    )


def _autoregressive(transform: str, made: dict[str, Any], spline: dict[str, Any]) -> nn.Module:
    """A masked autoregressive step with nflows' own MADE conditioner."""
    from nflows.transforms import (
        MaskedAffineAutoregressiveTransform,
        MaskedPiecewiseRationalQuadraticAutoregressiveTransform,
    )

    if transform == "spline":
        return MaskedPiecewiseRationalQuadraticAutoregressiveTransform(**made, **spline)
    return MaskedAffineAutoregressiveTransform(**made)


BACKENDS: dict[str, Callable[..., FlowModule]] = {"nflows": build_nflows, "native": build_native}


def build_flow(backend: str, features: int, context_features: int, **options: Any) -> FlowModule:
    """Build a flow with the named backend."""
    if backend not in BACKENDS:
        raise SurrogateError(
            f"unknown flow backend {backend!r}"
            + (suggest(backend, BACKENDS) or f" (known: {', '.join(sorted(BACKENDS))})")
        )
    return BACKENDS[backend](features, context_features, **options)
