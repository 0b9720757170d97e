"""The one place a device name becomes a ``torch.device``.

Training, sampling and the validation metrics all take ``device="auto" | "cpu" | "cuda" |
"cuda:N"``; resolving it in one function means ``auto`` picks the same device everywhere
and an unavailable GPU is refused with the same message before any work starts.  Torch is
imported inside the function, so modules that only pass a device name along (the metric
interface, the CLI) stay importable without it.  Resolving a device is where torch work
begins, so it is also where the default CPU thread count is set, once per process
(:mod:`surrogate.threads`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import SurrogateError
from .threads import apply_default_threads

if TYPE_CHECKING:
    import torch


def resolve_device(
    name: str | torch.device | None, *, error: type[SurrogateError] = SurrogateError
) -> torch.device:
    """``None``/``"auto"``: CUDA when torch sees a GPU, else CPU; a device torch does not
    know, or a CUDA device on a machine without one, raises ``error``."""
    import torch

    apply_default_threads()
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise error(f"unknown device {name!r} ({exc})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise error(f"device {device} requested but torch sees no GPU (CUDA is not available here)")
    return device
