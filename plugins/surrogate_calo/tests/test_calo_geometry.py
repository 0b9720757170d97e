"""Geometries: the challenge's binning XML, materials and the GFlash stack quantities."""

from __future__ import annotations

import math

import numpy as np
import pytest

import surrogate
from surrogate import hookimpl
from surrogate.testing import plugin_registry
from surrogate_calo import (
    Geometry,
    GeometryError,
    Material,
    MaterialError,
    Stack,
    compound,
    geometry_from_dict,
    geometry_names,
    get_geometry,
    get_material,
    gflash_for,
    load_geometry,
    parse_binning,
)
from surrogate_calo.geometry import DATA, PolarLayer


@pytest.mark.parametrize(
    "name,voxels,layers",
    [
        ("1-photons", 368, (0, 1, 2, 3, 12)),
        ("1-pions", 533, (0, 1, 2, 3, 12, 13, 14)),
        ("2", 6480, tuple(range(45))),
        ("3", 40500, tuple(range(45))),
        ("calogan", 504, (0, 1, 2)),
        ("test", 96, tuple(range(6))),
    ],
)
def test_builtin_voxel_counts(name, voxels, layers):
    g = get_geometry(name)
    assert g.n_voxels == voxels
    assert g.relevant_layers == layers
    assert g.bin_edges[-1] == voxels
    assert len(g.coordinates["r"]) == voxels


def test_aliases_and_package_data():
    assert get_geometry("ds2") is get_geometry("2")
    assert (DATA / "binning_dataset_1_photons.xml").is_file()  # shipped in the package


def test_ds1_alpha_layers_and_coordinates_follow_the_challenge():
    g = get_geometry("1-photons")
    assert g.alpha_layers == (1, 2)
    # layer 1: 16 r bins x 10 alpha bins, r fastest; alpha centres of linspace(-pi, pi, 11)
    sl = g.layer_slice(1)
    r, a = g.coordinates["r"][sl], g.coordinates["alpha"][sl]
    assert r[:3].tolist() == [1.0, 3.0, 5.0]
    assert r[16] == 1.0 and a[15] == pytest.approx(-math.pi + math.pi / 10)
    assert a[16] == pytest.approx(-math.pi + 3 * math.pi / 10)
    np.testing.assert_allclose(g.coordinates["eta"][sl], r * np.cos(a))
    assert g.layer_grid(np.zeros((2, 368)), 1).shape == (2, 10, 16)


def test_calogan_cells():
    g = get_geometry("calogan")
    assert [(layer.n_y, layer.n_x) for layer in g.layers] == [(3, 96), (12, 12), (12, 6)]
    assert g.alpha_layers == (0, 1, 2)
    x = g.coordinates["eta"][g.layer_slice(0)]
    assert x[0] == pytest.approx(-237.5) and x[95] == pytest.approx(237.5)
    assert g.depth == {0: (0.0, 90.0), 1: (90.0, 437.0), 2: (437.0, 480.0)}


def test_material_critical_energies_match_the_notes():
    w, pb = get_material("W"), get_material("Pb")
    assert w.critical_energy() == pytest.approx(8.00, abs=0.01)
    assert pb.critical_energy() == pytest.approx(7.36, abs=0.01)
    assert w.critical_energy("geant4") == pytest.approx(3.88, abs=0.01)  # Geant4's mm slip
    assert w.x0_mm == pytest.approx(3.504, abs=0.002)
    # PDG fits 610 MeV / (Z + 1.24) for solids agree to ~3%
    assert w.critical_energy() == pytest.approx(610 / (74 + 1.24), rel=0.03)


def test_ds2_stack_matches_the_notes():
    p = get_geometry("2").parameters()
    assert p.x0 == pytest.approx(4.22, abs=0.01)
    assert p.moliere_radius == pytest.approx(9.5, abs=0.05)
    assert p.fs == pytest.approx(2.48, abs=0.01)
    assert p.ehat == pytest.approx(0.704, abs=0.001)
    assert p.z == pytest.approx(72.5, abs=0.05)
    assert get_geometry("2").depth_x0() == pytest.approx(36.26, abs=0.05)


def test_calogan_stack():
    p = get_geometry("calogan").parameters()
    assert p.x0 == pytest.approx(15.59, abs=0.02)  # 80 x (2 mm Pb + 4 mm LAr)
    assert p.fs == pytest.approx(2.60, abs=0.01)
    assert p.ehat == pytest.approx(1 / (1 + 0.007 * 64))
    assert get_geometry("calogan").depth_x0() == pytest.approx(30.8, abs=0.1)


def test_homogeneous_stack_and_custom_material():
    pbwo4 = get_material("PbWO4")
    p = Stack(pbwo4).parameters()
    assert not p.sampling and p.fs == math.inf and p.ehat == 1.0
    assert p.x0 == pytest.approx(8.90, abs=0.02)
    m = get_material({"name": "X", "z": 26, "a": 55.845, "density": 7.874})
    assert m.x0 == pytest.approx(13.84, rel=0.03)  # PDG approximation without a given X0


BINNING = """<Bins><Bin pid="11" name="electron">
  <Layer id="0" r_edges="0,1,3" n_bin_alpha="1"/>
  <Layer id="1" r_edges="0" n_bin_alpha="1"/>
  <Layer id="2" r_edges="0,2" n_bin_alpha="4"/>
</Bin></Bins>"""


def test_parse_binning():
    b = parse_binning("inline", text=BINNING)
    assert b.particle == "electron" and b.pid == 11
    assert [layer.n_voxels for layer in b.layers] == [2, 0, 4]


@pytest.mark.parametrize(
    "text,message",
    [
        ("<Bins><Bin", "not valid XML"),
        ("<Other/>", "expected <Bins>"),
        ("<Bins/>", "no <Bin>"),
        ('<Bins><Bin name="e"><Layer id="0" n_bin_alpha="1"/></Bin></Bins>', "'r_edges'"),
        (
            '<Bins><Bin name="e"><Layer id="0" r_edges="0,2,1" n_bin_alpha="1"/></Bin></Bins>',
            "increase strictly",
        ),
        (
            '<Bins><Bin name="e"><Layer id="0" r_edges="1,2" n_bin_alpha="1"/></Bin></Bins>',
            "start at 0",
        ),
        (
            '<Bins><Bin name="e"><Layer id="0" r_edges="0,a" n_bin_alpha="1"/></Bin></Bins>',
            "numbers",
        ),
        (
            '<Bins><Bin name="e"><Layer id="0" r_edges="0,1" n_bin_alpha="0"/></Bin></Bins>',
            "n_bin_alpha must be >= 1",
        ),
        (
            '<Bins><Bin name="e"><Layer id="1" r_edges="0,1" n_bin_alpha="1"/></Bin></Bins>',
            "ids must be 0, 1, 2",
        ),
        (
            '<Bins><Bin name="e"><Layer id="0" r_edges="0" n_bin_alpha="1"/></Bin></Bins>',
            "every layer is empty",
        ),
        ('<Bins><Bin name="e"></Bin></Bins>', "has no <Layer>"),
    ],
)
def test_malformed_binning_is_named(text, message):
    with pytest.raises(GeometryError, match=message):
        parse_binning("bad.xml", text=text)


def test_unknown_particle_and_missing_file(tmp_path):
    with pytest.raises(GeometryError, match="no <Bin name='pion'>"):
        parse_binning("x.xml", "pion", text=BINNING)
    with pytest.raises(GeometryError, match="cannot be read"):
        parse_binning(tmp_path / "missing.xml")


def _detector(tmp_path, **changes):
    (tmp_path / "b.xml").write_text(BINNING)
    data = {
        "name": "tiny",
        "binning": "b.xml",
        "stack": {
            "absorber": {"material": "W", "thickness_mm": 1.4},
            "active": {"material": "Si", "thickness_mm": 0.3},
        },
        "depth": {"unit": "mm", "layers": {0: [0, 10], 2: [10, 30]}},
        "energy_range_mev": [1000, 10000],
    }
    data.update(changes)
    return geometry_from_dict(data, base=tmp_path)


def test_detector_description(tmp_path):
    g = _detector(tmp_path)
    assert g.n_voxels == 6 and g.relevant_layers == (0, 2) and g.alpha_layers == (2,)
    assert g.z_end == 30.0


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"depth": {"unit": "mm", "layers": {0: [0, 10]}}}, "no depth for layer 2"),
        (
            {"depth": {"unit": "mm", "layers": {0: [0, 10], 1: [10, 20], 2: [20, 30]}}},
            "layer 1, which has no voxels",
        ),
        ({"depth": {"unit": "mm", "layers": {0: [0, 10], 2: [5, 30]}}}, "overlap"),
        ({"depth": {"unit": "mm", "thickness": [1, 2, 3]}}, "3 values for 2 layers"),
        ({"depth": {"unit": "cm", "thickness": 3}}, "'mm' or 'X0'"),
        ({"energy_range_mev": [10, 1]}, "0 < low <= high"),
        ({"colour": "red"}, "unknown key 'colour'"),
        (
            {"stack": {"active": {"material": "Unobtainium"}}},
            "unknown calo.material 'Unobtainium'.*or give z, a, density and x0",
        ),
        ({"expected_voxels": 7}, "6 voxels, expected 7"),
    ],
)
def test_inconsistent_detector_is_named(tmp_path, changes, message):
    with pytest.raises(GeometryError, match=message):
        _detector(tmp_path, **changes)


TINY = """
name: tiny
binning: b.xml
stack: {active: {material: PbWO4}}
depth: {unit: X0, thickness: [5, 20]}
energy_range_mev: [1000, 10000]
"""


class Registers:
    """A third-party plugin registering ``geometries`` and ``materials`` (name -> factory)."""

    def __init__(self, geometries=(), materials=()) -> None:
        self.geometries, self.materials = dict(geometries), dict(materials)

    @hookimpl
    def register_calo_geometries(self, register):
        for name, factory in self.geometries.items():
            register(name, factory)

    @hookimpl
    def register_calo_materials(self, register):
        for name, factory in self.materials.items():
            register(name, factory)


def test_load_by_path_or_by_registered_name(tmp_path):
    (tmp_path / "b.xml").write_text(BINNING)
    (tmp_path / "tiny.yaml").write_text(TINY)
    by_path = get_geometry(tmp_path / "tiny.yaml")
    assert by_path.n_voxels == 6
    assert by_path.depth[2][1] == pytest.approx(25 * get_material("PbWO4").x0_mm)
    assert "tiny" not in geometry_names()
    with plugin_registry(("tinydet", Registers({"tiny": tmp_path / "tiny.yaml"}))):
        assert "tiny" in geometry_names()
        # parsed once, on first use, and shared
        assert get_geometry("tiny") is get_geometry("tiny")
        assert get_geometry("tiny").n_voxels == 6
    assert "tiny" not in geometry_names()


@pytest.mark.parametrize("how", ["geometry", "callable", "import path"])
def test_every_factory_kind_gives_the_geometry(tmp_path, how, monkeypatch):
    (tmp_path / "b.xml").write_text(BINNING)
    (tmp_path / "tiny.yaml").write_text(TINY)
    geometry = load_geometry(tmp_path / "tiny.yaml")
    factory = {
        "geometry": geometry,
        "callable": lambda: geometry,
        "import path": f"{__name__}:TINY_GEOMETRY",
    }[how]
    monkeypatch.setitem(globals(), "TINY_GEOMETRY", geometry)
    with plugin_registry(("tinydet", Registers({"tiny": factory}))):
        assert get_geometry("tiny") is geometry


@pytest.mark.parametrize(
    "factory,message",
    [
        (lambda: 42, "registered int, not a Geometry"),
        ("no_such_module:geometry", "failed to import 'no_such_module:geometry'"),
        (DATA / "test.yaml", "registered as 'tiny' is named 'test'"),
    ],
)
def test_bad_registered_geometry_is_a_geometry_error(factory, message):
    with plugin_registry(("tinydet", Registers({"tiny": factory}))):
        with pytest.raises(GeometryError, match=message):
            get_geometry("tiny")
        # the others still work, and voxel-count hints skip the broken one
        with pytest.raises(GeometryError, match="geometry '2' has 6480.*'1-photons'"):
            get_geometry("2").check_voxels(368, "file.h5")


def test_a_built_in_name_registered_again_names_both_packages():
    with plugin_registry(("other", Registers({"2": DATA / "dataset_2.yaml"}))):
        with pytest.raises(GeometryError, match="'2' is registered by both.*'other'"):
            get_geometry("2")
        assert get_geometry("calogan").n_voxels == 504


def test_a_built_in_alias_registered_is_refused_when_used():
    with plugin_registry(("other", Registers({"ds2": DATA / "test.yaml"}))):
        with pytest.raises(GeometryError, match="'ds2' is registered, but it stands for.*'2'"):
            get_geometry("ds2")
        assert get_geometry("2").n_voxels == 6480


def test_invalid_names_break_the_registering_plugin_only():
    with plugin_registry(("bad", Registers({"My Det": DATA / "test.yaml"}))) as registry:
        assert registry.plugins["bad"].status == "broken"
        assert "invalid calo.geometry name 'My Det'" in registry.plugins["bad"].error
        assert get_geometry("test").n_voxels == 96


def test_registered_material_is_found_by_detector_files(tmp_path):
    steel = compound("Steel", 7.85, {"Fe": 0.98, "C": 0.02})
    (tmp_path / "b.xml").write_text(BINNING)
    (tmp_path / "tiny.yaml").write_text(TINY.replace("PbWO4", "Steel"))
    with pytest.raises(GeometryError, match="unknown calo.material 'Steel'"):
        load_geometry(tmp_path / "tiny.yaml")
    with plugin_registry(("steels", Registers(materials={"Steel": lambda: steel}))):
        assert get_material("Steel") is get_material("Steel") is steel  # built once
        assert load_geometry(tmp_path / "tiny.yaml").stack.active is steel
    misnamed = Registers(materials={"Iron": steel})
    with plugin_registry(("steels", misnamed)), pytest.raises(MaterialError, match="is named"):
        get_material("Iron")
    conflicting = Registers(materials={"Pb": steel})
    with plugin_registry(("steels", conflicting)), pytest.raises(MaterialError, match="both"):
        get_material("Pb")


def test_unknown_geometry_suggests():
    with pytest.raises(GeometryError, match="did you mean '1-photons'"):
        get_geometry("1-photon")


def test_voxel_count_check_names_the_likely_dataset():
    with pytest.raises(GeometryError, match="368 voxels but geometry '2' has 6480.*'1-photons'"):
        get_geometry("2").check_voxels(368, "file.h5")


def test_geometry_validates_layers():
    stack = Stack(Material("M", 74, 183.84, 19.3, 6.76))
    with pytest.raises(GeometryError, match="ids must be"):
        Geometry("g", [PolarLayer(1, (0.0, 1.0))], {1: (0, 1)}, stack, (1, 2))


def test_third_party_detector_through_the_plugin_hooks(tmp_path):
    """A new detector = a binning file + a detector file, registered from another plugin
    with the calorimeter plugin's hooks, then simulated by name with ``calo.gflash``."""
    (tmp_path / "b.xml").write_text(BINNING)
    (tmp_path / "mydet.yaml").write_text(
        "name: mydet\nbinning: b.xml\nstack: {absorber: {material: Pb, thickness_mm: 2},"
        " active: {material: Plastic, thickness_mm: 4}}\ndepth: {unit: X0, thickness: [4, 20]}\n"
        "energy_range_mev: [1000, 50000]\n"
    )

    class ThirdParty:
        @hookimpl
        def register_calo_geometries(self, register):
            register("mydet", tmp_path / "mydet.yaml")

        @hookimpl
        def register_calo_materials(self, register):
            register("Plastic", compound("Plastic", 1.032, {"C": 0.9226, "H": 0.0774}))

        @hookimpl
        def register_simulators(self, register):
            register("mydet.gflash", gflash_for("mydet"))

    with plugin_registry(("mydet", ThirdParty())) as registry:
        assert registry.plugins["mydet"].names == {
            "calo.geometry": ["mydet"],
            "calo.material": ["Plastic"],
            "simulator": ["mydet.gflash"],
        }
        sim = surrogate.simulator("mydet.gflash", particle="photon")
        ev = sim.sample(5, {"incident_energies": 2e4}, seed=0)
        assert ev["showers"].shape == (5, 6) and sim.options["geometry"] == "mydet"
        assert sim.geometry.parameters().fs > 0  # Pb / scintillator sampling stack
        assert sim.geometry.stack.active.name == "Plastic"


def test_a_binning_attribute_of_one_number_refuses_a_list():
    from surrogate_calo.geometry.binning import parse_binning

    text = (
        '<Bins><Bin name="e" etaMin="1,2,3" etaMax="2">'
        '<Layer id="0" r_edges="0,1" n_bin_alpha="1" /></Bin></Bins>'
    )
    with pytest.raises(GeometryError, match="etaMin: one number expected, not '1,2,3'"):
        parse_binning("given", text=text)
