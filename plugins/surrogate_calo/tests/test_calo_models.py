"""A model trained on showers with this plugin's preprocessing loads in a fresh
interpreter (the steps are found through the plugin's hook, with no import of the
plugin) and reads its showers out at the threshold, and the log chain cannot emit cells of
many times the beam energy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import surrogate
from surrogate.preprocessing import Preprocessing
from surrogate_calo.preprocessing import LOGIT_HIGH, preprocessing_chain


def test_a_saved_layers_model_loads_in_a_fresh_interpreter(tmp_path):
    sim = surrogate.simulator("calo.gflash", geometry="test")
    chain = preprocessing_chain("test", "layers")
    assert [s["type"] for s in chain[:2]] == ["calo.readout_threshold", "calo.layer_fractions"]
    model = surrogate.surrogate("vae", hidden=16, latent=2, preprocessing=chain)
    model.fit(sim.sample(256, seed=0), seed=0, epochs=1, progress=False)
    model.save(tmp_path / "vae")
    code = (
        "import sys, surrogate\n"
        f"m = surrogate.load({str(tmp_path / 'vae')!r})\n"
        "x = m.sample(50, {'incident_energies': 2e4}, seed=1)['showers']\n"
        "assert x.shape[0] == 50 and ((x == 0) | (x >= 0.5e-3 / 0.033)).all()\n"
        "print(m.preprocessing, (x == 0).mean())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "calo.layer_fractions" in out.stdout and "calo.readout_threshold" in out.stdout
    assert float(out.stdout.split()[-1]) > 0  # exact zeros, as calo.gflash's showers have


def test_the_log_chain_caps_generated_cells_at_its_range():
    sim = surrogate.simulator("calo.gflash", geometry="test")
    pre = Preprocessing(preprocessing_chain("test", "log"), sim.spec)
    data = sim.sample(200, seed=0)
    pre.fit([data])
    y, _ = pre.forward(data.fields, data.conditions)
    wild = {"showers": y["showers"] + 50.0}  # 50 standard deviations out, every cell
    back = pre.inverse(wild, data.conditions)["showers"]
    e_inc = data.conditions["incident_energies"][:, None]
    assert np.isfinite(back).all() and (back <= LOGIT_HIGH * e_inc * (1 + 1e-9)).all()
