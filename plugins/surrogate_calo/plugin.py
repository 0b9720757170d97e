"""Entry point of the calorimeter plugin: ``calo.gflash`` and the CaloChallenge metrics.

Factories are import paths, so ``surrogate plugins`` does not import numpy-heavy modules.
"""

from surrogate import hookimpl


@hookimpl
def register_simulators(register):
    register("calo.gflash", "surrogate_calo.gflash:GFlash")
