"""The model's log-density of its generated events reaches the metrics and sections that
ask for it (``needs_log_density``): computed once, by the harness, for a model whose
density is exact; absent for the reference samples and when nothing asks."""

from __future__ import annotations

import numpy as np
import pytest

import surrogate
from surrogate import hookimpl
from surrogate.metrics import Metric, MetricError, MetricResult, Sample
from surrogate.testing import plugin_registry
from surrogate.validation import validate
from surrogate.validation.sections import ReportSection


class MeanLogDensity(Metric):
    """The mean model log-density of the second sample (NaN without one)."""

    description = "mean log q of the generated events"
    inputs = "events"
    needs_log_density = True
    seen: list[tuple[str, np.ndarray | None]] = []

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        MeanLogDensity.seen.append((generated.label, generated.log_density))
        ld = generated.log_density
        return MetricResult(np.nan if ld is None else float(ld.mean()))


class Blind(Metric):
    """Reads no density: the log-density it sees stays None."""

    description = "a metric that asks for nothing"
    inputs = "events"
    seen: list[np.ndarray | None] = []

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        Blind.seen.append(generated.log_density)
        return MetricResult(0.0)


class DensitySection(ReportSection):
    title = "Density"
    needs_log_density = True
    seen: list[np.ndarray | None] = []

    def render(self, data, out):
        DensitySection.seen.append(data.generated_log_density)
        out.text("seen")


class Metrics:
    @hookimpl
    def register_metrics(self, register):
        register("test.mean_log_density", MeanLogDensity)
        register("test.blind", Blind)


class Sections:
    @hookimpl
    def register_report_sections(self, register):
        register("test.density", DensitySection)


def _run(model_dir, out, metrics, *plugins):
    for cls in (MeanLogDensity, Blind, DensitySection):
        cls.seen.clear()
    with plugin_registry(*plugins):
        return validate(model_dir, simulator="toy.gmm2d", n=300, out=out, config=metrics)


def test_the_harness_fills_the_generated_samples_log_density(toy_model_dir, tmp_path):
    config = {"metrics": ["test.mean_log_density"]}
    report = _run(toy_model_dir, tmp_path / "r", config, ("m", Metrics()), ("s", Sections()))
    (label, model_ld), (floor_label, floor_ld) = MeanLogDensity.seen
    assert label == "model" and floor_label == "reference B" and floor_ld is None
    assert model_ld.shape == (300,) and model_ld.dtype == np.float64
    row = report.data["metrics"][0]
    assert row["model"]["value"] == pytest.approx(float(model_ld.mean()))
    assert row["floor"]["value"] is None  # NaN: no density for a reference sample
    assert "log density" in report.data["runtime"]["stages_seconds"]
    (section_ld,) = DensitySection.seen
    np.testing.assert_array_equal(section_ld, model_ld)


def test_it_is_the_models_log_prob_of_its_own_events(toy_model_dir):
    from surrogate.validation import harness

    model = surrogate.load(toy_model_dir)
    events = model.sample(50, seed=3)

    class Plan:  # what _log_density reads of the plan
        batch_size = 20

    Plan.model = model
    np.testing.assert_allclose(harness._log_density(Plan, events), model.log_prob(events))


def test_nothing_is_computed_when_nothing_asks(toy_model_dir, tmp_path):
    report = _run(toy_model_dir, tmp_path / "r", {"metrics": ["test.blind"]}, ("m", Metrics()))
    assert Blind.seen == [None, None]
    assert "log density" not in report.data["runtime"]["stages_seconds"]


def test_a_section_alone_may_ask(toy_model_dir, tmp_path):
    config = {"metrics": ["test.blind"]}
    _run(toy_model_dir, tmp_path / "r", config, ("m", Metrics()), ("s", Sections()))
    (section_ld,) = DensitySection.seen
    assert section_ld.shape == (300,)
    np.testing.assert_array_equal(Blind.seen[0], section_ld)  # computed once, for all
    assert Blind.seen[1] is None


def test_a_sample_checks_its_log_density():
    x = np.zeros((4, 2))
    s = Sample.from_arrays(x)
    assert s.log_density is None
    ld = Sample(None, {"a": np.zeros(4)}, log_density=[0, 1, 2, 3]).log_density
    assert ld.dtype == np.float64 and ld.tolist() == [0, 1, 2, 3]
    with pytest.raises(MetricError, match="log-densities differ in length"):
        Sample(None, {"a": np.zeros(4)}, log_density=np.zeros(3))
    with pytest.raises(MetricError, match="one value per event"):
        Sample(None, {"a": np.zeros(4)}, log_density=np.zeros((4, 1)))
