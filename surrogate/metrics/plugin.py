"""Entry point of the generic metrics: registered through the same hook a domain plugin
uses, so the harness treats them alike."""

from surrogate import hookimpl

GENERIC = {
    # observables (an ObservableSet, registered in the metric namespace)
    "generic": "surrogate.metrics.observables:GenericObservables",
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
def register_metrics(register):
    for name, factory in GENERIC.items():
        register(name, factory)
