"""Field preprocessing: the transforms generators of density fields train on.

A density field spans decades (voids at 1 + delta ~ 0.1, haloes at 10^2 - 10^3), so a
network sees a compressed value.  Two choices are shipped:

- ``log(1 + delta + eps)`` then one mean and scale for the whole field: the core's ``log``
  step with ``eps = 1 + eps`` and ``standardise`` with ``per="field"`` (one scale for every
  pixel keeps the statistics translation-invariant, as a periodic field's are).  This is
  what the simulators recommend (:meth:`FieldSimulator.preprocessing`).
- ``cosmo.s_transform``: ``s = 2 x / (x + a) - 1`` of ``x = 1 + delta``, Rodriguez et al.
  2018 (Comp. Astrophys. Cosmol. 5:4; their a = 4 on 2D slices, 3DcosmoGAN's a = 21 on
  counts per voxel): bounded in (-1, 1), near-linear in voids, saturating in haloes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from surrogate.errors import SpecError
from surrogate.preprocessing import Step

#: what the cosmology simulators recommend: ``log(1 + delta)`` (empty cells of a CIC
#: field are exactly -1: eps keeps them finite), one scale per field
LOG_DENSITY_CHAIN = (
    {"type": "log", "eps": 1.001},
    {"type": "standardise", "per": "field"},
)


class STransform(Step):
    """``s = 2 x / (x + a) - 1`` with ``x = 1 + delta`` (module docstring)."""

    type = "cosmo.s_transform"
    params: ClassVar[dict[str, Any]] = {"a": 4.0}

    def __init__(self, config, spec, index):
        super().__init__(config, spec, index)
        if not float(self.options["a"]) > 0:
            raise SpecError(f"{self.where}: a must be > 0, not {self.options['a']!r}")

    def forward_field(self, name, x, conds):
        a = float(self.options["a"])
        density = np.asarray(x, np.float64) + 1.0
        if density.size and density.min() < 0:
            raise SpecError(
                f"{self.where}: field {name!r} has 1 + delta < 0 ({density.min() - 1:g}): "
                "not a density contrast"
            )
        s = 2 * density / (density + a) - 1
        logdet = np.log(2 * a / (density + a) ** 2)
        return s, logdet.reshape(len(logdet), -1).sum(axis=1)

    def inverse_field(self, name, y, conds):
        a = float(self.options["a"])
        s = np.clip(np.asarray(y, np.float64), -1.0, 1.0 - 1e-7)  # s -> 1 is infinite density
        return a * (1 + s) / (1 - s) - 1.0
