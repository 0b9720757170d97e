"""The cosmology example runs end to end (tiny sizes; a minute on a CPU: slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.slow
def test_sigma8_scan_example(tmp_path):
    subprocess.run(
        [sys.executable, str(EXAMPLES / "cosmo_sigma8_scan.py"), "--quick", "--out", str(tmp_path)],
        check=True,
    )
    results = json.loads((tmp_path / "scan.json").read_text())
    assert set(results) == {"cosmo.pm", "surrogate"}
    for source in results.values():
        assert source["sigma8"] == [0.7, 0.8, 0.9]
        assert np.all(np.isfinite(source["power"]))
    sim = results["cosmo.pm"]["power"]
    assert sim[2][0] > sim[0][0]  # more power at larger sigma8 (same phases)
    assert (tmp_path / "scan.png").stat().st_size > 0
    assert (tmp_path / "model" / "config.json").exists()
