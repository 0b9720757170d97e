"""Entry point of the calorimeter plugin: ``calo.gflash`` and the CaloChallenge metrics.

Factories are import paths, so ``surrogate plugins`` imports nothing heavy.
"""

from surrogate import hookimpl


@hookimpl
def register_simulators(register):
    register("calo.gflash", "surrogate_calo.gflash:GFlash")


@hookimpl
def register_metrics(register):
    register("calo.observables", "surrogate_calo.metrics:ShowerObservables")
    register("calo.separation_power", "surrogate_calo.metrics:CaloSeparationPower")
    register("calo.cls_low", "surrogate_calo.metrics:ClassifierLow")
    register("calo.cls_low_normed", "surrogate_calo.metrics:ClassifierLowNormed")
    register("calo.cls_high", "surrogate_calo.metrics:ClassifierHigh")


# the plugin's preprocessing step must be known wherever a saved model is loaded
from surrogate_calo import preprocessing as _preprocessing  # noqa: E402, F401
