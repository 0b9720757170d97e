"""Correctness of the generic metrics: floors, monotonic growth, closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import linalg

from surrogate.metrics import MetricError, Sample, evaluate, metric
from surrogate.metrics import functional as F
from surrogate.metrics.classifier import auc_error, classifier_test, roc_auc
from surrogate.metrics.isotonic import IsotonicRegression, pav

TINY_CLASSIFIER = {"preset": "small", "hidden": 32, "epochs": 4, "batch_size": 256}


def gauss(n, d=2, shift=0.0, width=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(shift, width, size=(n, d))


# -- separation power -------------------------------------------------------------------
def test_separation_power_definition():
    h = np.array([1.0, 2.0, 3.0])
    assert F.separation_power(h, 2 * h) == 0.0  # normalised to sum 1 first
    assert F.separation_power([1, 0], [0, 1]) == pytest.approx(1.0)
    h1, h2 = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    expected = 0.5 * (0.25**2 / 0.75 + 0.25**2 / 1.25)
    assert F.separation_power(h1, h2) == pytest.approx(expected)


def test_separation_power_fixed_bins_follow_np_histogram():
    x = np.array([0.0, 0.5, 1.0, 1.0, 2.0, -1.0, 3.0])
    edges = np.array([0.0, 1.0, 2.0])
    idx = F.bin_index(x, edges, overflow=False)
    assert F.counts(idx, 2).tolist() == np.histogram(x, edges)[0].tolist()


def test_separation_power_floor_matches_expectation():
    # two samples of one distribution: S ~ (K - 1) / (4 n) per sample pair... E[S] = K/(2n)
    # to first order for equal sizes n (each bin contributes ~ 1/n / 2)
    n, k = 20_000, 50
    vals = [
        F.histogram_separation(gauss(n, 1, seed=s)[:, 0], gauss(n, 1, seed=100 + s)[:, 0], k)
        for s in range(8)
    ]
    expected = (k + 2 - 1) / (2 * n)  # K+2 bins with under/overflow, K+1 degrees of freedom
    assert np.mean(vals) == pytest.approx(expected, rel=0.25)


# -- on one distribution every metric sits at its floor; shifted/widened ones grow -------
PER_OBS = ("separation_power", "wasserstein1", "ks")


@pytest.fixture(scope="module")
def reference():
    return Sample.from_arrays(gauss(20_000, 2, seed=1))


FAST = {"mmd": {"batch_size": 1000}, "kpd": {"batch_size": 5000}}


def _run(name, ref, arr, **opts):
    options = {**FAST.get(name, {}), **opts}
    if name in PER_OBS:
        options.setdefault("bootstrap", 0)
    return evaluate(ref, Sample.from_arrays(arr), {name: options}, seed=3)[name]


@pytest.mark.parametrize("name", [*PER_OBS, "fpd", "kpd", "mmd"])
def test_same_distribution_sits_at_floor(name, reference):
    """A pair of samples of one distribution gives what other such pairs give (the floor),
    and that floor is small next to the effect of a 0.05 sigma shift."""
    floors = [_run(name, reference, gauss(20_000, 2, seed=s)).value for s in (10, 11, 12, 13)]
    value = _run(name, reference, gauss(20_000, 2, seed=2)).value
    mean, spread = np.mean(floors), np.std(floors, ddof=1)
    assert abs(value - mean) < 4 * spread + 1e-12, (value, floors)
    shifted = _run(name, reference, gauss(20_000, 2, seed=2, shift=0.05)).value
    assert shifted > max(floors), (shifted, floors)


def test_per_observable_floors_match_expectations(reference):
    n = 20_000
    res = evaluate(reference, Sample.from_arrays(gauss(n, 2, seed=2)), ["separation_power", "ks"])
    # separation power of two samples of n: E[S] ~ (bins - 1) / (2 n), 50 bins + 2 overflow
    assert res["separation_power"].value == pytest.approx(51 / (2 * n), rel=0.5)
    # KS: D ~ sqrt(2/n) times a O(1) factor; p-values not small
    assert res["ks"].value < 2.0 * math.sqrt(2 / n)
    for obs in res["ks"].details["observables"].values():
        assert obs["p_value"] > 1e-3


@pytest.mark.parametrize("name", [*PER_OBS, "fpd", "kpd", "mmd"])
@pytest.mark.parametrize("kind", ["shift", "width"])
def test_grows_monotonically(name, kind, reference):
    steps = [0.0, 0.05, 0.2, 0.6] if kind == "shift" else [1.0, 1.05, 1.2, 1.6]
    values = []
    for s in steps:
        if kind == "shift":
            arr = gauss(20_000, 2, seed=2, shift=s)
        else:
            arr = gauss(20_000, 2, seed=2, width=s)
        values.append(_run(name, reference, arr).value)
    assert all(b > a for a, b in itertools.pairwise(values)), values


# -- FPD -------------------------------------------------------------------------------
def _closed_form(mu1, s1, mu2, s2):
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def test_frechet_distance_matches_sqrtm_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    s1, s2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    assert F.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_closed_form(mu1, s1, mu2, s2))
    assert F.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_fpd_identical_gaussians_near_their_sample_floor():
    """Batches drawn with replacement from 40k events converge to the samples' own
    moments, so the intercept is near the Fréchet distance of those (3.5e-4 here), not 0:
    the floor of JetNet's recipe at this sample size."""
    x, y = gauss(40_000, 3, seed=1), gauss(40_000, 3, seed=2)
    value, err, details = F.fpd(x, y, normalise=False)
    own = _closed_form(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert 0 <= value < 1e-3 and value == pytest.approx(own, abs=3 * err)
    assert details["batch_sizes"][0] == 10_000  # CaloChallenge min_samples


def test_fpd_matches_closed_form_for_different_gaussians():
    rng = np.random.default_rng(5)
    mu1, mu2 = np.zeros(3), np.array([0.3, -0.2, 0.1])
    s1 = np.diag([1.0, 2.0, 0.5])
    a = rng.normal(size=(3, 3)) * 0.3
    s2 = s1 + a @ a.T
    x = rng.multivariate_normal(mu1, s1, size=60_000)
    y = rng.multivariate_normal(mu2, s2, size=60_000)
    value, err, _ = F.fpd(x, y, normalise=False)
    exact = _closed_form(mu1, s1, mu2, s2)
    assert value == pytest.approx(exact, abs=max(4 * err, 0.02 * exact))


def test_line_fit_is_jetnets_bounded_curve_fit():
    x = np.array([1e-4, 5e-5, 3e-5, 2e-5])
    a, b, err = F._line_fit(x, 0.3 + 900 * x)
    assert a == pytest.approx(0.3, rel=1e-6) and b == pytest.approx(900, rel=1e-6)
    assert err < 1e-6
    a, b, _ = F._line_fit(x, -0.1 + 900 * x)  # the intercept is held at its bound, 0
    assert a == pytest.approx(0.0, abs=1e-6) and b > 0
    assert F._line_fit(x[:2], x[:2])[2] == math.inf  # two points leave no error


def test_fpd_is_jetnets_recipe_on_small_samples():
    """Batch sizes 1 / linspace(1/min, 1/max) truncated, drawn with replacement up to
    max_samples even from 300 events (not capped at the sample), reference then generated
    from one generator: the same numbers as these steps written out with numpy, scipy's
    sqrtm and curve_fit."""
    from scipy.optimize import curve_fit

    x, y = gauss(300, 2, seed=1), gauss(200, 2, seed=2, shift=0.3)
    value, err, details = F.fpd(x, y, num_batches=2, num_points=3, normalise=False, seed=7)
    # 1/1e-4, 1/6e-5, 1/2e-5 truncated: 1/2e-5 is 49999.999... in floating point
    assert details["batch_sizes"] == [10_000, 16_666, 49_999]
    assert (details["n_reference"], details["n_generated"]) == (300, 200)
    rng = np.random.default_rng(7)
    means = []
    for size in (10_000, 16_666, 49_999):
        fds = []
        for _ in range(2):
            a, b = x[rng.choice(300, size=size)], y[rng.choice(200, size=size)]
            fds.append(
                _closed_form(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
            )
        means.append(np.mean(fds))
    np.testing.assert_allclose(details["mean_fd"], means, rtol=1e-9)
    inv = 1 / np.array([10_000, 16_666, 49_999])
    p, cov = curve_fit(lambda t, i, s: i + s * t, inv, means, bounds=([0, 0], [np.inf, np.inf]))
    assert value == pytest.approx(p[0], rel=1e-9) and err == pytest.approx(np.sqrt(cov[0, 0]))


# -- KPD / MMD --------------------------------------------------------------------------
def test_kernel_sums_equal_kernel_matrix_sums():
    rng = np.random.default_rng(0)
    k = F.polynomial_kernel(4)
    for d in (3, 5):  # explicit feature sums (d^4 <= 256), then torch blocks
        x, y = rng.normal(size=(500, d)), rng.normal(size=(400, d))
        assert F._kernel_sum(x, y, k, exclude_diagonal=False) == pytest.approx(
            float(k(x, y).sum()), rel=1e-12
        )
        kxx = k(x, x)
        assert F._kernel_sum(x, x, k, exclude_diagonal=True) == pytest.approx(
            float(kxx.sum() - np.trace(kxx)), rel=1e-12
        )
    g = F.gaussian_kernel(1.3)
    x, y = rng.normal(size=(300, 4)), rng.normal(size=(200, 4))
    assert F._kernel_sum(x, y, g, exclude_diagonal=False) == pytest.approx(
        float(g(x, y).sum()), rel=1e-12
    )
    gxx = g(x, x)
    assert F._kernel_sum(x, x, g, exclude_diagonal=True) == pytest.approx(
        float(gxx.sum() - np.trace(gxx)), rel=1e-12
    )


def test_kpd_is_unbiased_mmd_with_jetnet_kernel():
    x, y = gauss(300, 3, seed=1), gauss(300, 3, seed=2, shift=0.5)
    # one batch of the full samples, drawn with replacement exactly as kpd does
    value, _, details = F.kpd(x, y, num_batches=1, batch_size=300, normalise=False, seed=7)
    rng = np.random.default_rng(7)
    a, b = x[rng.choice(300, 300)], y[rng.choice(300, 300)]
    kxx = (a @ a.T / 3 + 1) ** 4
    kyy = (b @ b.T / 3 + 1) ** 4
    kxy = (a @ b.T / 3 + 1) ** 4
    m = 300
    expected = (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * kxy.mean()
    )
    assert value == pytest.approx(expected, rel=1e-9)
    assert details["degree"] == 4


# -- classifier -------------------------------------------------------------------------
def test_auc_with_ties_and_error():
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.4])
    # pairs (pos, neg): count 1 for pos > neg, 0.5 for ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    manual = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    assert roc_auc(labels, scores) == pytest.approx(manual)
    assert 0 < auc_error(0.7, 1000, 1000) < 0.02


def test_isotonic_pav():
    assert pav(np.array([1.0, 3.0, 2.0, 4.0]), np.ones(4)).tolist() == [1, 2.5, 2.5, 4]
    iso = IsotonicRegression(y_min=0.1, y_max=0.9).fit([0, 1, 1, 2, 3], [0, 1, 0, 1, 1])
    pred = iso.predict([-1, 0, 1, 1.5, 2, 5])
    assert np.all(np.diff(pred) >= 0)
    assert pred[0] == pytest.approx(0.1) and pred[-1] == pytest.approx(0.9)
    assert pred[2] == pytest.approx(0.5)  # the tied x=1 pooled to their mean


def test_classifier_auc_half_on_identical_and_one_on_separable():
    x = gauss(3000, 2, seed=1)
    same = classifier_test(x, gauss(3000, 2, seed=2), seed=0, **_tiny())
    assert abs(same["auc"] - 0.5) < 0.05
    assert abs(same["jsd"]) < 0.05
    far = classifier_test(x, gauss(3000, 2, seed=2, shift=6.0), seed=0, **_tiny())
    assert far["auc"] > 0.99
    assert far["jsd"] > 0.9


def _tiny():
    return {"hidden": 32, "layers": 1, "epochs": 4, "batch_size": 256, "lr": 1e-3}


def test_classifier_metric_rows_and_settings(reference):
    m = metric("classifier", **TINY_CLASSIFIER)
    assert m.row_names() == ["classifier.auc", "classifier.jsd"]
    assert m.settings()["hidden"] == 32 and m.settings()["lr"] == 1e-3
    assert metric("classifier").settings() == {
        "hidden": 2048,
        "layers": 2,
        "epochs": 50,
        "batch_size": 1000,
        "lr": 2e-4,
        "dropout": 0.0,
    }
    with pytest.raises(MetricError, match="unknown option 'epoch'"):
        metric("classifier", epoch=3)


def test_classifier_is_reproducible():
    x, y = gauss(1000, 2, seed=1), gauss(1000, 2, seed=2, shift=0.3)
    a = classifier_test(x, y, seed=4, **_tiny())
    b = classifier_test(x, y, seed=4, **_tiny())
    assert a["auc"] == b["auc"] and a["jsd"] == b["jsd"]


@pytest.mark.gpu
def test_classifier_on_cuda_matches_cpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    x, y = gauss(3000, 2, seed=1), gauss(3000, 2, seed=2, shift=0.5)
    cpu = classifier_test(x, y, seed=0, device="cpu", **_tiny())
    gpu = classifier_test(x, y, seed=0, device="cuda", **_tiny())
    assert gpu["device"].startswith("cuda")
    assert gpu["auc"] == pytest.approx(cpu["auc"], abs=0.03)
