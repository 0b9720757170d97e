"""The metrics' own registration hook: classifier presets.

Declared by the core's plugin (:mod:`surrogate.builtins`, through ``add_hookspecs``) so
that a domain registers the classifier recipe of its community under the community's
name, and the core's classifier names no domain::

    @hookimpl
    def register_classifier_presets(register):
        register("mydet", {"hidden": 512, "layers": 3, "epochs": 30, "batch_size": 1000,
                           "lr": 1e-4, "dropout": 0.1})
"""

from __future__ import annotations

from ..hookspecs import Register, registration_hook


@registration_hook("classifier_preset", "classifier presets", example="small")
def register_classifier_presets(register: Register) -> None:
    """Register network and training recipes of the classifier two-sample test.

    Call ``register(name, preset)`` where ``preset`` is a dict (or the import path of
    one) giving every one of :data:`surrogate.metrics.classifier.PRESET_KEYS`
    (``hidden``, ``layers``, ``epochs``, ``batch_size``, ``lr``, ``dropout``).  A
    classifier test selects it with the option ``preset`` (``classifier_options:
    {preset: NAME}`` in a validation config); explicit options override its values.
    The core registers ``small`` (quick checks on a CPU) and ``large`` (2048 wide, 3
    hidden layers, 50 epochs: the CaloChallenge's recipe, the default).
    """
