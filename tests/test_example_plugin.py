"""examples/detector_plugin is a real third-party package: installed, it shows up in
`surrogate plugins`, simulates from the CLI and passes the conformance suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from surrogate.io import read_events
from surrogate.testing import simulator_checks

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "detector_plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
    )
    return target


def cli(site: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "surrogate.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )


def test_listed_and_usable_from_the_cli(installed, tmp_path):
    listing = cli(installed, "plugins", cwd=tmp_path)
    assert listing.returncode == 0
    assert "example_detector  surrogate-example-detector 0.1.0  [ok]" in listing.stdout
    assert "example.layered_calo" in listing.stdout
    run = cli(
        installed,
        "simulate",
        "example.layered_calo",
        "-n",
        "200",
        "-o",
        "l.h5",
        "--condition",
        "energy=50",
        "--seed",
        "1",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    events = read_events(tmp_path / "l.h5")
    assert events["layers"].shape == (200, 10)
    # energy is deposited, not created; a few percent leaks out behind 25 X0 at 50 GeV
    assert 0.95 < events["layers"].sum(1).mean() / 50 < 1.0


def test_new_geometry_for_calo_gflash(installed, tmp_path):
    """A detector file registered with ``register_calo_geometries`` plus ``gflash_for`` is a
    new calo.gflash simulator: 196 voxels, and the sampling resolution the file declares
    (10%/sqrt(E/GeV): 2.24% at 20 GeV)."""
    listing = cli(installed, "plugins", cwd=tmp_path)
    assert "example.shashlik" in listing.stdout
    assert "calorimeter geometries: example_shashlik" in listing.stdout
    assert "calorimeter materials: Polystyrene" in listing.stdout
    run = cli(
        installed,
        "simulate",
        "example.shashlik",
        "-n",
        "2000",
        "-o",
        "s.h5",
        "--condition",
        "incident_energies=20000",
        "--seed",
        "1",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    showers = read_events(tmp_path / "s.h5")["showers"]
    assert showers.shape == (2000, 196)
    response = showers.sum(1) / 20000.0
    # 24 X0 and +-5 R_M contain all but ~1% at 20 GeV
    assert 0.98 < response.mean() < 1.0
    # the standard error of a standard deviation from 2000 showers is 1.6%
    assert response.std() == pytest.approx(0.10 / 20**0.5, rel=0.08)
    # the geometry and its material, by name, as any other geometry
    again = cli(
        installed,
        "simulate",
        "calo.gflash",
        "-n",
        "10",
        "-o",
        "g.h5",
        "--option",
        "geometry=example_shashlik",
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert read_events(tmp_path / "g.h5")["showers"].shape == (10, 196)


def test_geometry_and_material_registered_through_the_calo_hooks(installed, monkeypatch):
    """The package registers its geometry and material with the calorimeter plugin's hooks
    alone: installed, both are found by name with no import of the package."""
    from surrogate.testing import plugin_registry
    from surrogate_calo import get_geometry, get_material

    monkeypatch.syspath_prepend(str(installed))
    with plugin_registry() as registry:
        assert registry.plugins["example_detector"].status == "ok"
        geometry = get_geometry("example_shashlik")
        assert geometry.n_voxels == 196
        assert geometry.stack.active is get_material("Polystyrene")
        assert geometry.stack.active.density == 1.060
        assert registry.entry("calo.geometry", "example_shashlik").package == (
            "surrogate-example-detector"
        )


def test_disabling_autoload_hides_it(installed, tmp_path):
    env_run = subprocess.run(
        [sys.executable, "-m", "surrogate.cli", "plugins"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(installed), "SURROGATE_DISABLE_PLUGIN_AUTOLOAD": "1"},
        cwd=tmp_path,
    )
    assert "example_detector" not in env_run.stdout and "toy.gmm2d" in env_run.stdout


@pytest.fixture(scope="module")
def simulator_class(installed):
    sys.path.insert(0, str(installed))
    try:
        from surrogate_example_detector.simulator import LayeredCalorimeter
    finally:
        sys.path.remove(str(installed))
    return LayeredCalorimeter


@pytest.mark.parametrize("name", [n for n, _ in simulator_checks(lambda: None)])
def test_conformance(simulator_class, name):
    dict(simulator_checks(simulator_class))[name]()
