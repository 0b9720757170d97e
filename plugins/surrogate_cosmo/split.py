"""``cosmo.bands``: a density field split into its large-scale band powers, then the field.

Why: a field generator learns the large-scale amplitude's dependence on the conditions
worst.  Every diffusion model of ``benchmarks/cosmo-results.md`` answers a change of
sigma8 too weakly in the log field's lowest k bins, from the few modes each map has
there.  A handful of band powers is a low-dimensional summary, as a calorimeter's layer
energies are (the calorimeter's two-stage lesson, CaloFlow arXiv:2106.05285): stage 1
learns them given the conditions from every training map, and the inverse imposes them
on stage 2's field exactly.

**Summary** ``log_band_power`` (``bands``,): per field, the natural log of the mean of
``|L(n)|^2 / N^d`` over the modes of each of the lowest ``bands`` power-spectrum bins
(``[i, i + 1) k_F`` for ``i = 1 .. bands``, binned as
:func:`~surrogate_cosmo.statistics.power_spectrum` bins), of the log field
``L = ln(delta + offset)``: the space the recommended preprocessing learns in, and one in
which any rescaling still gives a positive density.  ``|L(n)|^2 / N^d`` is the variance
one mode adds, so the summary does not depend on the box; on maps of 64^2 the default
four bins reach k = 0.11 h/Mpc in a 256 Mpc/h box.

**Rest**: the field itself, so stage 2 is an ordinary conditional model of the field,
given the conditions and the band powers.

**Inverse** (generation): stage 2's field (values under ``delta = -1``, not a density,
clipped to it), whose log field has each band's modes multiplied by one real factor, so
that the band's power is stage 1's exactly; every other mode and every phase is kept.
The field is then scaled to keep stage 2's mean of ``1 + delta`` (the DC mode of the log
field: no band changes), so the density stays positive and the split moves no mass.

**Not a bijection** (``bijective = False``): the rest holds the band powers again, so
summary and rest have ``bands`` more scalars than the field and a two-stage model of this
split has no density (``log_prob`` raises); ``forward``'s log-determinant is 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.fft

from surrogate.errors import SpecError
from surrogate.settings import require
from surrogate.spec import EventSpec, Field
from surrogate.splits import Chain, Conds, Fields, Split

from .preprocessing import LOG_DENSITY_CHAIN
from .statistics import mode_bins, power_spectrum

SUMMARY = "log_band_power"


@dataclass(frozen=True)
class BandSplitSettings:
    """``bands``: how many of the lowest power-spectrum bins make the summary;
    ``offset``: the log field is ``ln(delta + offset)`` (the recommended preprocessing's
    1.001: empty cells of a CIC field are exactly -1); ``field``: the density field."""

    bands: int = 4
    offset: float = 1.001
    field: str = "delta"

    def __post_init__(self) -> None:
        require(
            isinstance(self.bands, int) and not isinstance(self.bands, bool) and self.bands >= 1,
            f"bands must be a whole number >= 1, not {self.bands!r}",
        )
        offset = self.offset
        require(
            isinstance(offset, int | float) and math.isfinite(offset) and offset > 1,
            f"offset must be a finite number > 1 (empty cells have delta = -1), not {offset!r}",
        )
        object.__setattr__(self, "offset", float(offset))


class BandSplit(Split):
    """The log field's lowest band powers, then the field (module docstring)."""

    settings_class: ClassVar[type | None] = BandSplitSettings
    type: ClassVar[str] = "cosmo.bands"
    bijective: ClassVar[bool] = False
    settings: BandSplitSettings

    # -- the two parts ------------------------------------------------------------------
    def _grid(self, spec: EventSpec) -> tuple[int, ...]:
        """The field's grid, checked: one square 2-D or 3-D field with room for the bands."""
        name = self.settings.field
        if spec.field_names != (name,):
            raise SpecError(
                f"{self.where}: applies to events of one density field {name!r}, "
                f"not fields {list(spec.field_names)}"
            )
        grid = spec.field(name).shape
        if len(grid) not in (2, 3) or len(set(grid)) != 1 or grid[0] % 2:
            raise SpecError(
                f"{self.where}: field {name!r} must be a square 2-D map or 3-D cube with an "
                f"even number of cells per side, not shape {grid}"
            )
        most = grid[0] // 2 - 1
        if self.settings.bands > most:
            raise SpecError(
                f"{self.where}: bands={self.settings.bands} is more than the {most} bins "
                f"below Nyquist of a grid of {grid[0]} per side"
            )
        return grid

    def summary_fields(self, spec: EventSpec) -> tuple[Field, ...]:
        self._grid(spec)
        return (
            Field(
                SUMMARY,
                (self.settings.bands,),
                "float32",
                description="ln of the log field's power per mode, in its lowest k bins",
            ),
        )

    def rest_fields(self, spec: EventSpec) -> tuple[Field, ...]:
        self._grid(spec)
        return (spec.field(self.settings.field),)

    # -- the maths ----------------------------------------------------------------------
    def _log_field(self, delta: Any) -> np.ndarray:
        x = np.asarray(delta, dtype=np.float64) + self.settings.offset
        if x.size and not x.min() > 0:
            raise SpecError(
                f"{self.where}: field {self.settings.field!r} has delta + offset <= 0 "
                f"(delta {x.min() - self.settings.offset:g}): not a density contrast"
            )
        return np.log(x)

    def _log_power(self, log_field: np.ndarray) -> np.ndarray:
        """ln of each field's power per mode in the bands: :func:`power_spectrum` in units
        of one cell (``box = N``, so ``P = |L(n)|^2 / N^d``), no window (``L`` is not
        painted from particles)."""
        n, d = log_field.shape[1], log_field.ndim - 1
        if not len(log_field):
            return np.zeros((0, self.settings.bands))
        kmax = (self.settings.bands + 1) * 2 * math.pi / n
        power = power_spectrum(log_field, n, window=None, kmax=kmax, ndim=d).power
        return np.log(np.maximum(power, np.finfo(float).tiny))

    def forward(
        self, fields: Mapping[str, Any], conditions: Conds
    ) -> tuple[Fields, Fields, np.ndarray]:
        delta = np.asarray(fields[self.settings.field])
        log_power = self._log_power(self._log_field(delta))
        logdet = np.zeros(len(delta))  # not a bijection: no density (module docstring)
        return {SUMMARY: log_power}, {self.settings.field: delta}, logdet

    def inverse(
        self, summary: Mapping[str, Any], rest: Mapping[str, Any], conditions: Conds
    ) -> Fields:
        delta = np.maximum(np.asarray(rest[self.settings.field], dtype=np.float64), -1.0)
        if not len(delta):
            return {self.settings.field: delta}
        log_field = self._log_field(delta)
        target = np.asarray(summary[SUMMARY], dtype=np.float64).reshape(len(delta), -1)
        factor = np.ones((len(delta), self.settings.bands + 1))
        factor[:, :-1] = np.exp(0.5 * (target - self._log_power(log_field)))
        grid, axes = delta.shape[1:], tuple(range(1, delta.ndim))
        index, _ = mode_bins(grid[0], len(grid), self.settings.bands)
        modes = scipy.fft.rfftn(log_field, axes=axes, workers=1)
        modes *= factor[:, index].reshape(modes.shape)
        density = np.exp(scipy.fft.irfftn(modes, s=grid, axes=axes, workers=1))
        # keep stage 2's mean of 1 + delta: a factor, the log field's DC mode, in no band
        kept = (delta + self.settings.offset).mean(axis=axes) / density.mean(axis=axes)
        density *= kept.reshape(-1, *(1,) * len(grid))
        return {self.settings.field: np.maximum(density - self.settings.offset, -1.0)}

    def preprocessing(self, spec: EventSpec) -> tuple[Chain, Chain]:
        """Band powers: standardised; the field: the simulators' ``log(1 + delta)`` chain."""
        return [{"type": "standardise"}], [dict(step) for step in LOG_DENSITY_CHAIN]
