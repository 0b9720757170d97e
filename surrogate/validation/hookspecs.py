"""The validation harness's own registration hook: validation presets.

Declared by the core's plugin (:mod:`surrogate.builtins`, through ``add_hookspecs``), so
that ``surrogate validate --config NAME`` finds configs that a domain ships under its
community's name, while the core registers only generic ones::

    @hookimpl
    def register_validation_presets(register):
        register("mydet", {"classifier_options": {"preset": "mydet"}})
"""

from __future__ import annotations

from ..hookspecs import Register, registration_hook


@registration_hook("validation_preset", "validation presets", example="quick")
def register_validation_presets(register: Register) -> None:
    """Register named validation configs, given as ``--config NAME``.

    Call ``register(name, config)`` where ``config`` is a dict (or the import path of
    one) following ``schemas/validation-config.schema.json``: it is checked like a config
    file.  A file of that name in the working directory wins over the preset.  The core
    registers ``quick`` (every classifier test with the ``small`` preset, fewer
    bootstraps: a check in seconds on a CPU).
    """
