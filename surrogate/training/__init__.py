"""The one training loop of the torch-based generators (see :mod:`.loop`).

``surrogate.training`` itself is light: the batching (:mod:`.data`) and options
(:mod:`.options`) are pure numpy/Python; the loop (:mod:`.loop`) imports torch and is
loaded on first use of ``Trainer``.
"""

from __future__ import annotations

from typing import Any

from .data import EventStream
from .options import TRAIN_DEFAULTS, TrainOptions

__all__ = ["TRAIN_DEFAULTS", "EventStream", "StepContext", "TrainOptions", "Trainer"]


def __getattr__(name: str) -> Any:
    if name in ("Trainer", "StepContext", "TrainResult"):
        from . import loop

        return getattr(loop, name)
    raise AttributeError(name)
