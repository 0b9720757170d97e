"""Report sections: what a domain adds to the report a person reads.

The core's report shows what it can say of any data: the metric table, the bounds and a
histogram per observable.  A domain knows the pictures its community reads (a
calorimeter's shower shapes, a density field's maps and power spectrum), so it registers
a :class:`ReportSection` through ``register_report_sections``
(:mod:`surrogate.validation.hookspecs`).  The harness binds every registered section to
the data while it checks its inputs (:meth:`ReportSection.bind`, ``None``: the section
does not apply), and, once the metrics are computed, calls :meth:`ReportSection.render`
with the three samples (:class:`SectionData`) and a :class:`SectionWriter` that files
the figures, tables and paragraphs into the report: ``report.json``'s ``sections``,
``report.html`` (one ``<h2>`` per section, after the histograms) and ``sections/``.

A section draws pictures; it decides nothing.  So a section that fails is reported in
its place (its error in the page and in ``report.json``, a warning in the log) and the
report is written, rather than losing a validation's sampling and metrics to a plotting
bug.  Its ``bind`` runs with the other checks, before any sampling, and is not caught:
bad input there fails in seconds, as a metric's does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import SurrogateError
from ..events import Events
from ..jsonutil import to_json
from ..metrics import _registered  # the metrics' and observable sets' own lookup
from ..spec import EventSpec
from .plots import COLORS, new_figure, safe_name, save_figure

__all__ = [
    "COLORS",
    "ReportSection",
    "SectionData",
    "SectionWriter",
    "new_figure",
    "render_sections",
    "sections_for",
]

log = logging.getLogger("surrogate.validation")

#: the folder of the report that holds the sections' figures
FOLDER = "sections"
#: the registry kind of the hook ``register_report_sections``
KIND = "report_section"


@dataclass(frozen=True)
class SectionData:
    """What a section draws from: the validation's three samples, each ``n`` events.

    ``reference`` is reference A (what the model is compared with); ``floor_reference``
    is the independent reference B (how much two reference samples differ: the floor);
    ``generated`` the model's events, at reference B's conditions.  With a simulator as
    ground truth the three share one set of conditions; with a reference file A and B
    hold different events of it.  Conditions are in each sample's ``conditions``;
    ``spec`` (the model's) gives their names, ranges and units.  ``context`` is what
    :meth:`ReportSection.bind` was given; ``model_label`` names the model in legends.
    ``generated_log_density``: the model's log-density of each generated event, where
    the model's density is exact and a section or metric asked for it
    (:attr:`ReportSection.needs_log_density`); ``None`` otherwise.  ``model``: the model
    validated, for a section that asks it something (the anomaly section's scores).
    """

    reference: Events
    floor_reference: Events
    generated: Events
    spec: EventSpec
    context: Mapping[str, Any]
    model_label: str
    generated_log_density: np.ndarray | None = None
    model: Any = None


@dataclass
class SectionWriter:
    """Files a section's output into the report, in the order it is written.

    Figures are saved as PNG (embedded in the page) and PDF (for papers) into the
    report's ``sections/`` folder under the section's name, so two sections (or two
    figures) never overwrite one another.  Items are plain JSON in ``report.json``.
    """

    folder: Path
    section: str
    taken: set[str] = field(default_factory=set)
    items: list[dict[str, Any]] = field(default_factory=list)

    def figure(self, fig: Any, name: str, caption: str = "", *, wide: bool = False) -> None:
        """Save a matplotlib figure (make it with :func:`new_figure`) as ``name``;
        ``wide`` spans the page's width (a row of maps) instead of one grid cell."""
        paths = save_figure(fig, self.folder, safe_name(f"{self.section}.{name}", self.taken))
        self.items.append({"kind": "figure", "name": name, "caption": caption, "wide": wide})
        self.items[-1] |= paths

    def table(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = ""
    ) -> None:
        """A table: ``columns`` are the headings, each row one value per column (numbers
        are shown in four significant digits; ``None`` and NaN as a dash)."""
        width = len(columns)
        bad = [i for i, row in enumerate(rows) if len(row) != width]
        if bad:
            raise ValueError(f"table row {bad[0]} has {len(rows[bad[0]])} cells, not {width}")
        self.items.append(
            {
                "kind": "table",
                "caption": caption,
                "columns": [str(c) for c in columns],
                "rows": to_json([list(row) for row in rows]),
            }
        )

    def text(self, text: str) -> None:
        """A paragraph of plain text (what the figures show, a caveat)."""
        self.items.append({"kind": "text", "text": str(text)})


class ReportSection:
    """A part of the validation report a domain adds (see the module docstring).

    Register a subclass through ``register_report_sections``; the harness instantiates
    it without arguments, calls :meth:`bind` on the model's spec and the data's context,
    sets ``name`` on the bound section to the registered name and later calls
    :meth:`render`.  ``title`` heads the section in the page (the name when empty);
    ``description`` is a sentence under it saying what the section shows.
    """

    name: str = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: True: :meth:`render` reads ``SectionData.generated_log_density``, which the
    #: harness then computes for a model with an exact density (as for a metric's).
    needs_log_density: ClassVar[bool] = False

    def bind(self, spec: EventSpec, context: Mapping[str, Any]) -> ReportSection | None:
        """This section configured for data of ``spec``, or ``None`` when it does not
        apply.  ``context`` holds ``simulator`` (name or ``None``), ``simulator_options``,
        ``reference_file`` and ``model``, as an observable set's ``bind`` gets."""
        return self

    def render(self, data: SectionData, out: SectionWriter) -> None:
        """Draw the section from ``data`` into ``out`` (figures, tables, text)."""
        raise NotImplementedError


def sections_for(spec: EventSpec, context: Mapping[str, Any]) -> list[ReportSection]:
    """The registered sections that apply to data of ``spec``, by name, each bound and
    named as registered.  A registered object that is not a ``ReportSection`` is skipped
    with a warning, as a misregistered metric is."""
    out = []
    for name, section in sorted(_registered(KIND, ReportSection).items()):
        bound = section.bind(spec, dict(context))
        if bound is not None:
            bound.name = name
            out.append(bound)
    return out


def render_sections(
    sections: Sequence[ReportSection], data: SectionData, report: Path
) -> list[dict[str, Any]]:
    """Render each section into the report folder ``report``; returns ``report.json``'s
    ``sections``: per section its name, title, description, items, the seconds it took
    and its ``error`` (``None`` when it rendered)."""
    taken: set[str] = set()
    return [_render(s, data, SectionWriter(report / FOLDER, s.name, taken)) for s in sections]


def _render(section: ReportSection, data: SectionData, out: SectionWriter) -> dict[str, Any]:
    """One section; an exception becomes its ``error`` (the items written before it are
    kept), with the traceback in the log when it is a bug rather than bad data."""
    t0 = time.perf_counter()
    error = None
    try:
        section.render(data, out)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.warning(
            "report section %s failed (the report shows the error in its place): %s",
            section.name,
            error,
            exc_info=not isinstance(exc, SurrogateError),
        )
    return {
        "name": section.name,
        "title": section.title or section.name,
        "description": section.description,
        "items": out.items,
        "seconds": time.perf_counter() - t0,
        "error": error,
    }
