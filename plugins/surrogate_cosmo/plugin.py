"""Entry point of the cosmology plugin: the particle-mesh reference simulator and its
cheap siblings, the field preprocessing steps, the two-stage split, and the field
statistics as observables and metrics.  Factories are import paths, so ``surrogate
plugins`` imports none of them.
"""

from surrogate import hookimpl
from surrogate.hookspecs import Register


@hookimpl
def register_simulators(register: Register) -> None:
    register("cosmo.pm", "surrogate_cosmo.simulators:ParticleMesh")
    register("cosmo.lpt", "surrogate_cosmo.simulators:LagrangianPT")
    register("cosmo.lognormal", "surrogate_cosmo.simulators:Lognormal")


@hookimpl
def register_preprocessing_steps(register: Register) -> None:
    register("cosmo.s_transform", "surrogate_cosmo.preprocessing:STransform")


@hookimpl
def register_splits(register: Register) -> None:
    register("cosmo.bands", "surrogate_cosmo.split:BandSplit")


@hookimpl
def register_observables(register: Register) -> None:
    register("cosmo.fields", "surrogate_cosmo.metrics:FieldObservables")


@hookimpl
def register_metrics(register: Register) -> None:
    register("cosmo.power_spectrum", "surrogate_cosmo.metrics:PowerSpectrumMetric")
    register("cosmo.pdf", "surrogate_cosmo.metrics:PDFMetric")
    register("cosmo.peaks", "surrogate_cosmo.metrics:PeakCountsMetric")
    register("cosmo.minkowski", "surrogate_cosmo.metrics:MinkowskiMetric")
    register("cosmo.bispectrum", "surrogate_cosmo.metrics:BispectrumMetric")


@hookimpl
def register_report_sections(register: Register) -> None:
    register("cosmo.fields", "surrogate_cosmo.report:FieldSection")
