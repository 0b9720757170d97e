"""Entry point of the calorimeter plugin: ``calo.gflash``, the CaloChallenge file layout,
the shower preprocessing step, observables and metrics, and the plugin's own hooks
(:mod:`surrogate_calo.hookspecs`) with the built-in geometries and materials.

Factories are import paths or detector-file paths, so ``surrogate plugins`` parses no
geometry and imports neither scipy nor torch, and a saved model's
``calo.layer_fractions`` step is found through the hook in a fresh interpreter.
"""

from surrogate import hookimpl
from surrogate.hookspecs import AddHookspecs, Register

from . import hookspecs
from .geometry.registry import BUILTIN

#: The PDG materials of :mod:`surrogate_calo.materials`, each a module attribute.
MATERIAL_NAMES = ("W", "Si", "Pb", "LAr", "Fe", "Cu", "PbWO4", "Scint")


@hookimpl
def add_hookspecs(add: AddHookspecs) -> None:
    add(hookspecs)


@hookimpl
def register_calo_geometries(register: Register) -> None:
    for name, path in BUILTIN.items():
        register(name, path)


@hookimpl
def register_calo_materials(register: Register) -> None:
    for name in MATERIAL_NAMES:
        register(name, f"surrogate_calo.materials:{name}")


@hookimpl
def register_simulators(register: Register) -> None:
    register("calo.gflash", "surrogate_calo.gflash:GFlash")


@hookimpl
def register_layouts(register: Register) -> None:
    register("calochallenge", "surrogate_calo.io:CHALLENGE_LAYOUT")


@hookimpl
def register_preprocessing_steps(register: Register) -> None:
    register("calo.layer_fractions", "surrogate_calo.preprocessing:LayerFractions")
    register("calo.readout_threshold", "surrogate_calo.preprocessing:ReadoutThreshold")


@hookimpl
def register_splits(register: Register) -> None:
    register("calo.layers", "surrogate_calo.split:LayerSplit")


@hookimpl
def register_observables(register: Register) -> None:
    register("calo.observables", "surrogate_calo.metrics:ShowerObservables")


#: The anomalies of :mod:`surrogate_calo.anomalies`: detector faults and the wrong particle.
ANOMALIES = {
    "calo.dead_cell": "DeadCell",
    "calo.noisy_cell": "NoisyCell",
    "calo.dead_layer": "DeadLayer",
    "calo.energy_scale": "EnergyScale",
    "calo.electrons": "Electrons",
}


@hookimpl
def register_anomalies(register: Register) -> None:
    for name, cls in ANOMALIES.items():
        register(name, f"surrogate_calo.anomalies:{cls}")


@hookimpl
def register_metrics(register: Register) -> None:
    register("calo.separation_power", "surrogate_calo.metrics:CaloSeparationPower")
    register("calo.cls_low", "surrogate_calo.metrics:ClassifierLow")
    register("calo.cls_low_normed", "surrogate_calo.metrics:ClassifierLowNormed")
    register("calo.cls_high", "surrogate_calo.metrics:ClassifierHigh")


#: The CaloChallenge ``evaluate.py`` DNN: 3 x 2048, 50 epochs, batch 1000, Adam lr 2e-4.
#: Written out here, so the challenge's recipe does not follow the core's ``large``.
CHALLENGE_CLASSIFIER = {
    "hidden": 2048,
    "layers": 2,
    "epochs": 50,
    "batch_size": 1000,
    "lr": 2e-4,
    "dropout": 0.0,
}


@hookimpl
def register_classifier_presets(register: Register) -> None:
    register("calochallenge", CHALLENGE_CLASSIFIER)


@hookimpl
def register_validation_presets(register: Register) -> None:
    register("calochallenge", {"classifier_options": {"preset": "calochallenge"}})
