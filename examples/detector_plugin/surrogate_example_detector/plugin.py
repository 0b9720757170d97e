"""Hook implementations: the only module surrogate imports when it lists plugins.

Everything is registered by path (a detector file, import paths), so listing plugins
reads no file and imports neither the simulator nor the calorimeter plugin's GFlash.
"""

from pathlib import Path

from surrogate import hookimpl


@hookimpl
def register_calo_geometries(register):
    # the calorimeter plugin's hook: a new detector is a YAML file (shashlik.yaml)
    register("example_shashlik", Path(__file__).with_name("shashlik.yaml"))


@hookimpl
def register_calo_materials(register):
    # a material the detector file names (calo.py)
    register("Polystyrene", "surrogate_example_detector.calo:POLYSTYRENE")


@hookimpl
def register_simulators(register):
    # a simulator written from scratch (simulator.py)
    register("example.layered_calo", "surrogate_example_detector.simulator:LayeredCalorimeter")
    # the calorimeter plugin's GFlash in the new geometry (calo.py)
    register("example.shashlik", "surrogate_example_detector.calo:shashlik")
