"""The ``calo.layers`` split: the layer energies and the energy-normalised voxels, a
bijection with an exact Jacobian (checked by finite differences on the ``test``
geometry), empty layers, the inverse's threshold and rescaling to stage 1's energies,
and a two-stage model of ``calo.gflash`` showers trained from the command line."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import surrogate
from surrogate.cli import main
from surrogate.errors import SpecError
from surrogate.events import Events
from surrogate.registry import get_registry
from surrogate.splits import make_split, numerical_logdet
from surrogate.testing import surrogate_checks
from surrogate_calo import get_geometry
from surrogate_calo.io import challenge_spec
from surrogate_calo.preprocessing import LayerFractions
from surrogate_calo.split import LayerSplit

TINY = {"hidden": 16, "blocks": 1, "transforms": 2}
QUICK = {"epochs": 2, "batch_size": 128, "lr": 3e-3, "progress": False}


def layers(**options) -> LayerSplit:
    split = make_split({"type": "calo.layers", "geometry": "test", **options})
    assert isinstance(split, LayerSplit)
    return split


@functools.cache
def showers() -> Events:
    return surrogate.simulator("calo.gflash", geometry="test").sample(600, seed=0)


@functools.cache
def trained():
    sim = surrogate.simulator("calo.gflash", geometry="test")
    model = surrogate.surrogate(
        "twostage", split=sim.split(), stage1_options=TINY, stage2_options=TINY
    )
    return model.fit(showers(), seed=0, **QUICK)


def test_gflash_offers_the_split_with_its_threshold():
    assert "calo.layers" in get_registry().names("split")
    config = surrogate.simulator("calo.gflash", geometry="test", threshold=0.5).split()
    assert config == {"type": "calo.layers", "geometry": "test", "threshold": 0.5}
    assert make_split(config).threshold == 0.5
    assert layers().threshold == get_geometry("test").readout_threshold


def test_the_anchors_are_the_layer_fractions_voxels_nearest_the_axis():
    split, geo = layers(), get_geometry("test")
    step = LayerFractions({"type": LayerFractions.type, "geometry": "test"}, challenge_spec(geo), 0)
    assert split.anchors == step.anchors == [0, 16, 32, 48, 64, 80]
    r = geo.coordinates["r"]
    assert all(r[a] == r[sl].min() for a, sl in zip(split.anchors, split.slices, strict=True))
    spec = challenge_spec(geo)
    assert split.summary_spec(spec).field("layer_energies").shape == (6,)
    assert split.rest_spec(spec).field("fractions").shape == (90,)
    assert split.rest_spec(spec).condition_names[1:] == tuple(
        f"layer_energies_{i}" for i in range(6)
    )


def test_the_logdet_is_exact():
    """-sum_l (n_l - 1) log E_l, against central finite differences of the map."""
    data, split = showers()[:6], layers()
    x = {"showers": data["showers"].astype(np.float64) + 0.3}  # inside: no voxel at 0
    summary, _, logdet = split.forward(x, data.conditions)
    numeric = numerical_logdet(split, data.spec, x, data.conditions)
    np.testing.assert_allclose(numeric, logdet, rtol=1e-7)
    closed = -(15 * np.log(summary["layer_energies"])).sum(axis=1)
    np.testing.assert_allclose(logdet, closed, rtol=1e-12)


def test_empty_layers_have_no_fractions_and_no_jacobian():
    data, split = showers(), layers()
    summary, rest, logdet = split.forward(data.fields, data.conditions)
    energies = summary["layer_energies"]
    empty = energies == 0
    assert empty.any() and not empty.all(axis=1).any()
    fractions = rest["fractions"].reshape(len(data), 6, 15)
    assert (fractions[empty] == 0).all()
    assert fractions.min() >= 0 and fractions.max() <= 1
    expected = -(15 * np.log(np.where(empty, 1.0, energies))).sum(axis=1)
    np.testing.assert_allclose(logdet, expected, rtol=1e-12)
    back = split.inverse(summary, rest, data.conditions)["showers"]
    np.testing.assert_allclose(back, data["showers"], rtol=1e-6, atol=1e-9)


def compositions(rng, n):
    """Fractions of proper layers: each layer's 16 shares add up to one."""
    shares = rng.dirichlet(np.ones(16), size=(n, 6))
    return shares[:, :, 1:].reshape(n, 90)  # the anchor is the first voxel of a layer


def test_the_inverse_thresholds_and_keeps_stage_ones_energies():
    rng = np.random.default_rng(1)
    n, threshold = 40, 2.0
    energies = rng.uniform(10, 5000, (n, 6))
    energies[0, 2] = 0.0  # an empty layer
    energies[1, 3] = 1.5  # every voxel under the threshold: all of it in the anchor
    fractions = compositions(rng, n)
    fractions[2, 15:30] *= 3.0  # layer 1's voxels overshoot its energy: anchor 0, scaled
    x = layers(threshold=threshold).inverse(
        {"layer_energies": energies}, {"fractions": fractions}, {}
    )["showers"]
    blocks = x.reshape(n, 6, 16)
    np.testing.assert_allclose(blocks.sum(axis=2), energies, rtol=1e-12)
    assert (x >= 0).all()
    assert (blocks[0, 2] == 0).all() and blocks[1, 3, 0] == 1.5 and blocks[2, 1, 0] == 0
    read_out = np.delete(blocks.reshape(n * 6, 16), 1 * 6 + 3, axis=0)  # but the 1.5 MeV
    assert ((read_out == 0) | (read_out >= threshold)).all()  # as calo.gflash reads out


def test_the_split_refuses_other_events_and_options():
    toy = surrogate.simulator("toy.gmm2d").spec
    with pytest.raises(SpecError, match=r"^split 'calo.layers': applies to events of one"):
        layers().summary_spec(toy)
    with pytest.raises(SpecError) as info:
        layers(geometry="1-photons").rest_spec(showers().spec)
    assert str(info.value) == (
        "split 'calo.layers': field 'showers' has 96 values, geometry '1-photons' 368 voxels"
    )
    with pytest.raises(SpecError, match=r"^split 'calo.layers': needs 'geometry'"):
        make_split("calo.layers")
    with pytest.raises(SpecError, match=r"^split 'calo.layers': threshold must be >= 0"):
        layers(threshold=-1)
    with pytest.raises(SpecError, match=r"^split 'calo.layers': .*nosuch"):
        layers(geometry="nosuch")


@pytest.mark.parametrize("name", [n for n, _ in surrogate_checks(lambda: None)])
def test_two_stage_showers_conformance(name):
    dict(surrogate_checks(trained))[name]()


def test_generated_layer_energies_are_stage_ones(monkeypatch):
    model = trained()
    stage1 = model.stages["stage1"]
    drawn = []

    def sample(*args, **kwargs):
        drawn.append(type(stage1).sample(stage1, *args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(stage1, "sample", sample)
    generated = model.sample(200, {"incident_energies": 2e4}, seed=3)
    energies = generated["showers"].astype(np.float64).reshape(200, 6, 16).sum(axis=2)
    np.testing.assert_allclose(energies, drawn[0]["layer_energies"], rtol=1e-5, atol=1e-3)
    voxels = generated["showers"]
    assert model.split.threshold > 0 and voxels[voxels > 0].min() >= model.split.threshold
    assert model.density == "exact" and np.isfinite(model.log_prob(generated)).all()


def test_surrogate_train_twostage_with_the_simulators_split(tmp_path, capsys):
    data, out, gen = tmp_path / "ds.h5", tmp_path / "model", tmp_path / "gen.h5"
    simulate = ["simulate", "calo.gflash", "-n", "300", "--option", "geometry=test"]
    assert main([*simulate, "-o", str(data), "--seed", "1"]) == 0
    tiny = '{"hidden": 16, "blocks": 1, "transforms": 2}'
    train = ["train", "twostage", "--data", str(data), "--simulator", "calo.gflash"]
    options = ["--option", f"stage1_options={tiny}", "--option", f"stage2_options={tiny}"]
    assert main([*train, "-o", str(out), *options, "--epochs", "1", "--no-progress"]) == 0
    model = surrogate.load(out)
    assert model.hyperparameters["split"]["type"] == "calo.layers"
    assert model.hyperparameters["stage2_options"]["preprocessing"][0]["field"] == "fractions"
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
        "stage1",
        "stage2",
        "twostage-run.json",
    ]
    assert main(["sample", str(out), "-n", "20", "-o", str(gen), "--seed", "2"]) == 0
    capsys.readouterr()

    bad = '{"type": "calo.layers", "geometry": "1-photons"}'
    other = tmp_path / "other"
    assert main([*train, "-o", str(other), *options, "--option", f"split={bad}"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "geometry '1-photons' 368 voxels" in err
    assert not other.exists()


def test_a_mostly_empty_voxels_hits_stay_inside_the_flows_spline_range():
    """CaloGAN's layer-0 side rows (phi 0 and 2 of 3) hold a voxel in well under 1 % of
    the showers.  Standardised per voxel their hits sat 10-55 spreads out and no model
    drew them; with the fractions' spread floored they stay inside the flows' spline
    range (tail_bound 5), where a model can put mass."""
    from surrogate.preprocessing import Preprocessing

    sim = surrogate.simulator("calo.gflash", geometry="calogan")
    events = sim.sample(3000, seed=0)
    split = make_split(sim.split())
    _, rest, _ = split.forward(events.fields, events.conditions)
    chain = Preprocessing(split.preprocessing(events.spec)[1], split.rest_spec(events.spec))
    chain.fit([(rest, events.conditions)])
    y = chain.forward(rest, events.conditions)[0]["fractions"]
    side = [i for i, v in enumerate(split.kept) if v < 288 and v // 96 != 1]
    hits = np.asarray(rest["fractions"])[:, side] > 0
    assert 0 < hits.mean() < 0.01
    assert np.abs(y[:, side][hits]).max() < 5.0
