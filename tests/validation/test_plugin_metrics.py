"""Domain plugins add observable sets through ``register_observables`` and metrics through
``register_metrics``, exactly like the core's generic ones."""

from __future__ import annotations

import numpy as np
import pytest

from surrogate import hookimpl
from surrogate.metrics import (
    Metric,
    MetricResult,
    Observable,
    ObservableSet,
    metrics_for,
    observable_sets_for,
)
from surrogate.testing import plugin_registry
from surrogate.validation import validate


class RadiusObservables(ObservableSet):
    """A 'domain' set: the distance from the origin, only for data with a field x."""

    name = "ring.observables"

    def bind(self, spec, context):
        return self if "x" in spec.field_names else None

    def observables(self, events):
        r = np.linalg.norm(events["x"], axis=1)
        return {
            "r": Observable(r, "distance from the origin", "", bins=np.linspace(0, 5, 51)),
            "phi": Observable(
                np.arctan2(events["x"][:, 1], events["x"][:, 0]), "angle", group="angles"
            ),
        }


class MeanRadius(Metric):
    description = "difference of the mean radius"
    inputs = "observables"
    defaults = {"absolute": True}

    def bind(self, spec, context):
        return self if context.get("simulator") == "toy.gmm2d" else None

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        d = generated.observables["r"].values.mean() - reference.observables["r"].values.mean()
        return MetricResult(abs(d) if self.options["absolute"] else d)


class NeverApplies(Metric):
    description = "for calorimeters only"

    def bind(self, spec, context):
        return None


class Plugin:
    @hookimpl
    def register_observables(self, register):
        register("ring.observables", RadiusObservables)

    @hookimpl
    def register_metrics(self, register):
        register("ring.mean_radius", MeanRadius)
        register("calo.never", NeverApplies)


class Misregistered:
    """An observable set registered as a metric (the hook of old): skipped, with a word."""

    @hookimpl
    def register_metrics(self, register):
        register("ring.observables", RadiusObservables)


@pytest.fixture
def with_plugin():
    with plugin_registry(("ring", Plugin())) as registry:
        yield registry


def test_domain_set_replaces_generic(with_plugin, toy_model_dir):
    import surrogate

    spec = surrogate.load(toy_model_dir).spec
    sets = observable_sets_for(spec, {"simulator": "toy.gmm2d"})
    assert [s.name for s in sets] == ["ring.observables"]
    names = [m.name for m in metrics_for(spec, {"simulator": "toy.gmm2d"})]
    assert "ring.mean_radius" in names and "calo.never" not in names
    assert "separation_power" in names
    assert "ring.mean_radius" not in [m.name for m in metrics_for(spec, {"simulator": None})]


def test_sets_and_metrics_are_listed_apart(with_plugin):
    assert "ring.observables" in with_plugin.names("observables")
    assert "generic" in with_plugin.names("observables")
    assert "ring.observables" not in with_plugin.names("metric")
    assert "generic" not in with_plugin.names("metric")
    assert with_plugin.label("observables") == "observable sets"


def test_a_set_registered_as_a_metric_is_skipped_with_a_warning(toy_model_dir, caplog):
    import surrogate

    spec = surrogate.load(toy_model_dir).spec
    with plugin_registry(("ring", Misregistered())):
        names = [m.name for m in metrics_for(spec, {})]
        sets = [s.name for s in observable_sets_for(spec, {})]
    assert "ring.observables" not in names and "separation_power" in names
    assert sets == ["generic"]
    assert "metric 'ring.observables' (plugin 'ring') is a RadiusObservables" in caplog.text


def test_plugin_metric_in_the_report(with_plugin, toy_model_dir, tmp_path):
    rep = validate(
        toy_model_dir,
        simulator="toy.gmm2d",
        n=1000,
        out=tmp_path / "v",
        config={
            "metrics": {"ring.mean_radius": {}, "separation_power": {"bootstrap": 0}},
            "bounds": [
                {"metric": "separation_power", "observable": "angles", "max_ratio": 100},
                {"metric": "ring.mean_radius", "max": 0.5},
            ],
        },
    )
    rows = {r["name"]: r for r in rep.data["metrics"]}
    assert set(rows) == {"ring.mean_radius", "separation_power"}
    sp = rows["separation_power"]["model"]
    assert set(sp["per_observable"]) == {"r", "phi"} and set(sp["groups"]) == {"r", "angles"}
    obs = {o["name"]: o for o in rep.data["observables"]}
    assert obs["r"]["fixed_bins"] and obs["phi"]["group"] == "angles"
    assert rep.status == "pass"
    assert rep.data["settings"]["observable_sets"] == ["ring.observables"]
