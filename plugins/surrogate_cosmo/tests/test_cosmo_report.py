"""The density-field section of the validation report (``cosmo.fields``): a report on
small lognormal maps has every figure, written as non-empty PNG and PDF files; cubes get
slices and no Minkowski functionals; fields it cannot draw one statistic from leave a
note, not a broken section."""

from __future__ import annotations

import json

import numpy as np
import pytest

import surrogate
from surrogate.interfaces import Surrogate
from surrogate.validation import validate
from surrogate.validation.sections import SectionData, render_sections, sections_for
from surrogate_cosmo.report import FieldSection

MAP_OPTIONS = {"output": "maps", "grid": 32, "box": 128, "maps_per_run": 1}
MAP_FIGURES = [
    "maps",
    "power_spectrum",
    "log_density_pdf",
    "peak_counts",
    "minkowski",
    "response",
]


class Scaled(Surrogate):
    """A stand-in for a trained model: the simulator's fields, their contrast scaled by
    ``scale`` (5 % more power at every k at 1.05; 0 gives empty, constant fields)."""

    name = "scaled"
    defaults = {"scale": 1.05}

    def __init__(self, sim, **hyperparameters):
        super().__init__(sim.spec, **hyperparameters)
        self.sim = sim
        self.provenance = {"data_producer": sim.name, "data_options": dict(sim.options)}

    def _fit(self, data, *, seed, workdir, **options):
        raise NotImplementedError("a stand-in is not trained")

    def _sample(self, n, conditions, rng):
        delta = self.sim.sample(n, conditions, seed=rng)["delta"]
        return {"delta": np.maximum(delta * self.hyperparameters["scale"], -1.0)}

    def _state(self):
        return {}

    def _load_state(self, state):
        pass


@pytest.fixture(scope="module")
def map_report(tmp_path_factory):
    sim = surrogate.simulator("cosmo.lognormal", **MAP_OPTIONS)
    out = tmp_path_factory.mktemp("cosmo") / "report"
    config = {"metrics": ["cosmo.power_spectrum"], "max_plots": 0, "seed": 3}
    return validate(Scaled(sim), simulator="cosmo.lognormal", n=16, out=out, config=config)


def _section(report):
    return {s["name"]: s for s in report.data["sections"]}["cosmo.fields"]


def _figures(section):
    return [i["name"] for i in section["items"] if i["kind"] == "figure"]


def test_a_map_report_has_every_figure(map_report):
    section = _section(map_report)
    assert section["error"] is None and section["title"] == "Density fields"
    assert _figures(section) == MAP_FIGURES
    for item in section["items"]:
        if item["kind"] == "figure":
            png, pdf = map_report.out / item["png"], map_report.out / item["pdf"]
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
            assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000
    html = map_report.html_path.read_text()
    assert "<h2>Density fields</h2>" in html and "cosmic-variance band" in html
    assert html.count("data:image/png;base64,") == len(MAP_FIGURES)
    data = json.loads(map_report.json_path.read_text())
    assert data["sections"][0]["items"][0]["png"] == "sections/cosmo.fields.maps.png"


def test_the_response_table_has_one_row_per_condition(map_report):
    (table,) = [i for i in _section(map_report)["items"] if i["kind"] == "table"]
    assert [row[0] for row in table["rows"]] == ["omega_m", "sigma8"]
    for row in table["rows"]:
        assert all(isinstance(v, float) and np.isfinite(v) for v in row[1:])
    # more sigma8, more power: the reference's response is clearly positive
    sigma8 = table["rows"][1]
    assert sigma8[2] > 2 * sigma8[3] > 0


def test_maps_share_one_colour_scale_and_notes_name_the_caveats(map_report):
    section = _section(map_report)
    maps = next(i for i in section["items"] if i.get("name") == "maps")
    assert maps["wide"] and "one colour scale" in maps["caption"]
    texts = " ".join(i["text"] for i in section["items"] if i["kind"] == "text")
    assert "share its cosmology and initial phases" in texts


def _render(sim, generated, tmp_path):
    ctx = {"simulator": sim.name, "simulator_options": dict(sim.options), "model": "x"}
    (section,) = [s for s in sections_for(sim.spec, ctx) if s.name == "cosmo.fields"]
    ref_a, ref_b = sim.sample(8, seed=1), sim.sample(8, seed=2)
    data = SectionData(ref_a, ref_b, generated, sim.spec, ctx, "model")
    return render_sections([section], data, tmp_path)[0]


def test_cubes_get_slices_and_no_minkowski_functionals(tmp_path):
    sim = surrogate.simulator("cosmo.lognormal", grid=16, box=64)
    section = _render(sim, sim.sample(8, seed=3), tmp_path)
    assert section["error"] is None
    assert _figures(section) == [f for f in MAP_FIGURES if f != "minkowski"]
    maps = next(i for i in section["items"] if i.get("name") == "maps")
    assert "mid-plane slices" in maps["caption"]


def test_constant_generated_fields_leave_notes_not_a_broken_section(tmp_path):
    sim = surrogate.simulator("cosmo.lognormal", **{**MAP_OPTIONS, "grid": 16})
    empty = Scaled(sim, scale=0.0).sample(8, seed=3)
    section = _render(sim, empty, tmp_path)
    assert section["error"] is None
    assert "peak_counts" not in _figures(section) and "minkowski" not in _figures(section)
    assert {"maps", "power_spectrum", "log_density_pdf"} <= set(_figures(section))
    texts = [i["text"] for i in section["items"] if i["kind"] == "text"]
    assert any(t.startswith("peak counts: not drawn (") for t in texts)


def test_the_section_binds_to_even_grids_of_delta_only():
    maps = surrogate.simulator("cosmo.lognormal", **MAP_OPTIONS).spec
    toy = surrogate.simulator("toy.gmm2d").spec
    assert FieldSection().bind(toy, {}) is None
    bound = FieldSection().bind(maps, {"simulator_options": {"box": 128}})
    assert bound.geometry.ndim == 2 and bound.geometry.n == 32 and bound.geometry.box == 128
    unknown = FieldSection().bind(maps, {})
    assert unknown.geometry.box is None  # k in units of k_F, said in the notes
