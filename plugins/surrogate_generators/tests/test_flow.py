"""The ``flow`` family: exact density (integrates to 1, closed form at initialisation,
raw units), sample_and_log_prob, the autoregressive and affine options, conformance."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from scipy import stats

import surrogate
from surrogate import EventSpec, Field
from surrogate.errors import SurrogateError
from surrogate.events import Events
from surrogate.testing import surrogate_checks
from surrogate_generators.flow import Flow

SMALL = {"hidden": 32, "blocks": 1, "transforms": 4}
QUICK = {"epochs": 3, "batch_size": 256, "lr": 3e-3, "progress": False}


@functools.cache
def trained(conditional: bool = False) -> Flow:
    data = surrogate.simulator("toy.gmm2d", conditional=conditional).sample(3000, seed=0)
    return Flow(**SMALL).fit(data, seed=0, **QUICK)


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("name", [n for n, _ in surrogate_checks(lambda: None)])
def test_flow_conformance(name, conditional):
    dict(surrogate_checks(lambda: trained(conditional)))[name]()


@pytest.mark.parametrize("conditional", [False, True])
def test_density_integrates_to_one(conditional):
    """Riemann sum of exp(log_prob) over a 2D grid in raw units (preprocessing Jacobian
    included).  The grid step 0.03 is well below the narrowest structure (mode width ~0.1),
    and [-7, 7]^2 holds all but a negligible tail."""
    model = trained(conditional)
    h = 0.03
    axis = np.arange(-7 + h / 2, 7, h)
    gx, gy = np.meshgrid(axis, axis)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    conds = {"radius": np.full(len(points), 3.0)} if conditional else {}
    events = Events.checked({"x": points}, conds, model.spec)
    total = np.exp(model.log_prob(events)).sum() * h * h
    assert abs(total - 1) < 0.005, total


def test_untrained_flow_is_the_closed_form_gaussian():
    """Coupling splines start at the identity, so before any step the model is N(0, I) in
    model space; with the standardising preprocessing, log_prob must be exactly the
    Gaussian with the data's mean and std in raw units."""
    data = surrogate.simulator("toy.gmm2d").sample(2000, seed=1)
    model = Flow(**SMALL).fit(data, seed=0, epochs=1, lr=0.0, schedule="constant", progress=False)
    state = model.preprocessing.state()
    mean, std = state["0.x.mean"], state["0.x.std"]
    expected = stats.norm.logpdf(data["x"], mean, std).sum(axis=1)
    np.testing.assert_allclose(model.log_prob(data), expected, rtol=1e-5, atol=1e-5)


def test_sample_and_log_prob_agrees_with_log_prob():
    model = trained(True)
    events, log_q = model.sample_and_log_prob(400, {"radius": 1.5}, seed=4)
    assert np.allclose(events["radius"], 1.5)
    np.testing.assert_allclose(log_q, model.log_prob(events), rtol=1e-4, atol=1e-3)
    again, log_q2 = model.sample_and_log_prob(400, {"radius": 1.5}, seed=4)
    np.testing.assert_array_equal(events["x"], again["x"])
    np.testing.assert_array_equal(log_q, log_q2)


@pytest.mark.parametrize(
    "flow_type, transform",
    [("coupling", "affine"), ("autoregressive", "spline"), ("autoregressive", "affine")],
)
def test_other_transforms_are_consistent(flow_type, transform):
    data = surrogate.simulator("toy.gmm2d", conditional=True).sample(600, seed=2)
    model = Flow(hidden=16, blocks=1, transforms=2, flow_type=flow_type, transform=transform)
    model.fit(data, seed=0, epochs=1, batch_size=200, progress=False)
    events, log_q = model.sample_and_log_prob(100, seed=3)
    np.testing.assert_allclose(log_q, model.log_prob(events), rtol=1e-4, atol=1e-3)


def test_bad_flow_options_are_refused():
    data = surrogate.simulator("toy.gmm2d").sample(100, seed=0)
    with pytest.raises(SurrogateError, match="unknown flow backend 'zuko'"):
        Flow(backend="zuko").fit(data, seed=0, epochs=1)
    with pytest.raises(SurrogateError, match="flow_type must be"):
        Flow(flow_type="maf").fit(data, seed=0, epochs=1)
    with pytest.raises(SurrogateError, match="did you mean 'transforms'"):
        Flow(transfroms=3)
    spec = EventSpec(fields=(Field("e", ()),))
    one_d = Events({"e": np.random.default_rng(0).normal(size=100)}, {}, spec)
    with pytest.raises(SurrogateError, match="use flow_type=autoregressive"):
        Flow().fit(one_d, seed=0, epochs=1)
    Flow(flow_type="autoregressive", hidden=8, transforms=1).fit(
        one_d, seed=0, epochs=1, progress=False
    )


class EnergyOnly:
    """A data-free stream: every step is a batch of ``size`` empty events."""

    def __init__(self, size: int, steps: int) -> None:
        self.size, self.steps_per_epoch = size, steps
        self.n_train, self.n_val = size * steps, 0

    def train_batches(self, epoch):
        for _ in range(self.steps_per_epoch):
            yield np.zeros((self.size, 0), np.float32), np.zeros((self.size, 0), np.float32)

    def val_batches(self):
        return iter(())


class BoltzmannFlow(Flow):
    """Swapped objective: reverse KL to exp(-u) (a Boltzmann generator), no data."""

    mean = torch.tensor([1.0, -0.5])
    std = torch.tensor([0.5, 1.5])

    def energy(self, x):
        return 0.5 * (((x - self.mean) / self.std) ** 2).sum(-1)

    def training_loss(self, batch, optimizer, ctx):
        x, log_q = self.flow.sample_and_log_prob(None, n=len(batch.x))
        return {"loss": (log_q + self.energy(x)).mean()}


def test_reverse_kl_objective_uses_the_same_loop(tmp_path):
    """Objective swapped for reverse KL on a Gaussian energy: the same loop (checkpoints,
    log) trains the flow without data; the flow must reach the target's mean and std."""
    from surrogate.training import TrainOptions

    model = BoltzmannFlow(
        hidden=32, blocks=1, transforms=4, preprocessing=[{"type": "affine", "scale": 1.0}]
    )
    model.spec = EventSpec(fields=(Field("x", (2,)),))
    model._setup_spec()
    opts = TrainOptions.resolve({"epochs": 3, "lr": 5e-3, "progress": False, "val_fraction": 0.0})
    model._train(EnergyOnly(256, 40), opts, seed=0, workdir=tmp_path)
    assert (tmp_path / "checkpoints" / "epoch-0003.pt").is_file()
    x = model.sample(20_000, seed=1)["x"]
    np.testing.assert_allclose(x.mean(0), [1.0, -0.5], atol=0.08)
    np.testing.assert_allclose(x.std(0), [0.5, 1.5], rtol=0.08)


def test_a_batch_float32_cannot_invert_is_inverted_in_float64(monkeypatch):
    """nflows asserts a non-negative discriminant in its spline inverse; float32 rounding
    can break it for a rare point, which used to fail the whole batch."""
    from surrogate_generators.flow_backends import NflowsFlow

    model = trained()
    module = model.flow
    assert isinstance(module, NflowsFlow)
    expected = model.sample(64, seed=3)["x"]
    original = type(module.transform).inverse

    def flaky(self, z, context=None):
        if z.dtype == torch.float32:
            raise AssertionError  # as nflows' rational_quadratic_spline does
        return original(self, z, context=context)

    monkeypatch.setattr(type(module.transform), "inverse", flaky)
    np.testing.assert_allclose(model.sample(64, seed=3)["x"], expected, rtol=1e-4, atol=1e-5)


def test_wide_events_are_sampled_in_smaller_batches():
    """A batch's memory follows events x scalars: 65536 CaloGAN showers (504 voxels) at
    once took 24 GB in a spline flow's intermediates."""
    model = trained()
    assert model.sample_batch_size == model.max_sample_batch  # 2 scalars an event
    wide = Flow(**SMALL)
    wide.spec = EventSpec((Field("v", (504,), low=0.0),))
    assert wide.sample_batch_size * 504 <= wide.sample_scalars
    assert wide.sample_batch_size >= 1000


class _Linear(torch.nn.Module):
    hidden_features = 1  # nflows scales the spline logits by it (and warns without it)

    def __init__(self, fin: int, fout: int) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(fin, fout)

    def forward(self, x, context=None):
        return self.layer(x)


@pytest.mark.parametrize(("features", "transforms"), [(3, 2), (5, 4), (8, 6)])
def test_every_feature_is_transformed(features, transforms):
    """With plain random permutations between coupling steps, a feature could be left
    untransformed by the whole flow (28 of 50 seeds at 3-D, two steps): its marginal then
    keeps the base's width whatever the training."""
    from surrogate_generators.flow_backends import build_flow

    for seed in range(20):
        torch.manual_seed(seed)
        flow = build_flow(
            "nflows",
            features,
            0,
            net_factory=_Linear,
            transforms=transforms,
            hidden=8,
            blocks=1,
        )
        for p in flow.parameters():  # away from the identity initialisation
            p.data.normal_(0, 0.5)
        x = 2 * torch.randn(100, features)
        with torch.no_grad():
            z, _ = flow.transform(x)
        unchanged = [bool(torch.isclose(z, x[:, i : i + 1]).all(0).any()) for i in range(features)]
        assert not any(unchanged), f"seed {seed}: untransformed features {unchanged}"
