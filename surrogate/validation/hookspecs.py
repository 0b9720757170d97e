"""The validation harness's own registration hooks: validation presets and report
sections.

Declared by the core's plugin (:mod:`surrogate.builtins`, through ``add_hookspecs``), so
that ``surrogate validate --config NAME`` finds configs that a domain ships under its
community's name, and the report shows the pictures its community reads, while the core
registers only generic ones::

    @hookimpl
    def register_validation_presets(register):
        register("mydet", {"classifier_options": {"preset": "mydet"}})

    @hookimpl
    def register_report_sections(register):
        register("mydet.showers", "my_detector.report:ShowerSection")
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


@registration_hook("report_section", "report sections", example="mydet.showers")
def register_report_sections(register: Register) -> None:
    """Register sections of the validation report: a domain's own figures and tables.

    Call ``register(name, cls)`` with a :class:`surrogate.validation.sections.ReportSection`
    subclass (or its import path).  For every ``surrogate validate``, each registered
    section is instantiated without arguments and bound to the data with
    ``bind(spec, context)`` (the model's event spec; ``context`` as an observable set's:
    ``simulator``, ``simulator_options``, ``reference_file``, ``model``), which returns
    the section configured for the data (a grid, a box size, a geometry) or ``None`` when
    it does not apply; ``bind`` runs with the harness's checks, before any sampling.

    Once the metrics are computed, ``render(data, out)`` gets the three samples as
    :class:`~surrogate.validation.sections.SectionData` (``reference``: reference A,
    ``floor_reference``: the independent reference B, ``generated``: the model's events;
    their ``conditions``, the ``spec``, the ``context``) and a
    :class:`~surrogate.validation.sections.SectionWriter`: ``out.figure(fig, name,
    caption, wide=False)`` for a matplotlib figure made with
    :func:`~surrogate.validation.sections.new_figure` (saved as PNG and PDF under the
    report's ``sections/``, embedded in ``report.html``), ``out.table(columns, rows,
    caption)`` and ``out.text(paragraph)``.  Sections appear in name order after the
    histograms, titled by the class's ``title``, with its ``description`` beneath.

    A section only draws: an exception in ``render`` is shown in its place, recorded as
    the section's ``error`` in ``report.json`` and logged, and the report is written;
    the verdict never depends on a section.  Keep ``render`` to seconds at the sample
    sizes a validation uses: it runs in every validation of the data it binds to.
    """
