"""Hook implementations: the only module surrogate imports when it lists plugins."""

from surrogate import hookimpl


@hookimpl
def register_simulators(register):
    register("example.layered_calo", "surrogate_example_detector.simulator:LayeredCalorimeter")
