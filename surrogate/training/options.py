"""Options of the training loop, with their defaults (pure Python: no torch here)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import TrainingError, check_known

#: Every option the loop takes, with its default.  Families may override defaults through
#: ``TorchSurrogate.train_defaults``; ``fit(**options)`` overrides both.
TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 50,
    "batch_size": 256,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "optimizer": "adam",  # adam | adamw
    "schedule": "cosine",  # cosine | constant | plateau
    "warmup_steps": 0,
    "lr_min_factor": 0.0,  # cosine decays to lr * lr_min_factor
    "plateau_factor": 0.5,
    "plateau_patience": 3,
    "clip_grad": 10.0,  # max global gradient norm per optimizer; None disables
    "ema": None,  # EMA decay of the weights (e.g. 0.999); None disables
    "amp": False,  # bfloat16 autocast, on CUDA only
    "device": "auto",  # auto (cuda when present) | cpu | cuda | cuda:N
    "val_fraction": 0.1,
    "val_batch_size": None,
    "patience": 10,  # epochs without a better validation loss before stopping; None: never
    "min_delta": 0.0,
    "restore_best": True,  # end with the weights of the best validation epoch
    "checkpoint_every": 1,  # epochs
    "keep_checkpoints": 2,
    "resume": False,
    "progress": None,  # None: a bar when stderr is a terminal
    "block_events": None,
    "window_events": 262_144,
    "in_memory": "auto",
    "memory_limit": 2e9,
    "preprocessing_events": 1_000_000,  # events used to fit the preprocessing statistics
    "callbacks": None,  # list of callables cb(event, info): 'step_end', 'epoch_end'
}

#: Options that may differ between a run and its resumption (they do not change the
#: trajectory, or only extend it).  Every other option must match the checkpoint's.
RESUMABLE_CHANGES = frozenset(
    {
        "epochs",
        "patience",
        "min_delta",
        "progress",
        "device",
        "resume",
        "callbacks",
        "checkpoint_every",
        "keep_checkpoints",
        "restore_best",
    }
)


def resolve_options(
    options: Mapping[str, Any], family_defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Defaults, then the family's defaults, then ``options``; unknown names are refused."""
    check_known(options, TRAIN_DEFAULTS, "training", error=TrainingError)
    out = {**TRAIN_DEFAULTS, **(family_defaults or {})}
    out.update({k: v for k, v in options.items()})
    for key in ("epochs", "batch_size", "checkpoint_every", "keep_checkpoints", "warmup_steps"):
        try:
            out[key] = int(out[key])
        except (TypeError, ValueError):
            raise TrainingError(f"option {key} must be an integer, not {out[key]!r}") from None
    if out["epochs"] < 1 or out["batch_size"] < 1:
        raise TrainingError("epochs and batch_size must be >= 1")
    for key in ("lr", "weight_decay", "val_fraction"):
        out[key] = float(out[key])
    if out["patience"] is not None:
        out["patience"] = int(out["patience"])
    if out["schedule"] not in ("cosine", "constant", "plateau"):
        raise TrainingError(
            f"schedule must be cosine, constant or plateau, not {out['schedule']!r}"
        )
    if out["optimizer"] not in ("adam", "adamw"):
        raise TrainingError(f"optimizer must be adam or adamw, not {out['optimizer']!r}")
    if out["ema"] is not None and not 0 < float(out["ema"]) < 1:
        raise TrainingError(f"ema must be a decay in (0, 1) or None, not {out['ema']!r}")
    return out


def trajectory_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options a resumed run must share with its checkpoint."""
    return {k: v for k, v in options.items() if k not in RESUMABLE_CHANGES and _jsonable(v)}


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
    except TypeError:
        return False
    return True
