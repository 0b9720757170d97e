"""Entry point of the toy plugin (registered like any third-party plugin)."""

from surrogate import hookimpl


@hookimpl
def register_simulators(register):
    register("toy.gmm2d", "surrogate_toy.gmm2d:GaussianRing")


@hookimpl
def register_anomalies(register):
    register("toy.off_ring", "surrogate_toy.anomalies:OffRing")
