"""The free-energy example runs end to end at its smoke-test size."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_free_energy_example_prints_both_estimates_and_their_costs():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "boltzmann_free_energy.py"), "--quick"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    assert "exact                      ΔF = 3.380 kT" in out
    costs = [
        int(c.replace(",", "")) for c in re.findall(r"\(([\d,]+) (?:energy )?evaluations", out)
    ]
    assert len(costs) == 2 and abs(costs[0] - costs[1]) / costs[0] < 0.05  # an equal budget
    reweighted = float(re.search(r"rewt\.  ΔF = ([-\d.]+)", out).group(1))
    assert abs(reweighted - 3.380) < 1.0  # seconds of training: only roughly there
