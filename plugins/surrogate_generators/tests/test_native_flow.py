"""The ``native`` flow backend: its spline against closed-form properties and against
nflows' spline (the same transform for the same network outputs), and a flow built on it
through the family."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import surrogate
from surrogate.errors import SurrogateError
from surrogate.testing import surrogate_checks
from surrogate_generators.flow import Flow
from surrogate_generators.flow_backends import build_flow
from surrogate_generators.splines import parameters_per_dim, rational_quadratic

BOUND = 3.0


def _params(batch: int, dims: int, bins: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, parameters_per_dim(bins), dims, generator=g, dtype=torch.float64)


def test_the_spline_is_monotonic_maps_the_interval_onto_itself_and_is_the_identity_beyond():
    x = torch.linspace(-BOUND - 1, BOUND + 1, 801, dtype=torch.float64).view(-1, 1)
    params = _params(1, 1, 6).expand(len(x), -1, -1)
    y, logdet = rational_quadratic(x, params, bound=BOUND)
    assert (y[1:] > y[:-1]).all()
    outside = x.abs() > BOUND
    assert torch.equal(y[outside], x[outside]) and (logdet[outside] == 0).all()
    ends = rational_quadratic(
        torch.tensor([[-BOUND], [BOUND]], dtype=torch.float64), params[:2], bound=BOUND
    )[0]
    torch.testing.assert_close(ends, torch.tensor([[-BOUND], [BOUND]], dtype=torch.float64))


def test_the_log_derivative_is_the_derivative_and_the_inverse_undoes_the_spline():
    x = (torch.rand(500, 7, dtype=torch.float64) * 2 - 1) * BOUND * 1.2
    params = _params(500, 7, 8)
    x.requires_grad_(True)
    y, logdet = rational_quadratic(x, params, bound=BOUND)
    (grad,) = torch.autograd.grad(y.sum(), x)  # each y depends on its own x only
    torch.testing.assert_close(logdet, grad.log())
    back, inverse_logdet = rational_quadratic(y.detach(), params, bound=BOUND, inverse=True)
    torch.testing.assert_close(back, x.detach(), atol=1e-10, rtol=0)
    torch.testing.assert_close(inverse_logdet, -logdet.detach())


def test_the_spline_is_nflows_spline():
    """The same unnormalised widths, heights and derivatives give nflows' transform."""
    from nflows.transforms.splines.rational_quadratic import (
        unconstrained_rational_quadratic_spline,
    )

    bins = 5
    x = (torch.rand(300, 4, dtype=torch.float64) * 2 - 1) * BOUND * 1.3
    params = _params(300, 4, bins, seed=2)
    y, logdet = rational_quadratic(x, params, bound=BOUND)
    w, h, d = params.transpose(1, 2).split([bins, bins, bins - 1], dim=-1)
    expected = unconstrained_rational_quadratic_spline(x, w, h, d, tails="linear", tail_bound=BOUND)
    torch.testing.assert_close(y, expected[0])
    torch.testing.assert_close(logdet, expected[1])


def _pair(features: int = 9, context: int = 3, bins: int = 5):
    """An nflows and a native flow with the same networks and permutations, their output
    layers set to the same random values (in each backend's layout)."""
    from surrogate_generators.backbones import make_backbone

    def net(fin: int, fout: int):
        return make_backbone("mlp", fin, fout, context, hidden=16, blocks=1, zero_init=True)

    flows = []
    for backend in ("nflows", "native"):
        torch.manual_seed(0)
        flows.append(build_flow(backend, features, context, net_factory=net, bins=bins).double())
    g = torch.Generator().manual_seed(1)
    per = parameters_per_dim(bins)
    steps = zip(flows[0].transform._transforms, flows[1].transform._transforms, strict=True)
    for theirs, ours in steps:
        if not hasattr(ours, "net"):  # a permutation: the same one
            assert torch.equal(theirs._permutation, ours._permutation)
            continue
        a, b = theirs.transform_net.out, ours.net.out
        with torch.no_grad():
            a.weight.normal_(0, 0.3, generator=g)
            a.bias.normal_(0, 0.3, generator=g)
            n = len(ours.transformed)
            b.weight.copy_(a.weight.view(n, per, -1).transpose(0, 1).reshape(per * n, -1))
            b.bias.copy_(a.bias.view(n, per).T.reshape(-1))
    return flows


def test_a_native_flow_is_the_nflows_flow_with_the_same_weights():
    theirs, ours = _pair()
    g = torch.Generator().manual_seed(3)
    x = 2 * torch.randn(400, 9, generator=g, dtype=torch.float64)
    c = torch.randn(400, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(ours.log_prob(x, c), theirs.log_prob(x, c))
    z = torch.randn(400, 9, generator=g, dtype=torch.float64)
    # nflows widens its last knot by 1e-6 in the bin search: a point within that of a knot
    # can fall in the neighbouring bin there, which moves its inverse by ~1e-7
    torch.testing.assert_close(ours.from_base(z, c), theirs.from_base(z, c), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ours.to_base(ours.from_base(z, c), c), z)


@pytest.mark.parametrize(
    ("option", "value"), [("flow_type", "autoregressive"), ("transform", "affine")]
)
def test_the_native_backend_refuses_what_it_does_not_build(option, value):
    with pytest.raises(SurrogateError, match="native.*spline coupling flows only") as info:
        Flow(backend="native", **{option: value}).fit(
            surrogate.simulator("toy.gmm2d").sample(200, seed=0), epochs=1, progress=False
        )
    assert "\n" not in str(info.value)


def _trained() -> Flow:
    data = surrogate.simulator("toy.gmm2d", conditional=True).sample(3000, seed=0)
    return Flow(backend="native", hidden=32, blocks=1, transforms=4).fit(
        data, seed=0, epochs=3, batch_size=256, lr=3e-3, progress=False
    )


@pytest.mark.parametrize("name", [n for n, _ in surrogate_checks(lambda: None)])
def test_a_native_flow_is_a_surrogate(name):
    dict(surrogate_checks(_trained))[name]()


def test_a_saved_native_flow_loads_as_native_and_samples_the_same(tmp_path):
    model = _trained()
    model.save(tmp_path / "m")
    loaded = surrogate.load(tmp_path / "m")
    assert loaded.settings.backend == "native"
    np.testing.assert_array_equal(
        loaded.sample(50, {"radius": 3.0}, seed=4)["x"],
        model.sample(50, {"radius": 3.0}, seed=4)["x"],
    )


def _fit(backend: str, amp: bool) -> Flow:
    data = surrogate.simulator("toy.gmm2d", conditional=True).sample(1000, seed=0)
    return Flow(backend=backend, hidden=16, blocks=1, transforms=2).fit(
        data, seed=0, epochs=2, batch_size=250, progress=False, amp=amp
    )


def test_amp_runs_the_native_coupling_networks_in_bfloat16_and_the_splines_in_float32():
    seen: set[torch.dtype] = set()

    def record(module, inputs, output):
        seen.add(output.dtype)

    handles = []
    original = Flow._build

    def build(self):
        nets = original(self)
        for m in nets["flow"].modules():
            if hasattr(m, "net"):
                handles.append(m.net.register_forward_hook(record))
        return nets

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Flow, "_build", build)
        model = _fit("native", amp=True)
    for h in handles:
        h.remove()
    assert torch.bfloat16 in seen  # in training, under autocast
    events, log_q = model.sample_and_log_prob(200, {"radius": 3.0}, seed=1)
    assert events["x"].dtype == np.float32 and np.isfinite(log_q).all()
    np.testing.assert_allclose(model.log_prob(events), log_q, rtol=1e-4, atol=1e-4)


def test_amp_is_ignored_by_the_nflows_backend():
    """nflows' splines would get bfloat16 parameters: the run is the full-precision one."""
    with_amp, without = _fit("nflows", amp=True), _fit("nflows", amp=False)
    for a, b in zip(with_amp.parameters(), without.parameters(), strict=True):
        assert torch.equal(a, b)
