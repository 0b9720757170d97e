"""The calo observable set and metrics in the validation harness; the preprocessing chain."""

from __future__ import annotations

import numpy as np
import pytest

import surrogate
from surrogate import Events, EventSpec, Field
from surrogate.metrics import evaluate, metric, metrics_for, observable_sets_for
from surrogate.preprocessing import Preprocessing
from surrogate.registry import get_registry
from surrogate_calo import get_geometry
from surrogate_calo.io import challenge_spec
from surrogate_calo.metrics import SPLITS, features_of, geometry_for
from surrogate_calo.preprocessing import preprocessing_chain


@pytest.fixture(scope="module")
def samples():
    sim = surrogate.simulator("calo.gflash", geometry="test")
    return sim, sim.sample(300, seed=1), sim.sample(300, seed=2)


def test_geometry_from_options_or_voxel_count():
    spec = challenge_spec("1-photons")
    assert geometry_for(spec, {}).name == "1-photons"
    assert geometry_for(spec, {"simulator_options": {"geometry": "1-photons"}}).name == "1-photons"
    # options naming a geometry of another size are ignored in favour of the data
    assert geometry_for(spec, {"simulator_options": {"geometry": "2"}}).name == "1-photons"
    assert geometry_for(EventSpec((Field("x", (2,)),)), {}) is None


def test_calo_set_replaces_the_generic_one(samples):
    sim, a, _ = samples
    ctx = {"simulator": "calo.gflash", "simulator_options": sim.options}
    sets = observable_sets_for(a.spec, ctx)
    assert [s.name for s in sets] == ["calo.observables"]
    # an observable set, not a metric
    assert "calo.observables" not in get_registry().names("metric")
    obs = sets[0].observables(a)
    assert {"E_tot/E_inc", "E_layer_0", "EC_eta_5", "W_r_2", "sparsity_1"} <= set(obs)
    assert obs["E_layer_3"].group == "E_layer"
    np.testing.assert_array_equal(obs["E_tot/E_inc"].bins, np.linspace(0.5, 1.5, 101))
    feats = sets[0].features(a)
    assert feats["default"].shape == (300, 1 + 6 + 4 * 6 + 1 + 3 * 6)
    names = {m.name for m in metrics_for(a.spec, ctx)}
    assert {"calo.separation_power", "calo.cls_low", "calo.cls_high"} <= names
    toy = surrogate.simulator("toy.gmm2d").sample(5, seed=0)
    assert "calo.separation_power" not in {m.name for m in metrics_for(toy.spec, {})}


def test_features_are_cached_for_the_same_events(samples):
    _, a, b = samples
    geo = get_geometry("test")
    assert features_of(a, geo) is features_of(a, geo)
    assert features_of(b, geo) is not features_of(a, geo)


def test_features_of_a_new_array_where_a_freed_one_was_are_its_own():
    """CPython gives new arrays the addresses (``id``) of freed ones: the cache must not
    hand new showers the features of freed showers of the same shape.  Samples generated
    at the reference's incident energies share that array, so only the showers' address
    has to come back: new views of other showers are made until one takes it."""
    geo = get_geometry("test")
    rng = np.random.default_rng(0)
    energies = rng.uniform(1e3, 1e5, 20)
    new_showers = rng.exponential(5.0, (20, geo.n_voxels))
    old = Events(
        {"showers": rng.exponential(1.0, (20, geo.n_voxels))}, {"incident_energies": energies}
    )
    features_of(old, geo)
    address = id(old["showers"])
    del old
    views = []
    while len(views) < 100_000 and id(views[-1] if views else None) != address:
        views.append(new_showers.view())
    if id(views[-1]) != address:
        pytest.skip("this interpreter did not reuse the freed array's address")
    new = Events({"showers": views[-1]}, {"incident_energies": energies})
    np.testing.assert_allclose(features_of(new, geo).e_tot, new_showers.sum(axis=1))


def test_separation_power_and_fpd_on_showers(samples):
    sim, a, b = samples
    ctx = {"simulator": "calo.gflash", "simulator_options": sim.options}
    res = evaluate(a, b, {"calo.separation_power": {}, "fpd": {"num_batches": 4}}, context=ctx)
    sp = res["calo.separation_power"]
    assert 0 < sp.value < 0.1 and set(sp.groups) >= {"E_layer", "EC_eta", "voxel", "EC_r"}
    # the summary and the largest are over the hist-chi histograms; EC_r, W_r, sparsity apart
    extra = ("EC_r", "W_r", "sparsity")
    hist_chi = {k: v for k, v in sp.per_observable.items() if not k.startswith(extra)}
    assert sp.details["largest"]["value"] == max(hist_chi.values())
    assert sp.value == max(v for g, v in sp.groups.items() if g not in extra)
    assert sp.details["extra"]["groups"] == list(extra)
    assert sp.details["failed"] == [] and sp.details["skipped"] == []
    assert res["fpd"].value >= 0
    same = evaluate(a, a, ["calo.separation_power"], context=ctx)["calo.separation_power"]
    assert same.value == 0.0


def test_separation_power_tells_different_energies_apart(samples):
    sim, a, _ = samples
    other = sim.sample(300, {"incident_energies": 5e4}, seed=3)
    ctx = {"simulator_options": sim.options}
    far = evaluate(a, other, ["calo.separation_power"], context=ctx)["calo.separation_power"]
    assert far.value > 0.2


def test_classifiers_run_with_the_challenge_inputs(samples):
    sim, a, b = samples
    ctx = {"simulator_options": sim.options}
    tiny = {"hidden": 16, "epochs": 2, "batch_size": 100}
    res = evaluate(
        a,
        b,
        {"calo.cls_low": tiny, "calo.cls_low_normed": tiny, "calo.cls_high": tiny},
        context=ctx,
    )
    for name in ("calo.cls_low", "calo.cls_low_normed", "calo.cls_high"):
        assert 0.3 < res[f"{name}.auc"].value < 0.7
    assert res["calo.cls_low.auc"].details["n_features"] == 97
    assert res["calo.cls_low_normed.auc"].details["n_features"] == 1 + 96 + 6
    assert res["calo.cls_low.auc"].details["settings"]["hidden"] == 16


def test_classifier_defaults_are_the_challenge_recipe():
    m = metric("calo.cls_low")
    s = m.settings()
    assert (s["hidden"], s["layers"], s["epochs"], s["batch_size"], s["lr"]) == (
        2048,
        2,
        50,
        1000,
        2e-4,
    )
    assert m.options["standardize"] is False and m.options["dtype"] == "float64"
    bound = m.bind(challenge_spec("1-photons"), {})
    assert bound._split() == SPLITS["1-photons"]
    assert round(121_000 * SPLITS["1-photons"][0]) == 80_000


@pytest.mark.parametrize("kind", ["logit", "log", "layers"])
def test_preprocessing_chains_invert(samples, kind):
    sim, a, _ = samples
    chain = Preprocessing(preprocessing_chain("test", kind), sim.spec).fit([a])
    y, logdet = chain.forward(a.fields, a.conditions)
    assert np.isfinite(y["showers"]).all() and np.isfinite(logdet).all()
    back = chain.inverse(y, a.conditions)
    np.testing.assert_allclose(back["showers"], a["showers"], atol=1e-6 * a["showers"].max())


def test_layer_fractions_jacobian_matches_finite_differences(samples):
    sim, a, _ = samples
    step = Preprocessing(
        [{"type": "calo.layer_fractions", "field": "showers", "geometry": "test"}], sim.spec
    ).fit([a])
    x = a["showers"][:1].astype(np.float64) + 0.01
    c = {"incident_energies": a["incident_energies"][:1]}
    y0, logdet = step.forward({"showers": x}, c)
    h = 1e-6
    jac = np.empty((96, 96))
    for i in range(96):
        xp = x.copy()
        xp[0, i] += h
        jac[:, i] = (step.forward({"showers": xp}, c)[0]["showers"][0] - y0["showers"][0]) / h
    assert np.linalg.slogdet(jac)[1] == pytest.approx(logdet[0], abs=1e-3 * abs(logdet[0]))


def test_layer_fractions_anchor_the_axis_voxel_and_keep_generated_layer_energies():
    """The anchor of a CaloGAN (Cartesian) layer is a centre cell, not the corner cell that
    is nearly always empty; a generated layer keeps its energy when the others fit in it.
    The Jacobian does not depend on which voxel is the anchor (finite differences)."""
    from surrogate_calo.geometry import get_geometry
    from surrogate_calo.preprocessing import LayerFractions

    sim = surrogate.simulator("calo.gflash", geometry="calogan")
    events = sim.sample(500, seed=0)
    chain = Preprocessing(
        [{"type": "calo.layer_fractions", "field": "showers", "geometry": "calogan"}], sim.spec
    ).fit([events])
    step = chain.steps[0]
    assert isinstance(step, LayerFractions)
    geo = get_geometry("calogan")
    r = geo.coordinates["r"]
    for sl, anchor in zip(step.slices, step.anchors, strict=True):
        assert r[anchor] == r[sl].min() < r[sl].max()
        assert anchor != sl.start  # the corner
    # the anchor is one of the (tied) hottest cells: measured 0.94-1.0 of the hottest's
    # mean energy over 500 showers (the last layer holds ~0.1 % of the energy)
    x = events["showers"].astype(np.float64)
    for sl, anchor in zip(step.slices, step.anchors, strict=True):
        assert x[:, anchor].mean() >= 0.8 * x[:, sl].mean(0).max()
    y, _ = chain.forward(events.fields, events.conditions)
    back = chain.inverse(y, events.conditions)["showers"]
    np.testing.assert_allclose(back, x, atol=1e-6 * x.max())
    # a "generated" shower whose fractions are 10 % low: every layer keeps its energy
    y2 = {"showers": y["showers"].copy()}
    for sl, anchor in zip(step.slices, step.anchors, strict=True):
        keep = y2["showers"][:, anchor].copy()
        y2["showers"][:, sl] *= 0.9
        y2["showers"][:, anchor] = keep
    gen = chain.inverse(y2, events.conditions)["showers"]
    for sl in step.slices:
        np.testing.assert_allclose(gen[:, sl].sum(1), x[:, sl].sum(1), rtol=1e-9, atol=1e-9)


def test_simulator_offers_its_chain():
    chain = surrogate.simulator("calo.gflash", geometry="2").preprocessing()
    assert [s["type"] for s in chain] == [
        "calo.readout_threshold",
        "normalise_by_condition",
        "logit",
        "standardise",
    ]
    assert chain[0]["threshold"] == 0.5e-3 / 0.033  # the simulator's readout
    off = surrogate.simulator("calo.gflash", geometry="2", threshold=0).preprocessing()
    assert [s["type"] for s in off] == ["normalise_by_condition", "logit", "standardise"]
    with pytest.raises(surrogate.SpecError, match="unknown calo preprocessing"):
        preprocessing_chain("2", "sqrt")
