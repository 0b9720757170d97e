"""Metric values as people read them, the same in the report, the command's summary and
the model card: a value with its error, in the metric's display scale (FPD x10^3)."""

from __future__ import annotations

import math


def fmt(value: float | None, error: float | None = None, scale: float = 1.0) -> str:
    """``value ± error`` times ``scale`` in four significant digits (``–``: no value)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    v = value * scale
    text = f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    if error is not None and math.isfinite(error):
        e = error * scale
        text += f" ± {e:.2g}" if abs(e) >= 1e-3 or e == 0 else f" ± {e:.2e}"
    return text


def scale_label(scale: float) -> str:
    """`` (×10^3)`` beside a metric's name when its values are shown scaled, else ``""``."""
    return "" if scale == 1.0 else f" (×10^{round(math.log10(scale))})"
