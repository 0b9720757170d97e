"""A rational-quadratic spline coupling step written on :mod:`.splines`, for the
``native`` flow backend (:mod:`.flow_backends`).

The same transform as nflows' ``PiecewiseRationalQuadraticCouplingTransform`` with
linear tails: the features where nflows' alternating mask is 1 are transformed by a spline
whose parameters a network computes from the other features and the context.  Two
differences, both for speed on a CPU: the network's outputs are read bin-major
(``(batch, 3K - 1, transformed)``, see :mod:`.splines`), and the spline is the mask-free
one of :mod:`.splines`.  It is an nflows ``Transform``, so nflows' ``CompositeTransform``
and permutations compose it.
"""

from __future__ import annotations

import math

import torch
from nflows.transforms import Transform
from nflows.utils import create_alternating_binary_mask
from torch import nn

from .splines import UNIT_DERIVATIVE, parameters_per_dim, rational_quadratic


class RationalQuadraticCoupling(Transform):
    """Coupling step ``step`` of ``features`` (its mask alternates with the previous
    step's); ``make_net(in, out)`` builds the conditioner, ``net(x, context)``."""

    def __init__(self, features: int, step: int, make_net, *, bins: int, tail_bound: float) -> None:
        super().__init__()
        mask = create_alternating_binary_mask(features, even=(step % 2 == 0)) > 0
        self.register_buffer("identity", torch.where(~mask)[0])
        self.register_buffer("transformed", torch.where(mask)[0])
        self.bins, self.tail_bound = int(bins), float(tail_bound)
        per, n_out = parameters_per_dim(self.bins), len(self.transformed)
        self.net: nn.Module = make_net(len(self.identity), per * n_out)
        # nflows scales the widths' and heights' logits by 1/sqrt(hidden) (a gentler
        # softmax at initialisation); so does this step, for the same training dynamics.
        hidden = getattr(self.net, "hidden_features", None)
        scale = torch.ones(per, 1)
        if hidden:
            scale[: 2 * self.bins] = 1.0 / math.sqrt(hidden)
        self.register_buffer("scale", scale)
        self._identity_at_start(per, n_out)

    def _identity_at_start(self, per: int, n_out: int) -> None:
        """A zero-initialised output layer then gives uniform bins and unit derivatives:
        the identity spline."""
        out = getattr(self.net, "out", None)
        if isinstance(out, nn.Linear):
            with torch.no_grad():
                out.bias.view(per, n_out)[2 * self.bins :] = UNIT_DERIVATIVE

    def _couple(self, x: torch.Tensor, context: torch.Tensor | None, inverse: bool):
        kept = x.index_select(1, self.identity)
        # float32 whatever the network ran in (bfloat16 under amp): the spline needs it
        params = self.net(kept, context).float().view(len(x), -1, len(self.transformed))
        params = params * self.scale
        y, logdet = rational_quadratic(
            x.index_select(1, self.transformed), params, bound=self.tail_bound, inverse=inverse
        )
        return x.index_copy(1, self.transformed, y), logdet.sum(dim=1)

    def forward(self, inputs: torch.Tensor, context: torch.Tensor | None = None):
        return self._couple(inputs, context, inverse=False)

    def inverse(self, inputs: torch.Tensor, context: torch.Tensor | None = None):
        return self._couple(inputs, context, inverse=True)
