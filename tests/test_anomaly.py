"""Anomaly samples, scores and figures of merit (:mod:`surrogate.anomaly`), tried on the
toy ring: a test anomaly moves events off it, and every score kind must rank them above
the ring's own events at the same conditions; the ROC summary is checked against the
closed forms of two unit Gaussians."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
from scipy.stats import norm

import surrogate
from surrogate.anomaly import (
    anomaly_label,
    read_scores,
    roc_curve,
    roc_summary,
)
from surrogate.cli import main
from surrogate.errors import PluginError, SpecError, SurrogateError
from surrogate.events import Events
from surrogate.io import open_events


@pytest.fixture(scope="module")
def files(anomaly_registry, tmp_path_factory):
    """A training file, a background and an anomaly sample of the conditional ring."""
    root = tmp_path_factory.mktemp("anomaly")
    opts = {"conditional": True}
    surrogate.simulate("toy.gmm2d", 4000, root / "train.h5", options=opts, seed=0)
    surrogate.simulate("toy.gmm2d", 1000, root / "bkg.h5", options=opts, seed=1)
    surrogate.simulate(
        "toy.gmm2d", 1000, root / "sig.h5", options=opts, seed=2, anomaly="test.off_ring"
    )
    return root


@pytest.fixture(scope="module")
def models(files):
    data = files / "train.h5"
    quick = {"epochs": 15, "batch_size": 128, "progress": False}
    out = {"gaussian": surrogate.train("gaussian", data, files / "gaussian")}
    out["vae"] = surrogate.train(
        "vae", data, files / "vae", hyperparameters={"hidden": 32, "latent": 2}, **quick
    )
    out["flow"] = surrogate.train(
        "flow", data, files / "flow", hyperparameters={"hidden": 32, "transforms": 2}, **quick
    )
    return out


def test_an_anomaly_sample_is_labelled_and_a_plain_file_is_not(files):
    with open_events(files / "sig.h5") as f:
        assert anomaly_label(f.metadata, "sig.h5") == "test.off_ring"
        assert f.metadata["options"]["anomaly_options"] == {"shift": 0.5}
        assert f.metadata["producer"] == "toy.gmm2d+test.off_ring"
    with open_events(files / "bkg.h5") as f, pytest.raises(SpecError, match="not a labelled"):
        anomaly_label(f.metadata, "bkg.h5")


def test_an_anomaly_changes_the_seeds_own_events(anomaly_registry):
    sim = surrogate.simulator("toy.gmm2d", conditional=True)
    from surrogate.anomaly import anomalous

    bad = anomalous(sim, "test.off_ring", {"shift": 1.0})
    seed = np.random.SeedSequence(5)
    a = bad.sample(50, seed=seed)
    events_seed = np.random.SeedSequence(seed.generate_state(4)).spawn(2)[0]
    b = sim.sample(50, seed=events_seed)
    np.testing.assert_allclose(a["x"], 2 * b["x"], rtol=1e-6)
    np.testing.assert_array_equal(a["radius"], b["radius"])


def test_bad_anomalies_are_one_line_errors(anomaly_registry, tmp_path):
    with pytest.raises(PluginError, match=r"unknown option 'shfit' \(did you mean 'shift'"):
        surrogate.simulate(
            "toy.gmm2d",
            10,
            tmp_path / "a.h5",
            anomaly="test.off_ring",
            anomaly_options={"shfit": 1},
        )
    with pytest.raises(SurrogateError, match="off_rng"):
        surrogate.simulate("toy.gmm2d", 10, tmp_path / "a.h5", anomaly="test.off_rng")
    with pytest.raises(SpecError, match="need an anomaly"):
        surrogate.simulate("toy.gmm2d", 10, tmp_path / "a.h5", anomaly_options={"shift": 1})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("family", "kind"),
    [
        ("gaussian", "nll"),
        ("gaussian", "knn"),
        ("vae", "reconstruction"),
        ("vae", "iwae"),
        ("flow", "nll"),
        ("flow", "knn"),
    ],
)
def test_every_kind_ranks_events_off_the_ring_higher(models, files, tmp_path, family, kind):
    model = models[family]
    assert kind in model.score_kinds()
    paths = {}
    for name in ("bkg", "sig"):
        paths[name] = surrogate.score(
            model, files / f"{name}.h5", tmp_path / f"{name}.h5", kind=kind
        )
    bkg, sig = (read_scores(paths[k]) for k in ("bkg", "sig"))
    assert bkg.score.shape == (1000,) and bkg.attrs["kind"] == kind
    summary = roc_summary(bkg.score, sig.score, bootstraps=20)
    # the gaussian ignores the ring's modes: only its covariance sees the push outwards;
    # the 15-epoch VAE's density bound is blurrier than its reconstruction
    floor = {("gaussian", "nll"): 0.6, ("gaussian", "knn"): 0.6, ("vae", "iwae"): 0.75}
    assert summary.auc > floor.get((family, kind), 0.9), summary


def test_scores_are_aligned_reproducible_and_conditional(models, files, tmp_path):
    """Reading the file in other chunks gives the same nll scores; knn scores depend on
    the seed and chunk size only; an event scored at other conditions scores otherwise."""
    flow = models["flow"]
    a = surrogate.score(flow, files / "bkg.h5", tmp_path / "a.h5", chunk_size=300)
    b = surrogate.score(flow, files / "bkg.h5", tmp_path / "b.h5", chunk_size=1000)
    np.testing.assert_allclose(read_scores(a).score, read_scores(b).score, rtol=1e-6)
    with open_events(files / "bkg.h5") as f:
        events = f.read()
    np.testing.assert_allclose(
        flow.anomaly_score(events[:300]), read_scores(a).score[:300], rtol=1e-6
    )
    k1 = surrogate.score(flow, files / "bkg.h5", tmp_path / "k1.h5", kind="knn", seed=3)
    k2 = surrogate.score(flow, files / "bkg.h5", tmp_path / "k2.h5", kind="knn", seed=3)
    np.testing.assert_array_equal(read_scores(k1).score, read_scores(k2).score)
    moved = Events(events.fields, {"radius": np.clip(events["radius"] * 1.5, 1, 4)}, events.spec)
    assert np.mean(flow.anomaly_score(moved) > flow.anomaly_score(events)) > 0.8


def test_per_field_scores(models, files, tmp_path):
    vae = models["vae"]
    path = surrogate.score(vae, files / "sig.h5", tmp_path / "s.h5", per_field=True)
    scores = read_scores(path)
    assert set(scores.per_field) == {"x"}
    # one field: its score is the event's
    np.testing.assert_allclose(scores.per_field["x"], scores.score, rtol=1e-6)
    with pytest.raises(SurrogateError, match="the nll score is one per event"):
        surrogate.score(models["flow"], files / "sig.h5", tmp_path / "f.h5", per_field=True)


def test_bad_scoring_input_is_a_one_line_error(models, files, tmp_path):
    flow = models["flow"]
    other = tmp_path / "other.h5"
    surrogate.simulate("toy.gmm2d", 20, other, seed=0)  # unconditional: no radius
    with pytest.raises(
        SpecError, match=r"do not fit model 'flow' \(conditions: \[\] vs \['radius'\]"
    ):
        surrogate.score(flow, other, tmp_path / "s.h5")
    with pytest.raises(SurrogateError, match=r"unknown anomaly score 'reconstrution'"):
        surrogate.score(models["vae"], files / "sig.h5", tmp_path / "s.h5", kind="reconstrution")
    with pytest.raises(SurrogateError, match=r"the knn score: unknown option 'drows'"):
        surrogate.score(flow, files / "sig.h5", tmp_path / "s.h5", kind="knn", options={"drows": 3})
    with pytest.raises(SurrogateError, match="1 <= k <= draws"):
        surrogate.score(
            flow, files / "sig.h5", tmp_path / "s.h5", kind="knn", options={"k": 9, "draws": 4}
        )
    assert not (tmp_path / "s.h5").exists()


def test_the_command_line(models, files, tmp_path, capsys):
    assert main(["score", str(files / "vae"), "--list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("reconstruction") and "(also per field)" in out
    assert "iwae" in out and "knn" in out
    path = tmp_path / "scores.h5"
    argv = ["score", str(files / "flow"), "--data", str(files / "sig.h5"), "-o", str(path)]
    assert main([*argv, "--no-progress"]) == 0
    with h5py.File(path) as f:
        assert f["score"].shape == (1000,) and f.attrs["kind"] == "nll"
        assert f.attrs["model_dir"] == str(files / "flow")
    assert main(["score", str(files / "flow"), "--data", str(files / "sig.h5")]) == 1
    assert "give the events to score" in capsys.readouterr().err


def test_the_roc_summary_of_two_unit_gaussians_has_its_closed_form():
    """Background N(0, 1), signal N(d, 1): AUC = Phi(d / sqrt 2) and the signal kept at
    background efficiency e is 1 - Phi(z_(1-e) - d)."""
    rng = np.random.default_rng(0)
    d = 2.0
    bkg, sig = rng.normal(size=200_000), rng.normal(d, size=20_000)
    summary = roc_summary(bkg, sig, bootstraps=50)
    assert summary.auc == pytest.approx(
        norm.cdf(d / math.sqrt(2)), abs=3 * summary.auc_error + 1e-3
    )
    for wp in (1e-2, 1e-3):
        expected = 1 - norm.cdf(norm.ppf(1 - wp) - d)
        assert summary.efficiency[wp] == pytest.approx(
            expected, abs=4 * summary.efficiency_error[wp]
        )
        assert summary.efficiency_error[wp] > 0
    few = roc_summary(bkg[:5000], sig, bootstraps=5)
    assert few.efficiency[1e-3] is None and few.efficiency[1e-2] is not None
    b_eff, s_eff = roc_curve(bkg[:1000], sig[:1000])
    assert b_eff[0] == s_eff[0] == 0 and b_eff[-1] == s_eff[-1] == 1
    assert np.all(np.diff(b_eff) >= 0) and np.all(np.diff(s_eff) >= 0)
    with pytest.raises(SurrogateError, match="NaN scores"):
        roc_summary(np.array([0.0, np.nan]), sig)


def test_a_model_without_any_score_says_so(models, files, tmp_path):
    """A family may withdraw every score (one whose draws cannot be made at given
    conditions, say): scoring with it is one line, before any output exists."""
    from surrogate_baseline.gaussian import GaussianSurrogate

    class NoScores(GaussianSurrogate):
        def score_kinds(self):
            return {}

    model = NoScores()
    model.__dict__.update(models["gaussian"].__dict__)
    with pytest.raises(SurrogateError, match="model 'gaussian' gives no anomaly score"):
        surrogate.score(model, files / "sig.h5", tmp_path / "s.h5")
    assert not (tmp_path / "s.h5").exists()


class EmptyBelowHalf(surrogate.Surrogate):
    """A stand-in model whose draws leave ``x[2]`` exactly 0 at ``c < 0.5`` (a voxel a
    low-energy shower never reaches) and spread it like the others above."""

    name = "empty_below_half"

    def __init__(self) -> None:
        from surrogate import Condition, EventSpec, Field

        spec = EventSpec(fields=(Field("x", (3,)),), conditions=(Condition("c", low=0, high=1),))
        super().__init__(spec)

    def _fit(self, data, *, seed, workdir, **options):
        raise NotImplementedError("a stand-in is not trained")

    def _sample(self, n, conditions, rng):
        x = rng.normal(size=(n, 3))
        x[conditions["c"] < 0.5, 2] = 0.0
        return {"x": x.astype(np.float32)}

    def _state(self):
        return {}

    def _load_state(self, state):
        pass


def test_knn_scales_a_dimension_that_is_empty_in_an_events_own_draws():
    """An event whose own draws never fill ``x[2]`` but which has a little there (0.1,
    against a spread of 1 where it is filled) scores like the others, not thousands of
    units away: the scale comes from all the batch's draws."""
    model = EmptyBelowHalf()
    normal = model.sample(200, {"c": np.tile([0.2, 0.8], 100)}, seed=1)
    x = normal["x"].copy()
    x[0, 2] = 0.1  # event 0 is at c = 0.2
    scores = model.anomaly_score(surrogate.Events({"x": x}, normal.conditions), "knn", seed=2)
    others = scores[1:]
    assert scores[0] < np.quantile(others, 0.99), (scores[0], np.quantile(others, 0.99))
