"""The cosmo observable set and metrics in the validation harness: what they bind to,
where the box comes from, and that they pass a sample of the same process and flag one
with 20% more power."""

from __future__ import annotations

import numpy as np
import pytest

import surrogate
from surrogate import Events, EventSpec, Field
from surrogate.metrics import MetricError, Sample, evaluate, metric, metrics_for
from surrogate.metrics import observable_sets_for as sets_for
from surrogate_cosmo.fields import gaussian_field, lognormal_field
from surrogate_cosmo.metrics import FieldGeometry, box_from, field_geometry

BOX = 128.0
COSMO = ("cosmo.power_spectrum", "cosmo.pdf", "cosmo.peaks", "cosmo.bispectrum")


def power(k: np.ndarray) -> np.ndarray:
    return 2e4 * k / (1 + (k / 0.05) ** 2.5) * np.exp(-((k / 0.8) ** 2))


def spec(shape: tuple[int, ...]) -> EventSpec:
    return EventSpec((Field("delta", shape, low=-1.0),))


def events(n: int, shape: tuple[int, ...], seed: int, scale: float = 1.0) -> Events:
    """Lognormal fields (1 + delta > 0) with ``scale`` times the power."""
    rng = np.random.default_rng(seed)
    p = lambda k: scale * power(k)  # noqa: E731
    fields = np.stack([lognormal_field(shape, BOX, p, rng) for _ in range(n)])
    return Events({"delta": fields.astype(np.float32)}, spec=spec(shape))


CTX = {"simulator": None, "simulator_options": {"box": BOX}}


@pytest.fixture(scope="module")
def cubes():
    shape = (32,) * 3
    return events(24, shape, 1), events(24, shape, 2), events(24, shape, 3, scale=1.2)


@pytest.fixture(scope="module")
def maps():
    shape = (64, 64)
    return events(24, shape, 4), events(24, shape, 5), events(24, shape, 6, scale=1.2)


def test_the_field_set_replaces_the_generic_one_on_delta_fields(cubes):
    a = cubes[0]
    sets = sets_for(a.spec, CTX)
    assert [s.name for s in sets] == ["cosmo.fields"]
    obs = sets[0].observables(a)
    assert {"log10_P[00]", "log_density.std", "empty_fraction", "peaks[nu>5]"} <= set(obs)
    assert not any(name.startswith("V0") for name in obs)  # MFs are for maps
    assert obs["log10_P[03]"].group == "log10_P"
    assert sets[0].observables(a) is not obs and sets[0].observables(a) == obs  # cached
    assert sets[0].features(a)["default"].shape == (24, len(obs))
    toy = surrogate.simulator("toy.gmm2d").sample(5, seed=0)
    assert "cosmo.fields" not in [s.name for s in sets_for(toy.spec, {})]
    assert not {m.name for m in metrics_for(toy.spec, {})} & set(COSMO)


def test_maps_get_minkowski_functionals_and_cubes_do_not(maps, cubes):
    obs = sets_for(maps[0].spec, CTX)[0].observables(maps[0])
    assert {"V0[nu=+0]", "V1[nu=+1]", "V2[nu=+2]"} <= set(obs)
    assert metric("cosmo.minkowski").bind(cubes[0].spec, CTX) is None
    assert metric("cosmo.minkowski").bind(maps[0].spec, CTX) is not None
    assert {m.name for m in metrics_for(maps[0].spec, CTX)} >= {*COSMO, "cosmo.minkowski"}


def test_the_box_comes_from_the_run_then_the_option_else_k_is_in_k_f():
    s = spec((16, 16, 16))
    assert field_geometry(s, CTX) == FieldGeometry(3, 16, BOX)
    assert field_geometry(s, {"simulator": "cosmo.pm", "simulator_options": {}}).box == 256.0
    assert box_from({}, 64.0) == 64.0
    geo = field_geometry(s, {})
    assert geo.box is None and geo.k_units == "k_F" and geo.length == pytest.approx(2 * np.pi)
    assert field_geometry(spec((16, 12)), CTX) is None  # not square
    assert field_geometry(spec((15, 15)), CTX) is None  # odd: no Nyquist plane
    bound = metric("cosmo.power_spectrum", box=50.0).bind(s, {})
    assert bound.geometry.box == 50.0


def test_power_spectrum_metric_passes_the_same_process_and_flags_more_power(cubes):
    a, b, more = cubes
    m = metric("cosmo.power_spectrum").bind(a.spec, CTX)
    ref, same, hot = (Sample(e) for e in (a, b, more))
    assert m.compute(ref, ref).value == 0.0
    r = m.compute(ref, same)
    ratio = np.asarray(r.details["ratio_minus_1_percent"])
    err = np.asarray(r.details["error_percent"])
    assert np.abs(ratio / err).max() < 4.0
    assert r.value < 4 * r.error
    assert r.details["k_max"] <= np.pi * 32 / BOX / 2 and r.details["k_units"] == "h/Mpc"
    flagged = m.compute(ref, Sample(more))
    assert flagged.value > 12.0  # ~ +20% at large scales (a lognormal's P is the input)
    excess = np.asarray(flagged.details["ratio_minus_1_percent"])
    assert np.mean(excess / np.asarray(flagged.details["error_percent"])) > 4.0
    assert np.median(excess) == pytest.approx(20, abs=6)
    assert hot.events is more


@pytest.mark.parametrize("name", ["cosmo.pdf", "cosmo.peaks", "cosmo.bispectrum"])
def test_pull_metrics_pass_the_same_process(cubes, name):
    a, b, _ = cubes
    m = metric(name).bind(a.spec, CTX)
    assert m.compute(Sample(a), Sample(a)).value == 0.0
    r = m.compute(Sample(a), Sample(b))
    assert r.details["max_significance"] < 4.0
    assert r.value < 1.5  # of order sqrt(2/24) x the largest of a few normal deviates
    assert r.details["bins_beyond_one_sigma"] <= 1
    assert set(r.per_observable) == set(r.details["bins"])


def test_pdf_metric_flags_more_power(cubes):
    a, _, more = cubes
    r = metric("cosmo.pdf").bind(a.spec, CTX).compute(Sample(a), Sample(more))
    assert r.details["max_significance"] > 5.0
    assert r.value > 1.0 and r.details["bins_beyond_one_sigma"] >= 3


def test_minkowski_metric_on_maps(maps):
    a, b, _ = maps
    m = metric("cosmo.minkowski").bind(a.spec, CTX)
    r = m.compute(Sample(a), Sample(b))
    assert r.details["max_significance"] < 4.0 and r.value < 1.5
    assert len(r.per_observable) == 3 * 8
    # MFs of the standardised map: a rescaled (same-shape) field changes nothing
    scaled = Events({"delta": 0.5 * a["delta"]}, spec=a.spec)
    assert m.compute(Sample(a), Sample(scaled)).value == pytest.approx(0.0, abs=1e-6)
    logs = metric("cosmo.minkowski", log=True, smoothing=1.0).bind(a.spec, CTX)
    assert logs.compute(Sample(a), Sample(b)).details["max_significance"] < 4.0


def test_evaluate_runs_the_cosmo_and_generic_metrics_on_field_events(maps):
    a, b, _ = maps
    names = {n: {} for n in (*COSMO, "cosmo.minkowski", "wasserstein1")}
    out = evaluate(a, b, names, context=CTX)
    assert set(out) == set(names)
    assert "log10_P[00]" in out["wasserstein1"].per_observable
    assert all(np.isfinite(r.value) for r in out.values())


def test_without_a_box_k_is_in_units_of_the_fundamental_frequency():
    rng = np.random.default_rng(9)
    fields = np.stack([gaussian_field((16, 16), BOX, power, rng) for _ in range(4)])
    ev = Events({"delta": fields}, spec=spec((16, 16)))
    r = metric("cosmo.power_spectrum").bind(ev.spec, {}).compute(Sample(ev), Sample(ev))
    k = np.asarray(r.details["k"])
    assert r.details["k_units"] == "k_F" and np.all((k >= 1) & (k < 8))


def test_metrics_refuse_samples_without_fields_or_scatter(cubes):
    a = cubes[0]
    m = metric("cosmo.pdf").bind(a.spec, CTX)
    with pytest.raises(MetricError, match="density fields"):
        m.compute(Sample.from_arrays(np.zeros((4, 2))), Sample(a))
    with pytest.raises(MetricError, match="reference fields"):
        m.compute(Sample(a[:1]), Sample(a))
