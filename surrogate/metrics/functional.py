"""Two-sample distances on numpy arrays, with the conventions of the field.

- :func:`separation_power`: the CaloChallenge's triangular discrimination
  S = 1/2 sum (h1 - h2)^2 / (h1 + h2 + 1e-16) of histograms normalised to sum 1
  (arXiv:2009.03796 eq. 15; CaloChallenge ``evaluate_plotting_helper._separation_power``).
- :func:`fpd`: Fréchet physics distance (arXiv:2211.10295), JetNet's recipe
  (``jetnet.evaluation.fpd``): features divided by the reference's per-feature max |x|;
  the Fréchet distance is averaged over ``num_batches`` batches drawn with replacement at
  ``num_points`` batch sizes evenly spaced in 1/N between ``min_samples`` and
  ``max_samples`` (whatever the samples' sizes); a straight line in 1/N is fitted with
  scipy's ``curve_fit`` bounded to intercept, slope >= 0, as JetNet fits it, and
  extrapolated to N -> infinity; returns the intercept and its standard error.
- :func:`kpd`: kernel physics distance: the unbiased MMD^2 with the polynomial kernel
  k(x, y) = (x.y / d + 1)^4 on ``num_batches`` bootstrap batches of ``batch_size``;
  returns the median and half the 16-84 % inter-quantile range.
- :func:`mmd`: the same estimator with a Gaussian kernel, features standardised by the
  reference and the bandwidth set by the median heuristic on the reference.
- :func:`wasserstein1`, :func:`ks_statistic`: 1-D distances between samples.

Written here (not imported from jetnet, whose numba and energyflow dependencies the
toolkit does not want); the tests check them against closed forms.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from .base import MetricError

EPS = 1e-16


# -- histograms -------------------------------------------------------------------------
def auto_edges(reference: np.ndarray, n_bins: int = 50, *, log: bool = False) -> np.ndarray:
    """Edges spanning the reference's 0.05-99.95 % quantiles (``log``: geometric, for
    positive values)."""
    x = np.asarray(reference, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        raise MetricError("cannot bin an empty sample")
    if log:
        pos = x[x > 0]
        if len(pos) > 0:
            lo, hi = np.quantile(pos, [0.0005, 0.9995])
            if hi > lo > 0:
                return np.geomspace(lo, hi, n_bins + 1)
    lo, hi = np.quantile(x, [0.0005, 0.9995])
    if not hi > lo:
        lo, hi = float(x.min()), float(x.max())
    if not hi > lo:  # a constant observable
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n_bins + 1)


def bin_index(values: np.ndarray, edges: np.ndarray, *, overflow: bool) -> np.ndarray:
    """Bin of each value.  ``overflow``: K+2 bins, 0 and K+1 catching what lies outside the
    edges; otherwise ``np.histogram`` semantics (last bin closed, outside values -> -1)."""
    v = np.asarray(values, dtype=np.float64)
    k = len(edges) - 1
    if overflow:
        return np.searchsorted(edges, v, side="right")
    idx = np.searchsorted(edges, v, side="right") - 1
    idx[v == edges[-1]] = k - 1
    idx[(v < edges[0]) | (v > edges[-1]) | ~np.isfinite(v)] = -1
    return idx


def counts(index: np.ndarray, n_bins: int) -> np.ndarray:
    return np.bincount(index[index >= 0], minlength=n_bins).astype(np.float64)


def separation_power(h1: np.ndarray, h2: np.ndarray) -> float:
    """Triangular discrimination of two histograms (normalised here to sum 1)."""
    h1 = np.asarray(h1, dtype=np.float64)
    h2 = np.asarray(h2, dtype=np.float64)
    if h1.shape != h2.shape:
        raise MetricError(f"histograms differ in shape: {h1.shape} vs {h2.shape}")
    s1, s2 = h1.sum(), h2.sum()
    if s1 <= 0 or s2 <= 0:
        return math.nan
    h1, h2 = h1 / s1, h2 / s2
    return float(0.5 * np.sum((h1 - h2) ** 2 / (h1 + h2 + EPS)))


def histogram_separation(
    x: np.ndarray, y: np.ndarray, bins: np.ndarray | int = 50, *, overflow: bool | None = None
) -> float:
    """Separation power of two samples histogrammed with ``bins`` (edges, or a number of
    bins over ``x``'s range with under/overflow bins)."""
    if isinstance(bins, (int, np.integer)):
        edges, overflow = auto_edges(x, int(bins)), True if overflow is None else overflow
    else:
        edges, overflow = np.asarray(bins, dtype=np.float64), bool(overflow)
    nb = len(edges) + 1 if overflow else len(edges) - 1
    return separation_power(
        counts(bin_index(x, edges, overflow=overflow), nb),
        counts(bin_index(y, edges, overflow=overflow), nb),
    )


def quantile_edges(sample: np.ndarray, n_bins: int) -> np.ndarray:
    """Edges at ``n_bins + 1`` evenly spaced quantiles of ``sample``, from its minimum to
    its maximum (ties merged: a discrete observable gets fewer bins): every bin holds
    about the same share of the sample, which keeps the binned W1's and KS's
    discretisation bounds small where the mass is."""
    x = np.asarray(sample, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        raise MetricError("cannot bin an empty sample")
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, int(n_bins) + 1)))
    return edges if len(edges) > 1 else np.array([edges[0] - 0.5, edges[0] + 0.5])


def _cdf_differences(
    a: np.ndarray, b: np.ndarray, overflow: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F_a - F_b at each edge, bin shares of a, of b) of two histograms on one set of
    edges (``overflow``: the first and last bins lie outside them)."""
    pa = np.asarray(a, np.float64) / max(float(np.sum(a)), 1.0)
    pb = np.asarray(b, np.float64) / max(float(np.sum(b)), 1.0)
    d = np.cumsum(pa - pb)
    d = d[:-1] if overflow else np.concatenate([[0.0], d])
    return d, pa, pb


def binned_wasserstein1(
    edges: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    overflow: bool,
    tails: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[float, float]:
    """(W1, its bound) of two histograms on ``edges``: the integral of |F_a - F_b| with
    each bin's mass spread evenly over it (the CDFs linear inside a bin), in the units of
    the edges.  The bound: |W1 - W1 of the events| <= sum_b w_b (p_b + q_b) / 2 over the
    bins inside the edges (an event moves at most a bin width to its bin's spread), so
    with quantile edges it is about the range over the number of bins.

    ``tails`` (with ``overflow``): per histogram the mean and standard deviation of the
    distances past the lower and upper edge (:meth:`Histogram.tails
    <surrogate.metrics.accumulate.Histogram.tails>`); each overflow bin's mass is then
    placed at its mean distance, which adds at most share x standard deviation to the
    bound.  Without them it is counted at the edge and left out of the bound."""
    d, pa, pb = _cdf_differences(a, b, overflow)
    w = np.diff(np.asarray(edges, np.float64))
    lo, hi = d[:-1], d[1:]
    same = lo * hi >= 0
    span = np.abs(lo) + np.abs(hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(span > 0, (lo**2 + hi**2) / (2 * span), 0.0)
    area = np.where(same, 0.5 * span, crossing) * w
    inner = slice(1, -1) if overflow else slice(None)
    value, bound = float(area.sum()), float(np.sum(w * (pa[inner] + pb[inner])) / 2)
    if overflow and tails is not None:
        ta, tb = tails
        for side in (0, -1):
            value += _tail(pa[side], pb[side], ta[side, 0], tb[side, 0])
            bound += pa[side] * ta[side, 1] + pb[side] * tb[side, 1]
    return float(value), float(bound)


def _tail(p: float, q: float, dp: float, dq: float) -> float:
    """Integral of |F_a - F_b| past an edge, where shares ``p`` and ``q`` lie as point
    masses at distances ``dp`` and ``dq`` from it: |p - q| until the nearer mass, then
    the farther one's share until it."""
    dp, dq = (dp if p > 0 else 0.0), (dq if q > 0 else 0.0)
    return abs(p - q) * min(dp, dq) + (p if dp > dq else q) * abs(dp - dq)


def binned_ks(a: np.ndarray, b: np.ndarray, *, overflow: bool) -> tuple[float, float]:
    """(D, its bound) of two histograms: max |F_a - F_b| over the edges.  D of the events
    is at least this and at most this plus the bound, the largest share of either sample
    in one bin (inside a bin each CDF rises by at most its share)."""
    d, pa, pb = _cdf_differences(a, b, overflow)
    return float(np.max(np.abs(d))), float(max(pa.max(), pb.max()))


def ks_p_value(d: float, n: int, m: int) -> float:
    """The asymptotic two-sample KS p-value of ``D = d`` for samples of ``n`` and ``m``."""
    from scipy.stats import kstwobign

    return float(kstwobign.sf(d * math.sqrt(n * m / (n + m))))


# -- 1-D distances ----------------------------------------------------------------------
def wasserstein1(x: np.ndarray, y: np.ndarray) -> float:
    """Wasserstein-1 (earth mover's) distance of two 1-D samples, in their units."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(np.asarray(x, np.float64), np.asarray(y, np.float64)))


def ks_statistic(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic D = sup |F_x - F_y| and its asymptotic
    p-value."""
    xs = np.sort(np.asarray(x, np.float64))
    ys = np.sort(np.asarray(y, np.float64))
    n, m = len(xs), len(ys)
    if n == 0 or m == 0:
        raise MetricError("KS needs two non-empty samples")
    grid = np.concatenate([xs, ys])
    d = np.max(
        np.abs(np.searchsorted(xs, grid, side="right") / n - np.searchsorted(ys, grid, "right") / m)
    )
    return float(d), ks_p_value(float(d), n, m)


# -- Fréchet distance -------------------------------------------------------------------
def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) of two Gaussians.

    Tr (S1 S2)^(1/2) is computed as the sum of square roots of the eigenvalues of the
    symmetric S1^(1/2) S2 S1^(1/2) (same spectrum), which stays real and stable where
    ``scipy.linalg.sqrtm`` returns complex noise.  Eigen-decompositions run in torch on one
    thread (numpy's threaded OpenBLAS was 30x slower for 64 x 64 on a 2-core host).
    """
    with _one_cpu_thread("cpu") as torch:
        mu1 = torch.as_tensor(np.atleast_1d(mu1), dtype=torch.float64)
        mu2 = torch.as_tensor(np.atleast_1d(mu2), dtype=torch.float64)
        s1 = torch.as_tensor(np.atleast_2d(sigma1), dtype=torch.float64)
        s2 = torch.as_tensor(np.atleast_2d(sigma2), dtype=torch.float64)
        w, v = torch.linalg.eigh(0.5 * (s1 + s1.T))
        r1 = (v * w.clamp(min=0).sqrt()) @ v.T
        m = r1 @ s2 @ r1
        tr_covmean = torch.linalg.eigvalsh(0.5 * (m + m.T)).clamp(min=0).sqrt().sum()
        diff = mu1 - mu2
        return float(diff @ diff + s1.trace() + s2.trace() - 2 * tr_covmean)


def _moments(t) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (ddof 1, as ``np.cov``) of an (n, d) float64 torch tensor."""
    mu = t.mean(0)
    c = t - mu
    cov = (c.T @ c) / (len(t) - 1)
    return mu.cpu().numpy(), cov.cpu().numpy()


def normalise_by_reference(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide each feature by the reference's max |x| (JetNet's ``normalise=True``)."""
    maxes = np.max(np.abs(x), axis=0)
    maxes[maxes == 0] = 1.0
    return x / maxes, y / maxes


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """``y = a + b x`` with ``a, b >= 0`` by ``scipy.optimize.curve_fit`` with those bounds
    (its trust-region solver from ``p0 = (1, 1)``), JetNet's fit; returns ``(a, b, standard
    error of a)``, the error ``inf`` where the fit has no covariance (fewer than 3 points)."""
    import warnings

    from scipy.optimize import OptimizeWarning, curve_fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        params, cov = curve_fit(
            lambda t, a, b: a + b * t, x, y, bounds=([0.0, 0.0], [np.inf, np.inf])
        )
    var = float(cov[0, 0])
    return float(params[0]), float(params[1]), math.sqrt(var) if math.isfinite(var) else math.inf


def fpd(
    reference: np.ndarray,
    generated: np.ndarray,
    *,
    min_samples: int = 10_000,
    max_samples: int = 50_000,
    num_batches: int = 20,
    num_points: int = 10,
    normalise: bool = True,
    seed: int = 42,
    device: str = "cpu",
) -> tuple[float, float, dict]:
    """Fréchet physics distance (value, error, details); see the module docstring.

    Defaults are the CaloChallenge's call (``min_samples=10000``; JetNet defaults for the
    rest).  As in JetNet, batch sizes are ``int32(1 / linspace(1/min_samples,
    1/max_samples, num_points))`` and every batch is drawn with replacement from the whole
    sample, reference then generated from one ``default_rng(seed)``, also when a sample is
    smaller than ``max_samples`` (JetNet warns then; ``details["n_reference"]`` and
    ``["n_generated"]`` say so here), so the numbers are JetNet's on the same features.
    The one difference is the Fréchet distance's matrix square root
    (:func:`frechet_distance`), equal to ``sqrtm``'s where that is accurate.
    """
    x = np.asarray(reference, np.float64)
    y = np.asarray(generated, np.float64)
    _check_pair(x, y, "fpd")
    if len(x) < 2 or len(y) < 2 or not 2 <= min_samples <= max_samples:
        raise MetricError("fpd needs two events per sample and 2 <= min_samples <= max_samples")
    if normalise:
        x, y = normalise_by_reference(x, y)
    sizes = (1 / np.linspace(1.0 / min_samples, 1.0 / max_samples, int(num_points))).astype(
        np.int32
    )
    rng = np.random.default_rng(seed)
    means = []
    # moments with torch: numpy's OpenBLAS threads made this 8x slower on a 2-core host
    with _one_cpu_thread(device) as torch:
        tx = torch.as_tensor(x, dtype=torch.float64, device=device)
        ty = torch.as_tensor(y, dtype=torch.float64, device=device)
        for size in sizes:
            vals = []
            for _ in range(int(num_batches)):
                ia = torch.as_tensor(rng.choice(len(x), size=size), device=device)
                ib = torch.as_tensor(rng.choice(len(y), size=size), device=device)
                vals.append(frechet_distance(*_moments(tx[ia]), *_moments(ty[ib])))
            means.append(float(np.mean(vals)))
    value, slope, err = _line_fit(1 / sizes, np.asarray(means))
    return (
        value,
        err,
        {
            "batch_sizes": sizes.tolist(),
            "mean_fd": means,
            "slope": slope,
            "normalise": normalise,
            "n_reference": len(x),
            "n_generated": len(y),
        },
    )


# -- kernel distances -------------------------------------------------------------------
@contextlib.contextmanager
def _one_cpu_thread(device: str):
    """Kernel blocks are small: on the CPU, BLAS/OpenMP threads only spin against each
    other (10-20x slower measured on a busy 2-core host), so use one thread there."""
    import torch

    threads = torch.get_num_threads()
    change = device == "cpu" and threads != 1
    if change:
        torch.set_num_threads(1)
    try:
        yield torch
    finally:
        if change:
            torch.set_num_threads(threads)


def _kernel_sum(
    a: np.ndarray, b: np.ndarray, kernel, *, exclude_diagonal: bool, device: str = "cpu"
) -> float:
    """Sum of kernel(a_i, b_j) over all pairs (``exclude_diagonal``: i != j, for a is b).

    Through explicit feature sums where the kernel allows (a polynomial kernel in few
    dimensions), else in row blocks of bounded memory with torch (float64) on ``device``:
    ~1 MB blocks on the CPU, which stay in cache.
    """
    fast = getattr(kernel, "pair_sum", None)
    total = fast(a, b) if fast is not None else None
    if total is None:
        with _one_cpu_thread(device) as torch:
            ta = torch.as_tensor(a, dtype=torch.float64, device=device)
            tb = torch.as_tensor(b, dtype=torch.float64, device=device)
            budget = 131_072 if device == "cpu" else 1 << 24
            block = max(1, budget // max(len(b), 1))
            acc = torch.zeros((), dtype=torch.float64, device=device)
            for start in range(0, len(a), block):
                acc += kernel.block(ta[start : start + block], tb).sum()
            total = float(acc)
    if exclude_diagonal:
        total -= float(kernel.diagonal(a).sum())
    return total


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, kernel, *, device: str = "cpu") -> float:
    """Unbiased quadratic-time MMD^2 estimate (diagonals of Kxx and Kyy excluded)."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise MetricError("MMD needs at least 2 events per sample")
    kxx = _kernel_sum(x, x, kernel, exclude_diagonal=True, device=device) / (m * (m - 1))
    kyy = _kernel_sum(y, y, kernel, exclude_diagonal=True, device=device) / (n * (n - 1))
    kxy = _kernel_sum(x, y, kernel, exclude_diagonal=False, device=device) / (m * n)
    return kxx + kyy - 2 * kxy


class polynomial_kernel:
    """k(a, b) = (gamma a.b + coef0)^degree, gamma = 1/d by default (JetNet/KID).

    ``pair_sum``: for few dimensions the sum over all pairs is computed exactly without
    the n x m matrix, from (g a.b + c)^p = sum_k C(p,k) c^(p-k) g^k (a.b)^k and
    sum_ij (a_i.b_j)^k = <sum_i a_i^(x)k, sum_j b_j^(x)k> (tensor powers, d^k entries).
    """

    def __init__(self, degree: int = 4, gamma: float | None = None, coef0: float = 1.0):
        self.degree, self.gamma, self.coef0 = int(degree), gamma, float(coef0)

    def _g(self, d: int) -> float:
        return 1.0 / d if self.gamma is None else float(self.gamma)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The kernel matrix (numpy; for tests and small inputs)."""
        return (a @ b.T * self._g(a.shape[1]) + self.coef0) ** self.degree

    def block(self, a, b):
        """The kernel matrix of torch tensors, in place."""
        k = a @ b.T
        k.mul_(self._g(a.shape[1])).add_(self.coef0)
        if self.degree == 4:
            return k.square_().square_()
        return k.pow_(self.degree)

    def diagonal(self, a: np.ndarray) -> np.ndarray:
        return (self._g(a.shape[1]) * np.einsum("ij,ij->i", a, a) + self.coef0) ** self.degree

    def pair_sum(self, a: np.ndarray, b: np.ndarray) -> float | None:
        d, p = a.shape[1], self.degree
        if d**p > 256:
            return None
        g, c = self._g(d), self.coef0
        total = c**p * len(a) * len(b)
        ta, tb = np.ones(len(a))[:, None], np.ones(len(b))[:, None]
        for k in range(1, p + 1):
            ta = (ta[:, :, None] * a[:, None, :]).reshape(len(a), -1)
            tb = (tb[:, :, None] * b[:, None, :]).reshape(len(b), -1)
            total += math.comb(p, k) * c ** (p - k) * g**k * float(ta.sum(0) @ tb.sum(0))
        return total


class gaussian_kernel:
    """k(a, b) = exp(-|a - b|^2 / (2 bandwidth^2))."""

    def __init__(self, bandwidth: float):
        self.bandwidth = float(bandwidth)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        return np.exp(-np.clip(d2, 0, None) / (2 * self.bandwidth**2))

    def block(self, a, b):
        k = a @ b.T
        k.mul_(-2.0).add_((a * a).sum(1)[:, None]).add_((b * b).sum(1)[None, :])
        return k.clamp_(min=0).mul_(-1.0 / (2 * self.bandwidth**2)).exp_()

    def diagonal(self, a: np.ndarray) -> np.ndarray:
        return np.ones(len(a))


def _batched_mmd(
    x, y, kernel, num_batches, batch_size, seed, device="cpu"
) -> tuple[float, float, list]:
    vals = []
    for i in range(int(num_batches)):
        rng = np.random.default_rng(seed + i * 1000)
        a = x[rng.choice(len(x), size=batch_size)]
        b = y[rng.choice(len(y), size=batch_size)]
        vals.append(mmd2_unbiased(a, b, kernel, device=device))
    lo, hi = np.percentile(vals, [16.275, 83.725])
    return float(np.median(vals)), float((hi - lo) / 2), vals


def kpd(
    reference: np.ndarray,
    generated: np.ndarray,
    *,
    num_batches: int = 10,
    batch_size: int = 10_000,
    degree: int = 4,
    normalise: bool = True,
    seed: int = 42,
    device: str = "cpu",
) -> tuple[float, float, dict]:
    """Kernel physics distance (median, error, details); see the module docstring.

    Defaults are the CaloChallenge's call (``batch_size=10000``; JetNet defaults
    otherwise: 10 batches, degree 4, gamma = 1/d, coef0 = 1, seed 42).  The batch size is
    capped to the smaller sample's size.
    """
    x = np.asarray(reference, np.float64)
    y = np.asarray(generated, np.float64)
    _check_pair(x, y, "kpd")
    if normalise:
        x, y = normalise_by_reference(x, y)
    size = min(int(batch_size), len(x), len(y))
    med, err, vals = _batched_mmd(x, y, polynomial_kernel(degree), num_batches, size, seed, device)
    return med, err, {"batch_size": size, "values": vals, "degree": degree}


def mmd(
    reference: np.ndarray,
    generated: np.ndarray,
    *,
    num_batches: int = 10,
    batch_size: int = 5_000,
    bandwidth: float | None = None,
    seed: int = 42,
    device: str = "cpu",
) -> tuple[float, float, dict]:
    """Gaussian-kernel MMD^2 (median, error, details) on features standardised by the
    reference; ``bandwidth`` defaults to the median pairwise distance of up to 2000
    reference events (the median heuristic)."""
    x = np.asarray(reference, np.float64)
    y = np.asarray(generated, np.float64)
    _check_pair(x, y, "mmd")
    mu, sd = x.mean(0), x.std(0)
    sd[sd == 0] = 1.0
    x, y = (x - mu) / sd, (y - mu) / sd
    if bandwidth is None:
        sub = x[np.random.default_rng(seed).choice(len(x), size=min(len(x), 2000), replace=False)]
        with _one_cpu_thread(device) as torch:
            t = torch.as_tensor(sub, dtype=torch.float64, device=device)
            d2 = torch.cdist(t, t).square().cpu().numpy()
        iu = np.triu_indices(len(sub), 1)
        bandwidth = float(np.sqrt(np.median(d2[iu]))) or 1.0
    size = min(int(batch_size), len(x), len(y))
    med, err, vals = _batched_mmd(x, y, gaussian_kernel(bandwidth), num_batches, size, seed, device)
    return med, err, {"batch_size": size, "bandwidth": bandwidth, "values": vals}


def _check_pair(x: np.ndarray, y: np.ndarray, what: str) -> None:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise MetricError(f"{what}: need two (n, d) arrays of equal d, got {x.shape}, {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise MetricError(f"{what}: NaN or Inf in the features")
