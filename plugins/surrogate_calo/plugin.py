"""Entry point of the calorimeter plugin: ``calo.gflash``, the CaloChallenge file layout,
the shower preprocessing step, observables and metrics.

Factories are import paths, so ``surrogate plugins`` imports nothing heavy, and a saved
model's ``calo.layer_fractions`` step is found through the hook in a fresh interpreter.
"""

from surrogate import hookimpl


@hookimpl
def register_simulators(register):
    register("calo.gflash", "surrogate_calo.gflash:GFlash")


@hookimpl
def register_layouts(register):
    register("calochallenge", "surrogate_calo.io:CHALLENGE_LAYOUT")


@hookimpl
def register_preprocessing_steps(register):
    register("calo.layer_fractions", "surrogate_calo.preprocessing:LayerFractions")


@hookimpl
def register_metrics(register):
    register("calo.observables", "surrogate_calo.metrics:ShowerObservables")
    register("calo.separation_power", "surrogate_calo.metrics:CaloSeparationPower")
    register("calo.cls_low", "surrogate_calo.metrics:ClassifierLow")
    register("calo.cls_low_normed", "surrogate_calo.metrics:ClassifierLowNormed")
    register("calo.cls_high", "surrogate_calo.metrics:ClassifierHigh")
