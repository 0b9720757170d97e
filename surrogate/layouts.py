"""HDF5 file layouts: how the arrays of an event spec are stored as datasets.

A layout is registered by the plugin whose community reads the files
(:func:`surrogate.hookspecs.register_layouts`); a spec names its layout, and the reader and
writer ask the layout which datasets to expect.  A spec checks its layout when it is
built, so a spec the layout cannot store is refused before any file is touched.  The
core's ``default`` stores one dataset per field ``(N, *shape)`` and one per condition
``(N,)``.  A domain layout may fix the names of the fields and conditions its tools expect
and store each condition with a per-event shape such as ``(1,)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import PluginError, SpecError
from .registry import get_registry

if TYPE_CHECKING:
    from .spec import EventSpec


@dataclass(frozen=True)
class Layout:
    """Dataset names and shapes for specs of one shape.

    ``fields``/``conditions``: the exact names a spec of this layout must have (``None``:
    any); ``field_ndim``: the per-event rank every field must have (``None``: any);
    ``condition_shape``: the per-event shape of each condition's dataset.
    """

    name: str
    description: str = ""
    fields: tuple[str, ...] | None = None
    conditions: tuple[str, ...] | None = None
    field_ndim: int | None = None
    condition_shape: tuple[int, ...] = ()

    def check(self, spec: EventSpec) -> None:
        """Raise ``SpecError`` naming what of ``spec`` this layout cannot store."""
        wrong_fields = self.fields is not None and spec.field_names != self.fields
        wrong_conds = self.conditions is not None and spec.condition_names != self.conditions
        wrong_rank = self.field_ndim is not None and any(
            len(f.shape) != self.field_ndim for f in spec.fields
        )
        if wrong_fields or wrong_conds or wrong_rank:
            raise SpecError(
                f"the {self.name} layout needs "
                + (f"exactly the fields {list(self.fields)} " if self.fields is not None else "")
                + (f"of rank {self.field_ndim} " if self.field_ndim is not None else "")
                + (
                    f"and the conditions {list(self.conditions)}"
                    if self.conditions is not None
                    else ""
                )
                + f"; the spec has fields {list(spec.field_names)}, "
                f"conditions {list(spec.condition_names)}"
            )

    def datasets(self, spec: EventSpec) -> dict[str, tuple[tuple[int, ...], str]]:
        """Dataset name -> (per-event shape, dtype)."""
        out = {f.name: (f.shape, f.dtype) for f in spec.fields}
        out |= {c.name: (self.condition_shape, "float64") for c in spec.conditions}
        return out


DEFAULT = Layout("default", "one dataset per field (N, *shape) and per condition (N,)")


def get_layout(spec: EventSpec) -> Layout:
    """The registered layout ``spec`` names, checked against the spec."""
    if spec.layout == DEFAULT.name:
        return DEFAULT  # the core's own, whatever plugins are loaded
    try:
        layout = get_registry().get("layout", spec.layout)
    except PluginError as exc:
        raise SpecError(f"event spec layout: {exc}") from None
    if not isinstance(layout, Layout):
        raise PluginError(f"layout {spec.layout!r} is registered as {layout!r}, not a Layout")
    layout.check(spec)
    return layout
