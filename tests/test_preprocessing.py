"""The preprocessing chain: invertibility, Jacobians against closed forms, streaming fits,
saved state, and clear errors for bad chains."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from surrogate import Condition, EventSpec, Field
from surrogate.errors import SpecError
from surrogate.preprocessing import Preprocessing

SPEC = EventSpec(
    fields=(
        Field("e", (3,), "float64", low=0.0),
        Field("frac", (), "float64", low=0.0, high=1.0),
        Field("pos", (2,), "float64"),
    ),
    conditions=(Condition("energy", low=1.0, high=100.0, prior="loguniform"),),
)


def _data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    energy = np.exp(rng.uniform(0, np.log(100), n))
    fields = {
        "e": energy[:, None] * rng.lognormal(-1.0, 0.5, (n, 3)),
        "frac": rng.beta(2.0, 5.0, n),
        "pos": rng.normal([1.0, -2.0], [0.5, 3.0], (n, 2)),
    }
    return fields, {"energy": energy}


CHAIN = [
    {"type": "normalise_by_condition", "field": "e", "condition": "energy"},
    {"type": "log", "field": "e", "eps": 1e-9},
    {"type": "logit", "field": "frac"},
    {"type": "affine", "field": "pos", "shift": 1.0, "scale": 2.0},
    {"type": "standardise"},
]


def _fitted(chain=CHAIN, n=2000):
    fields, conds = _data(n)
    return Preprocessing(chain, SPEC).fit([(fields, conds)]), fields, conds


def test_round_trip_every_step():
    pre, fields, conds = _fitted()
    y, logdet = pre.forward(fields, conds)
    assert logdet.shape == (2000,)
    back = pre.inverse(y, conds)
    for k in fields:
        np.testing.assert_allclose(back[k], fields[k], rtol=1e-9, atol=1e-12)
    # model space is standardised by the last step
    for k in fields:
        np.testing.assert_allclose(y[k].mean(axis=0), 0, atol=1e-9)
        np.testing.assert_allclose(y[k].std(axis=0, ddof=1), 1, atol=1e-9)


def test_logdet_matches_finite_differences():
    """Every step is elementwise: log|det J| = sum of log|dy_i/dx_i|."""
    pre, fields, conds = _fitted()
    n = 50
    fields = {k: v[:n] for k, v in fields.items()}
    conds = {k: v[:n] for k, v in conds.items()}
    _, logdet = pre.forward(fields, conds)
    numeric = np.zeros(n)
    for k, x in fields.items():
        flat = x.reshape(n, -1)
        for j in range(flat.shape[1]):
            h = 1e-6 * np.maximum(np.abs(flat[:, j]), 1e-3)
            up, down = flat.copy(), flat.copy()
            up[:, j] += h
            down[:, j] -= h
            yu = pre.forward({**fields, k: up.reshape(x.shape)}, conds)[0][k].reshape(n, -1)
            yd = pre.forward({**fields, k: down.reshape(x.shape)}, conds)[0][k].reshape(n, -1)
            numeric += np.log(np.abs((yu[:, j] - yd[:, j]) / (2 * h)))
    np.testing.assert_allclose(logdet, numeric, rtol=1e-5, atol=1e-5)


def test_density_in_raw_units_matches_closed_form_lognormal():
    """log then standardise: if the model-space density is N(0,1), the raw density is the
    log-normal's; p_raw(x) = p_model(y) + log|det dy/dx| must reproduce it exactly."""
    spec = EventSpec(fields=(Field("x", (), "float64", low=0.0),))
    rng = np.random.default_rng(1)
    x = rng.lognormal(0.7, 0.4, 5000)
    pre = Preprocessing([{"type": "log", "eps": 0.0}, {"type": "standardise"}], spec)
    pre.fit([({"x": x}, {})])
    m = float(pre.state()["1.x.mean"])
    s = float(pre.state()["1.x.std"])
    y, logdet = pre.forward({"x": x}, {})
    raw = stats.norm.logpdf(y["x"]) + logdet
    np.testing.assert_allclose(raw, stats.lognorm.logpdf(x, s, scale=np.exp(m)), rtol=1e-10)


def test_density_in_raw_units_matches_closed_form_logit():
    """logit of a Uniform(low, high) variable is standard logistic in model space."""
    spec = EventSpec(fields=(Field("u", (), "float64", low=2.0, high=5.0),))
    rng = np.random.default_rng(2)
    u = rng.uniform(2.0, 5.0, 1000)
    pre = Preprocessing([{"type": "logit", "alpha": 0.0}], spec).fit([({"u": u}, {})])
    y, logdet = pre.forward({"u": u}, {})
    np.testing.assert_allclose(stats.logistic.logpdf(y["u"]) + logdet, -np.log(3.0), atol=1e-9)


def test_streaming_fit_equals_one_shot():
    fields, conds = _data(3000)
    chunks = [
        ({k: v[a:b] for k, v in fields.items()}, {k: v[a:b] for k, v in conds.items()})
        for a, b in [(0, 1), (1, 700), (700, 701), (701, 3000)]
    ]
    one = Preprocessing(CHAIN, SPEC).fit([(fields, conds)])
    many = Preprocessing(CHAIN, SPEC).fit(lambda: iter(chunks))
    for k, v in one.state().items():
        np.testing.assert_allclose(many.state()[k], v, rtol=1e-10, err_msg=k)


def test_state_round_trip_and_config():
    pre, fields, conds = _fitted()
    again = Preprocessing(pre.to_config(), SPEC)
    assert not again.fitted
    again.load_state(pre.state())
    a, la = pre.forward(fields, conds)
    b, lb = again.forward(fields, conds)
    np.testing.assert_array_equal(la, lb)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_default_is_standardise_every_field():
    pre = Preprocessing(None, SPEC)
    assert pre.to_config() == [{"type": "standardise"}]
    assert pre.steps[0].fields == ["e", "frac", "pos"]


def test_per_field_standardise_and_min_std():
    spec = EventSpec(fields=(Field("v", (4,)),))
    x = np.zeros((10, 4))
    x[:, 0] = np.arange(10)
    pre = Preprocessing([{"type": "standardise", "min_std": 1e-3}], spec).fit([({"v": x}, {})])
    y, _ = pre.forward({"v": x}, {})
    assert np.isfinite(y["v"]).all()
    per_field = Preprocessing([{"type": "standardise", "per": "field"}], spec)
    per_field.fit([({"v": x}, {})])
    assert per_field.state()["0.v.std"].shape == ()


@pytest.mark.parametrize(
    "chain, match",
    [
        ([{"type": "standardize"}], "did you mean 'standardise'"),
        ([{"type": "log", "field": "ee"}], "unknown field 'ee'.*did you mean 'e'"),
        ([{"type": "log", "epsilon": 1}], "unknown key 'epsilon'"),
        ([{"type": "normalise_by_condition", "field": "e"}], "needs 'condition'"),
        (
            [{"type": "normalise_by_condition", "field": "e", "condition": "enrgy"}],
            "unknown condition 'enrgy'",
        ),
        (["log"], "expected a dict with a 'type'"),
        ("standardise", "must be a list"),
    ],
)
def test_bad_chains_are_refused_clearly(chain, match):
    with pytest.raises(SpecError, match=match):
        Preprocessing(chain, SPEC)


def test_bad_values_are_refused_clearly():
    fields, conds = _data(10)
    pre = Preprocessing([{"type": "log", "field": "pos"}], SPEC)
    with pytest.raises(SpecError, match="'pos' has values <= -eps"):
        pre.forward(fields, conds)
    pre = Preprocessing([{"type": "logit", "field": "pos"}], SPEC).fit([(fields, conds)])
    with pytest.raises(SpecError, match="outside"):
        pre.forward({**fields, "pos": fields["pos"] + 100}, conds)
    with pytest.raises(SpecError, match="not fitted"):
        Preprocessing(None, SPEC).forward(fields, conds)


def test_no_torch_at_import():
    code = (
        "import sys, surrogate.preprocessing, surrogate.training, surrogate_generators.plugin; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_log_inverse_is_capped_at_high():
    """An outlier in log space must not come back exponentially large."""
    chain = [{"type": "log", "field": "e", "high": 1e3}]
    pre = Preprocessing(chain, SPEC)
    fields, conds = _data(10)
    y, _ = pre.forward(fields, conds)
    np.testing.assert_allclose(pre.inverse(y, conds)["e"], fields["e"], rtol=1e-9)
    wild = {**y, "e": np.full((10, 3), 800.0)}  # exp(800) overflows float64
    with np.errstate(over="raise"):
        back = pre.inverse(wild, conds)["e"]
    np.testing.assert_allclose(back, 1e3)
    unguarded = Preprocessing([{"type": "log", "field": "e"}], SPEC)
    assert unguarded.inverse({**y, "e": np.full((10, 3), 30.0)}, conds)["e"].min() > 1e12
    with pytest.raises(SpecError, match="high must be > 0"):
        Preprocessing([{"type": "log", "field": "e", "high": 0}], SPEC)


def test_steps_are_found_through_the_hook():
    from surrogate import hookimpl
    from surrogate.preprocessing import Affine
    from surrogate.testing import plugin_registry

    class Twice(Affine):
        type = "test.twice"

    class Plugin:
        @hookimpl
        def register_preprocessing_steps(self, register):
            register("test.twice", Twice)

    chain = [{"type": "test.twice", "field": "pos", "scale": 2.0}]
    with pytest.raises(SpecError, match="unknown preprocessing 'test.twice'"):
        Preprocessing(chain, SPEC)
    with plugin_registry(("twice", Plugin())):
        pre = Preprocessing(chain, SPEC)
        fields, conds = _data(4)
        np.testing.assert_allclose(pre.forward(fields, conds)[0]["pos"], fields["pos"] / 2)
