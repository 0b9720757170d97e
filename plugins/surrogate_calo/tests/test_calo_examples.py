"""The calorimeter examples run end to end (tiny sizes; minutes on a CPU: slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.slow
def test_analysis_example(tmp_path):
    subprocess.run(
        [sys.executable, str(EXAMPLES / "calo_analysis.py"), "--quick", "--out", str(tmp_path)],
        check=True,
    )
    results = json.loads((tmp_path / "analysis.json").read_text())
    assert set(results) == {"calo.gflash", "surrogate (flow)"}
    assert (tmp_path / "analysis.png").stat().st_size > 0


@pytest.mark.slow
def test_challenge_validation_example(tmp_path):
    subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "calo_validate_challenge.py"),
            "--demo",
            "--quick",
            "--geometry",
            "test",
            "--out",
            str(tmp_path),
        ],
        check=True,
    )
    assert (tmp_path / "report" / "report.json").is_file()
    assert (tmp_path / "generated.hdf5").is_file()
