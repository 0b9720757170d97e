"""A 10-layer longitudinal calorimeter: the smallest useful detector simulator.

Each shower deposits its energy along depth following a gamma-distribution profile
(Longo & Sestili 1975; the GFlash ansatz) whose shape fluctuates from shower to shower,
with Gaussian sampling fluctuations of ``stochastic / sqrt(E)`` per shower.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammainc

from surrogate import Condition, EventSpec, Field, Simulator


class LayeredCalorimeter(Simulator):
    name = "example.layered_calo"
    version = "0.1.0"

    def __init__(self, n_layers: int = 10, depth_x0: float = 25.0, stochastic: float = 0.1):
        super().__init__(n_layers=n_layers, depth_x0=depth_x0, stochastic=stochastic)
        self.edges = np.linspace(0.0, float(depth_x0), int(n_layers) + 1)
        self.stochastic = float(stochastic)
        self.spec = EventSpec(
            fields=(
                Field(
                    "layers",
                    (int(n_layers),),
                    "float32",
                    "GeV",
                    low=0.0,
                    description="energy deposited per layer",
                ),
            ),
            conditions=(
                Condition(
                    "energy", "GeV", 1.0, 100.0, prior="loguniform", description="beam energy"
                ),
            ),
        )

    def _sample(self, n, conditions, rng):
        energy = conditions["energy"]
        # shower maximum ~ ln(E/Ec) - 0.5 (photons); Ec = 8 MeV for tungsten
        t_max = np.log(energy / 0.008) - 0.5
        alpha = 4.0 * np.exp(0.1 * rng.standard_normal(n))
        beta = (alpha - 1.0) / (t_max * np.exp(0.05 * rng.standard_normal(n)))
        cdf = gammainc(alpha[:, None], beta[:, None] * self.edges[None, :])
        fractions = np.diff(cdf, axis=1)
        smear = 1.0 + self.stochastic / np.sqrt(energy) * rng.standard_normal(n)
        return {"layers": np.clip(energy[:, None] * fractions * smear[:, None], 0.0, None)}
