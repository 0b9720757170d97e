"""The ``conv`` backbone: the body each role gets in 2-D and 3-D, periodic padding (shifts of
the box commute with the U-Net), FiLM conditioning, the zero start, refusals, and the VAE,
GAN and diffusion families trained on small periodic maps, saved and loaded."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
import torch

from surrogate import EventSpec, Field
from surrogate.errors import SpecError, SurrogateError
from surrogate.events import Events
from surrogate.factories import load
from surrogate.spec import Condition
from surrogate.testing import surrogate_checks
from surrogate_generators.backbones import ResidualMLP, make_backbone
from surrogate_generators.conv import ConvBackbone, ConvBlock
from surrogate_generators.diffusion import Diffusion
from surrogate_generators.flow import Flow
from surrogate_generators.gan import GAN
from surrogate_generators.vae import VAE

TINY = {"hidden": 8, "blocks": 1, "backbone_options": {"levels": 2}}
SHAPES = [(16, 16), (8, 8, 8)]
MAP = (16, 16)


def net(shape, fin, fout, context=3, **options):
    kwargs = {"hidden": 8, "blocks": 1, "levels": 2, **options}
    return make_backbone("conv", fin, fout, context, shape=shape, **kwargs).double()


@pytest.mark.parametrize("shape", SHAPES)
def test_each_role_gets_its_body_and_shape(shape):
    size = math.prod(shape)
    roles = {
        (size, size): "unet",  # a denoiser
        (size, 2): "encoder",  # a discriminator, a VAE encoder (2 * latent)
        (4, size): "decoder",  # a generator, a VAE decoder
        (4, 2 * size): "decoder",  # a heteroscedastic decoder: mean and log-scale channels
        (2 * size, size): "unet",
    }
    for (fin, fout), role in roles.items():
        body = net(shape, fin, fout)
        out = body(torch.randn(5, fin, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64))
        assert body.role == role and out.shape == (5, fout), (fin, fout, body.role, out.shape)
    convs = {type(m) for m in net(shape, size, size).modules() if isinstance(m, torch.nn.Conv2d)}
    assert bool(convs) == (len(shape) == 2)  # 3-D events get Conv3d, from the same code
    assert all(
        m.padding_mode == "circular"
        for m in net(shape, size, 1).modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)) and m.kernel_size[0] > 1
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_unet_commutes_with_shifts_of_the_periodic_box(shape):
    """Shifting the box by a multiple of 2**levels (the pooling factor) shifts the U-Net's
    output alike; a shift by 1 commutes with one block (circular padding: no edges)."""
    size, rank = math.prod(shape), len(shape)
    unet = net(shape, size, size)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, *shape, generator=gen, dtype=torch.float64)
    c = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    dims = tuple(range(2, 2 + rank))
    shift = tuple(4 * (k + 1) % shape[k] for k in range(rank))  # multiples of 2**2

    def f(a):
        return unet(a.reshape(2, -1), c).reshape(a.shape)

    torch.testing.assert_close(f(torch.roll(x, shift, dims)), torch.roll(f(x), shift, dims))
    block = ConvBlock(rank, 1, 4, 3, "silu", 0.0, True).double()
    one = (1,) + (0,) * (rank - 1)
    torch.testing.assert_close(
        block(torch.roll(x, one, dims), c), torch.roll(block(x, c), one, dims)
    )


@pytest.mark.parametrize("roles", [(256, 256), (256, 2), (4, 256)])
def test_film_context_changes_every_body(roles):
    body = net(MAP, *roles)
    x = torch.randn(3, roles[0], dtype=torch.float64)
    c = torch.randn(3, 3, dtype=torch.float64)
    assert not torch.allclose(body(x, c), body(x, c + 1.0))
    with pytest.raises(ValueError, match="conditional"):
        body(x)
    unconditional = net(MAP, *roles, context=0)
    assert unconditional(x).shape == (3, roles[1])


def test_zero_init_starts_at_zero_and_norm_is_optional():
    for fin, fout in [(256, 256), (256, 2), (4, 256)]:
        body = net(MAP, fin, fout, zero_init=True)
        out = body(torch.randn(2, fin, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64))
        assert torch.count_nonzero(out) == 0
    plain = net(MAP, 256, 256, norm=False)
    assert not any(isinstance(m, torch.nn.GroupNorm) for m in plain.modules())


def test_bad_shapes_and_options_are_one_line_errors():
    with pytest.raises(SpecError, match=r"\(18, 18\).*levels <= 1") as exc:
        make_backbone("conv", 324, 324, shape=(18, 18), levels=2)
    assert "\n" not in str(exc.value)
    with pytest.raises(SpecError, match="not a 2-D or 3-D grid"):
        make_backbone("conv", 16, 16, shape=(16,))
    with pytest.raises(SurrogateError, match="needs 3 channel multipliers"):
        make_backbone("conv", 256, 256, shape=MAP, levels=2, channels=[1, 2])
    with pytest.raises(SurrogateError, match="to or from a vector, not 100 -> 7"):
        make_backbone("conv", 100, 7, shape=MAP)
    with pytest.raises(SurrogateError, match="kernel"):
        make_backbone("conv", 256, 256, shape=MAP, kernel=5)
    with pytest.raises(SurrogateError, match="blocks >= 1"):
        make_backbone("conv", 256, 256, shape=MAP, blocks=0)


def maps(n: int = 256, shape=MAP, seed: int = 0) -> Events:
    """Smooth periodic Gaussian random fields (white noise filtered in Fourier space, so
    periodic by construction) whose amplitude is the condition ``amp``."""
    spec = EventSpec((Field("delta", shape),), (Condition("amp", low=0.5, high=1.5),))
    rng = np.random.default_rng(seed)
    axes = tuple(range(1, 1 + len(shape)))
    k2 = sum(np.meshgrid(*[np.fft.fftfreq(s) ** 2 for s in shape], indexing="ij"))
    noise = np.fft.fftn(rng.standard_normal((n, *shape)), axes=axes)
    field = np.fft.ifftn(noise * np.exp(-k2 * 40.0), axes=axes).real
    field /= field.std()
    amp = rng.uniform(0.5, 1.5, n)
    delta = amp.reshape(-1, *[1] * len(shape)) * field
    return Events({"delta": delta.astype(np.float32)}, {"amp": amp}, spec)


FAMILIES = {
    "vae": (VAE, {"latent": 4}),
    "gan": (GAN, {"latent": 8}),
    "diffusion": (Diffusion, {"embed": 8, "steps": 40, "sampling_steps": 4}),
}
QUICK = {"epochs": 2, "batch_size": 64, "lr": 2e-3, "progress": False}


@functools.cache
def trained(family: str):
    cls, options = FAMILIES[family]
    model = cls(backbone="conv", **TINY, **options)
    return model.fit(maps(), seed=0, **QUICK)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_families_train_on_periodic_maps_sample_and_round_trip(family, tmp_path):
    """The families' own code builds conv bodies for a map; a saved model reloads to the
    same samples (config.json records the backbone, the spec the shape)."""
    model = trained(family)
    roles = {name: body.role for name, body in _conv_bodies(model)}
    assert (
        roles
        == {
            "vae": {"encoder": "encoder", "decoder": "decoder"},
            "gan": {"gen": "decoder", "disc": "encoder"},
            "diffusion": {"eps": "unet"},
        }[family]
    )
    events = model.sample(6, {"amp": 1.0}, seed=1)
    assert events.fields["delta"].shape == (6, *MAP)
    assert np.isfinite(events.fields["delta"]).all()
    model.save(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert "conv" in json.dumps(config)
    loaded = load(tmp_path / "model")
    again = loaded.sample(6, {"amp": 1.0}, seed=1)
    np.testing.assert_allclose(again.fields["delta"], events.fields["delta"], rtol=1e-5, atol=1e-5)


def _conv_bodies(model):
    for name, module in model.networks().items():
        bodies = [m for m in module.modules() if isinstance(m, ConvBackbone)]
        assert len(bodies) == 1, name
        yield name, bodies[0]


@pytest.mark.parametrize("name", [n for n, _ in surrogate_checks(lambda: None)])
def test_conv_vae_conformance(name):
    dict(surrogate_checks(lambda: trained("vae"), n=16))[name]()


def test_conv_refused_where_it_cannot_work_and_mlp_stays_the_default():
    with pytest.raises(SurrogateError, match="flow.*'conv'.*use 'mlp'") as exc:
        Flow(backbone="conv")
    assert "\n" not in str(exc.value)
    vector = EventSpec((Field("energies", (5, 4)), Field("total", ())))
    with pytest.raises(SpecError, match=r"one 2-D or 3-D field.*energies \(5, 4\)"):
        VAE(vector, backbone="conv", **TINY)._build()
    with pytest.raises(SpecError, match=r"\(20, 20\)"):  # not divisible by 2**3 (the default)
        VAE(EventSpec((Field("delta", (20, 20)),)), backbone="conv", hidden=4)._build()
    # a map keeps the MLP unless asked: the default backbone is unchanged
    default = VAE(maps(4).spec, hidden=8)._build()
    assert isinstance(default["encoder"].body, ResidualMLP)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bfloat16_sampling_runs_the_networks_in_bfloat16_and_stays_near_float32(family, tmp_path):
    """``sample_precision`` is every torch family's: the same weights and seed give draws
    that differ (the networks did run in bfloat16) by about bfloat16's 0.4 % a number
    compounded over a few layers (rms 0.1-1.2 % of the maps' spread here), not more."""
    model = trained(family)
    half = load(model.save(tmp_path / "model"))
    half.settings = half.settings_class(**{**half.hyperparameters, "sample_precision": "bfloat16"})
    a = model.sample(64, {"amp": 1.0}, seed=3).fields["delta"]
    b = half.sample(64, {"amp": 1.0}, seed=3).fields["delta"]
    assert b.dtype == np.float32
    assert not np.array_equal(a, b)
    assert np.sqrt(np.mean((a - b) ** 2)) < 0.03 * a.std()


def test_bfloat16_sampling_is_refused_where_the_maths_needs_float32():
    with pytest.raises(SurrogateError, match="'flow' cannot run its networks in bfloat16") as exc:
        Flow(backend="nflows", sample_precision="bfloat16")
    assert "\n" not in str(exc.value)
    Flow(backend="native", sample_precision="bfloat16")  # its splines stay in float32
    with pytest.raises(SurrogateError, match="sample_precision must be one of"):
        VAE(sample_precision="float16")
