"""Monotonic rational-quadratic splines with linear tails, in plain torch.

The spline of Gregory & Delbourgo (1982) as Durkan et al. use it in neural spline flows
(arXiv:1906.04032, section 3.1): ``K`` bins on ``[-bound, bound]`` with knots
``(x_k, y_k)`` and derivatives ``d_k`` at the knots, the identity outside.  In bin ``k``,
with ``w = x_{k+1} - x_k``, ``h = y_{k+1} - y_k``, ``s = h / w`` and
``xi = (x - x_k) / w``::

    y = y_k + h (s xi^2 + d_k xi (1 - xi)) / (s + (d_{k+1} + d_k - 2 s) xi (1 - xi))
    dy/dx = s^2 (d_{k+1} xi^2 + 2 s xi (1 - xi) + d_k (1 - xi)^2) / (denominator)^2

and the inverse is the root of a quadratic in ``xi`` (their equations 6-8), taken in
the form ``xi = 2c / (-b - sqrt(b^2 - 4ac))`` that is stable where ``a`` vanishes.

The parameters follow nflows 0.14's conventions exactly (widths and heights by softmax
with a floor of ``MIN_BIN`` each, interior derivatives ``MIN_DERIVATIVE + softplus``, the
two boundary derivatives 1 so the tails join smoothly), so the same network outputs give
the same transform as ``nflows.transforms.splines.unconstrained_rational_quadratic_spline``.

Why a second implementation: nflows selects the points inside the interval with boolean
masks and scatters the results back (a copy of every parameter tensor, twice, per step),
and takes its softmax over the last, 8-long axis; profiled on a 368-dimensional
calorimeter flow on one CPU thread, those copies, fills and softmaxes took over half of a
training step.  Here the parameters come bin-major, ``(batch, 3K - 1, dims)``, so every
reduction over bins runs along a long contiguous axis, points outside the interval are
clamped and then replaced with ``torch.where`` (no masks, no scatter), and a knot search is
``K - 1`` comparisons.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

#: nflows' floors: the smallest bin width and height (a fraction of the interval) and the
#: smallest derivative at a knot.
MIN_BIN = 1e-3
MIN_DERIVATIVE = 1e-3
#: The unnormalised derivative that ``MIN_DERIVATIVE + softplus`` maps to exactly 1.
UNIT_DERIVATIVE = math.log(math.expm1(1.0 - MIN_DERIVATIVE))


def parameters_per_dim(bins: int) -> int:
    """Network outputs a transformed dimension needs: widths, heights and the interior
    derivatives."""
    return 3 * bins - 1


def _knots(unnormalised: torch.Tensor, bound: float) -> torch.Tensor:
    """``(B, K, D)`` unnormalised bin sizes -> ``(B, K + 1, D)`` knot positions, the first
    and last exactly at ``-bound`` and ``bound``."""
    bins = unnormalised.shape[1]
    sizes = MIN_BIN + (1.0 - MIN_BIN * bins) * torch.softmax(unnormalised, dim=1)
    inner = torch.cumsum(sizes[:, :-1], dim=1) * (2.0 * bound) - bound
    edge = torch.full_like(sizes[:, :1], bound)
    return torch.cat([-edge, inner, edge], dim=1)


def _derivatives(unnormalised: torch.Tensor) -> torch.Tensor:
    """``(B, K - 1, D)`` -> ``(B, K + 1, D)`` knot derivatives, 1 at both ends."""
    inner = MIN_DERIVATIVE + F.softplus(unnormalised)
    one = torch.ones_like(inner[:, :1])
    return torch.cat([one, inner, one], dim=1)


def _bin_values(knots: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The bin of each point ``(B, D)`` among ``knots`` ``(B, K + 1, D)`` (the points lie in
    ``[knots[0], knots[K]]``): its index ``(B, 1, D)`` for :func:`torch.gather`, and the
    index of the bin's upper knot."""
    inner = knots[:, 1:-1]
    index = (points.unsqueeze(1) >= inner).sum(dim=1, keepdim=True)
    return index, index + 1


def rational_quadratic(
    x: torch.Tensor,
    params: torch.Tensor,
    *,
    bound: float,
    inverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The spline of ``params`` ``(B, 3K - 1, D)`` applied to ``x`` ``(B, D)`` (or its
    inverse): ``(y, log|dy/dx|)``, both ``(B, D)``; the log-derivative of the inverse is
    minus the forward one's.  Identity, with log-derivative 0, outside ``[-bound, bound]``.

    ``params`` rows: ``K`` unnormalised widths, ``K`` heights, ``K - 1`` derivatives.
    """
    bins = (params.shape[1] + 1) // 3
    # split, not slices: a slice's gradient is a zero-filled copy of all of params
    widths, heights, slopes = params.split([bins, bins, bins - 1], dim=1)
    xs, ys, ds = _knots(widths, bound), _knots(heights, bound), _derivatives(slopes)
    inside = (x >= -bound) & (x <= bound)
    point = x.clamp(-bound, bound)
    lo, hi = _bin_values(ys if inverse else xs, point)
    x0, x1 = xs.gather(1, lo).squeeze(1), xs.gather(1, hi).squeeze(1)
    y0, y1 = ys.gather(1, lo).squeeze(1), ys.gather(1, hi).squeeze(1)
    d0, d1 = ds.gather(1, lo).squeeze(1), ds.gather(1, hi).squeeze(1)
    w, h = x1 - x0, y1 - y0
    s = h / w
    curve = d0 + d1 - 2.0 * s
    xi = _inverse_xi(point - y0, h, s, d0, curve) if inverse else ((point - x0) / w).clamp(0.0, 1.0)
    t = xi * (1.0 - xi)
    den = s + curve * t
    num = d1 * xi * xi + 2.0 * s * t + d0 * (1.0 - xi) ** 2
    logdet = 2.0 * torch.log(s) + torch.log(num) - 2.0 * torch.log(den)
    if inverse:
        out, logdet = x0 + xi * w, -logdet
    else:
        out = y0 + h * (s * xi * xi + d0 * t) / den
    return torch.where(inside, out, x), torch.where(inside, logdet, torch.zeros_like(logdet))


def _inverse_xi(
    dy: torch.Tensor, h: torch.Tensor, s: torch.Tensor, d0: torch.Tensor, curve: torch.Tensor
) -> torch.Tensor:
    """The position in its bin, in [0, 1], of the point ``dy`` above the bin's lower knot.

    The discriminant is clamped at 0: float32 rounding makes it slightly negative for
    rare points (nflows asserts instead and the whole batch fails)."""
    a = h * (s - d0) + dy * curve
    b = h * d0 - dy * curve
    c = -s * dy
    root = torch.sqrt((b * b - 4.0 * a * c).clamp_min(0.0))
    return ((2.0 * c) / (-b - root)).clamp(0.0, 1.0)
