"""The wheel holds every first-party package, the schemas and the entry points.

An editable install puts the repository on sys.path and hides a package missing from the
wheel; building the wheel and reading its contents does not.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "surrogate",
    "surrogate_toy",
    "surrogate_baseline",
    "surrogate_generators",
    "surrogate_calo",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("surrogate-*.whl")
    return zipfile.ZipFile(path)


def test_every_package_is_in_the_wheel(wheel):
    names = wheel.namelist()
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names, f"{package} missing from the wheel"
        assert f"{package}/plugin.py" in names or package == "surrogate"
    assert not any(n.startswith("plugins/") for n in names), "a top-level 'plugins' package"


def test_schemas_are_package_data(wheel):
    names = set(wheel.namelist())
    for schema in sorted((ROOT / "schemas").glob("*.schema.json")):
        assert f"surrogate/schemas/{schema.name}" in names


def test_entry_points_in_the_wheel(wheel):
    (ep_file,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(ep_file).decode()
    assert "[surrogate]" in text and "surrogate = surrogate.cli:main" in text
    for line in (
        "toy = surrogate_toy.plugin",
        "baseline = surrogate_baseline.plugin",
        "generators = surrogate_generators.plugin",
        "calo = surrogate_calo.plugin",
        "metrics = surrogate.metrics.plugin",
    ):
        assert line in text
