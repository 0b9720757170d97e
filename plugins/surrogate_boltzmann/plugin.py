"""Entry point of the Boltzmann plugin: targets, the estimators as metrics, the report
section and the discrete autoregressive family for lattice models.  Factories are import
paths, so ``surrogate plugins`` imports none of them."""

from surrogate import hookimpl
from surrogate.hookspecs import Register


@hookimpl
def register_simulators(register: Register) -> None:
    register("boltzmann.double_well", "surrogate_boltzmann.wells:DoubleWell")
    register("boltzmann.manywell", "surrogate_boltzmann.wells:ManyWell")
    register("boltzmann.gmm40", "surrogate_boltzmann.wells:GMM40")
    register("boltzmann.mueller_brown", "surrogate_boltzmann.wells:MuellerBrown")
    register("boltzmann.dw4", "surrogate_boltzmann.particles:DW4")
    register("boltzmann.lj13", "surrogate_boltzmann.particles:LJ13")
    register("boltzmann.ising", "surrogate_boltzmann.ising:Ising")


@hookimpl
def register_surrogates(register: Register) -> None:
    register("van", "surrogate_boltzmann.van:VAN")


@hookimpl
def register_metrics(register: Register) -> None:
    register("boltzmann.energy_w2", "surrogate_boltzmann.metrics:EnergyW2")
    register("boltzmann.distance_w2", "surrogate_boltzmann.metrics:DistanceW2")
    register("boltzmann.symmetry_w2", "surrogate_boltzmann.metrics:SymmetryW2")
    register("boltzmann.mode_coverage", "surrogate_boltzmann.metrics:ModeCoverageMetric")
    register("boltzmann.ising", "surrogate_boltzmann.metrics:LatticeMetric")
    register("boltzmann.ess", "surrogate_boltzmann.metrics:ESSMetric")
    register("boltzmann.log_z", "surrogate_boltzmann.metrics:LogZMetric")


@hookimpl
def register_report_sections(register: Register) -> None:
    register("boltzmann.weights", "surrogate_boltzmann.report:WeightsSection")
