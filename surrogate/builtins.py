"""The core's own plugin: what every spec and model relies on, registered through the same
hooks a domain plugin uses (the file layout ``default``, the generic preprocessing
steps, the generic classifier and validation presets).  Always loaded first and never
blocked, so the hooks it declares (classifier and validation presets, report sections,
anomalies) exist for every plugin."""

from __future__ import annotations

from .anomaly import hookspecs as anomaly_hookspecs
from .hookspecs import AddHookspecs, Register, hookimpl
from .metrics import hookspecs as metrics_hookspecs
from .validation import hookspecs as validation_hookspecs

STEPS = {
    "standardise": "surrogate.preprocessing:Standardise",
    "log": "surrogate.preprocessing:Log",
    "logit": "surrogate.preprocessing:Logit",
    "normalise_by_condition": "surrogate.preprocessing:NormaliseByCondition",
    "affine": "surrogate.preprocessing:Affine",
}

CLASSIFIER_PRESETS = {
    "small": "surrogate.metrics.classifier:SMALL",
    "large": "surrogate.metrics.classifier:LARGE",
}
VALIDATION_PRESETS = {"quick": "surrogate.validation.config:QUICK"}
REPORT_SECTIONS = {"anomaly": "surrogate.validation.anomaly_section:AnomalySection"}


@hookimpl
def add_hookspecs(add: AddHookspecs) -> None:
    add(metrics_hookspecs)
    add(validation_hookspecs)
    add(anomaly_hookspecs)


@hookimpl
def register_layouts(register: Register) -> None:
    register("default", "surrogate.layouts:DEFAULT")


@hookimpl
def register_preprocessing_steps(register: Register) -> None:
    for name, step in STEPS.items():
        register(name, step)


@hookimpl
def register_classifier_presets(register: Register) -> None:
    for name, preset in CLASSIFIER_PRESETS.items():
        register(name, preset)


@hookimpl
def register_validation_presets(register: Register) -> None:
    for name, config in VALIDATION_PRESETS.items():
        register(name, config)


@hookimpl
def register_report_sections(register: Register) -> None:
    for name, section in REPORT_SECTIONS.items():
        register(name, section)
