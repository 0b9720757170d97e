"""Hook implementations: the only module surrogate imports when it lists plugins."""

from surrogate import hookimpl


@hookimpl
def register_simulators(register):
    # a simulator written from scratch (simulator.py)
    register("example.layered_calo", "surrogate_example_detector.simulator:LayeredCalorimeter")
    # the calorimeter plugin's GFlash in a new geometry (calo.py + shashlik.yaml)
    register("example.shashlik", "surrogate_example_detector.calo:shashlik")
