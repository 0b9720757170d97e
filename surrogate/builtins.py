"""The core's own plugin: what every spec and model relies on, registered through the same
hooks a domain plugin uses (the file layout ``default`` and the generic preprocessing
steps).  Always loaded first and never blocked."""

from __future__ import annotations

from .hookspecs import Register, hookimpl

STEPS = {
    "standardise": "surrogate.preprocessing:Standardise",
    "log": "surrogate.preprocessing:Log",
    "logit": "surrogate.preprocessing:Logit",
    "normalise_by_condition": "surrogate.preprocessing:NormaliseByCondition",
    "affine": "surrogate.preprocessing:Affine",
}


@hookimpl
def register_layouts(register: Register) -> None:
    register("default", "surrogate.layouts:DEFAULT")


@hookimpl
def register_preprocessing_steps(register: Register) -> None:
    for name, step in STEPS.items():
        register(name, step)
