"""Entry point of the baseline plugin."""

from surrogate import hookimpl


@hookimpl
def register_surrogates(register):
    register("gaussian", "surrogate_baseline.gaussian:GaussianSurrogate")
