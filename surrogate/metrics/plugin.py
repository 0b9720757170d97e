"""Entry point of the generic metrics and observables: registered through the same hooks a
domain plugin uses, so the harness treats them alike."""

from ..hookspecs import Register, hookimpl

OBSERVABLES = {"generic": "surrogate.metrics.observables:GenericObservables"}

METRICS = {
    # per-observable metrics
    "separation_power": "surrogate.metrics.generic:SeparationPower",
    "wasserstein1": "surrogate.metrics.generic:Wasserstein1",
    "ks": "surrogate.metrics.generic:KolmogorovSmirnov",
    # multivariate metrics
    "classifier": "surrogate.metrics.classifier:ClassifierTest",
    "fpd": "surrogate.metrics.generic:FrechetPhysicsDistance",
    "kpd": "surrogate.metrics.generic:KernelPhysicsDistance",
    "mmd": "surrogate.metrics.generic:MaximumMeanDiscrepancy",
}


@hookimpl
def register_observables(register: Register) -> None:
    for name, factory in OBSERVABLES.items():
        register(name, factory)


@hookimpl
def register_metrics(register: Register) -> None:
    for name, factory in METRICS.items():
        register(name, factory)
