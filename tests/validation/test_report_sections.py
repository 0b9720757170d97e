"""Domain plugins add sections to the validation report through
``register_report_sections``: bound to the data like an observable set, drawn from the
three samples, filed into report.json, report.html and sections/; a section that fails
is shown as failed, and the report is still written."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from validation_helpers import CHEAP

from surrogate import hookimpl
from surrogate.schemas import validate as validate_schema
from surrogate.testing import plugin_registry
from surrogate.validation import validate
from surrogate.validation.sections import ReportSection, new_figure, sections_for


class RadiusSection(ReportSection):
    """A 'domain' section: the radius of reference and generated events, and a table of
    the mean radius in two bins of the condition."""

    title = "Ring radius"
    description = "distance from the origin, reference A against the model"

    def bind(self, spec, context):
        return self if "x" in spec.field_names else None

    def render(self, data, out):
        fig = new_figure((4, 3))
        ax = fig.add_subplot()
        for events, label in ((data.reference, "reference A"), (data.generated, "model")):
            ax.hist(np.linalg.norm(events["x"], axis=1), bins=30, histtype="step", label=label)
        ax.legend()
        out.figure(fig, "radius", "radius of the events")
        cut = np.median(data.reference["radius"])
        rows = []
        for events, label in ((data.reference, "reference A"), (data.generated, "model")):
            r = np.linalg.norm(events["x"], axis=1)
            low = events["radius"] <= cut
            rows.append([label, r[low].mean(), r[~low].mean(), None])
        out.table(["sample", "mean r (low)", "mean r (high)", "note"], rows, "by condition")
        out.text(f"split at radius = {cut:.3g}")


class ElsewhereSection(ReportSection):
    title = "Only for calorimeters"

    def bind(self, spec, context):
        return None

    def render(self, data, out):  # pragma: no cover - never bound
        raise AssertionError("a section that does not apply is never rendered")


class BrokenSection(ReportSection):
    """Draws one figure, then fails: the figure is kept, the error shown."""

    title = "Broken"

    def render(self, data, out):
        out.figure(new_figure((3, 2)), "first")
        raise ValueError("no such statistic")


class Plugin:
    @hookimpl
    def register_report_sections(self, register):
        register("ring.radius", RadiusSection)
        register("ring.elsewhere", ElsewhereSection)
        register("ring.broken", "test_report_sections:BrokenSection")


class Misregistered:
    @hookimpl
    def register_report_sections(self, register):
        register("ring.not_a_section", object)


@pytest.fixture(scope="module")
def sectioned(toy_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sections") / "report"
    with plugin_registry(("ring", Plugin())):
        logger = logging.getLogger("surrogate.validation")
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logger.addHandler(handler)
        try:
            report = validate(toy_model_dir, simulator="toy.gmm2d", n=600, out=out, config=CHEAP)
        finally:
            logger.removeHandler(handler)
    return report, records


def test_a_registered_section_is_in_the_report(sectioned):
    report, _ = sectioned
    data = json.loads(report.json_path.read_text())
    assert validate_schema(data, "report") == []
    section = {s["name"]: s for s in data["sections"]}["ring.radius"]
    assert section["title"] == "Ring radius" and section["error"] is None
    assert [i["kind"] for i in section["items"]] == ["figure", "table", "text"]
    fig = section["items"][0]
    assert fig["png"] == "sections/ring.radius.radius.png"
    assert (report.out / fig["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (report.out / fig["pdf"]).read_bytes()[:5] == b"%PDF-"
    table = section["items"][1]
    assert table["columns"][0] == "sample" and len(table["rows"]) == 2
    assert table["rows"][0][3] is None
    html = report.html_path.read_text()
    assert "<h2>Ring radius</h2>" in html and "distance from the origin" in html
    assert "by condition" in html and "split at radius" in html
    # the histograms' images, then the sections' (the broken one's first figure too)
    assert html.count("data:image/png;base64,") == len(data["plots"]) + 2
    assert data["runtime"]["stages_seconds"]["sections"] >= 0


def test_a_section_that_does_not_apply_is_left_out(sectioned):
    report, _ = sectioned
    assert [s["name"] for s in report.data["sections"]] == ["ring.broken", "ring.radius"]
    assert "Only for calorimeters" not in report.html_path.read_text()


def test_a_failing_section_is_reported_and_the_report_written(sectioned):
    report, records = sectioned
    broken = report.data["sections"][0]
    assert broken["error"] == "ValueError: no such statistic"
    assert [i["name"] for i in broken["items"]] == ["first"]
    html = report.html_path.read_text()
    assert "This section failed" in html and "no such statistic" in html
    assert report.data["metrics"] and report.status == "no-bounds"
    warned = [r for r in records if "ring.broken" in r.getMessage()]
    assert warned and warned[0].levelno == logging.WARNING
    assert warned[0].exc_info is not None  # a bug, not bad data: its traceback is logged


def test_something_else_registered_as_a_section_is_skipped(toy_model_dir, caplog):
    import surrogate

    spec = surrogate.load(toy_model_dir).spec
    with plugin_registry(("ring", Misregistered())) as registry:
        assert registry.label("report_section") == "report sections"
        assert sections_for(spec, {}) == []
    assert "report_section 'ring.not_a_section' (plugin 'ring') is a object" in caplog.text


def test_a_table_row_of_the_wrong_width_is_refused(tmp_path):
    from surrogate.validation.sections import SectionWriter

    with pytest.raises(ValueError, match="table row 1 has 1 cells, not 2"):
        SectionWriter(tmp_path, "x").table(["a", "b"], [[1, 2], [3]])
