"""Options of the training loop, with their defaults (pure Python: no torch here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import TrainingError
from ..jsonutil import to_json
from ..settings import as_dict, build, field_defaults, require

SCHEDULES = ("cosine", "constant", "plateau")
OBJECTIVES = ("auto", "likelihood", "energy", "mixed")
OPTIMIZERS = ("adam", "adamw")


@dataclass(frozen=True)
class TrainOptions:
    """Every option the loop takes, with its default, checked once before training starts.

    Families override defaults through ``TorchSurrogate.train_defaults``; ``fit(**options)``
    overrides both (:meth:`resolve`).  The values are coerced as the loop uses them (an
    integer epoch count given as ``3.0`` from a config file works) and keep their type
    otherwise, so the trajectory options recorded in a checkpoint stay comparable with the
    ones a resumed run is given.
    """

    epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"  # adam | adamw
    schedule: str = "cosine"  # cosine | constant | plateau
    warmup_steps: int = 0
    lr_min_factor: float = 0.0  # cosine decays to lr * lr_min_factor
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    clip_grad: float | None = 10.0  # max global gradient norm per optimizer; None disables
    ema: float | None = None  # EMA decay of the weights (e.g. 0.999); None disables
    amp: bool = False  # bfloat16 autocast (CUDA, or a CPU with bfloat16 instructions)
    device: str | None = "auto"  # auto (cuda when present) | cpu | cuda | cuda:N
    val_fraction: float = 0.1
    val_batch_size: int | None = None
    patience: int | None = 10  # epochs without a better validation loss before stopping
    min_delta: float = 0.0
    restore_best: bool = True  # end with the weights of the best validation epoch
    checkpoint_every: int = 1  # epochs
    #: Also checkpoint inside an epoch, every this many optimizer steps (``None``: at epoch
    #: ends only), so a long epoch cut short resumes from its last such step to the
    #: weights an uninterrupted run reaches.
    checkpoint_steps: int | None = None
    #: ... or once this many seconds have passed since the last checkpoint (rank 0's clock).
    checkpoint_interval: float | None = None
    keep_checkpoints: int = 2
    resume: bool = False
    progress: bool | None = None  # None: a bar when stderr is a terminal
    block_events: int | None = None
    window_events: int = 262_144
    in_memory: bool | str = "auto"
    memory_limit: float = 2e9
    preprocessing_events: int = 1_000_000  # events used to fit the preprocessing statistics
    callbacks: list[Callable[[str, dict[str, Any]], None]] | None = None  # 'step_end', 'epoch_end'
    #: Wall-clock budget of this invocation in seconds (``None``: none): the loop stops at
    #: the epoch boundary where the next epoch would overrun it (Lightning's ``max_time``).
    max_time: float | None = None
    #: What is minimised (:mod:`surrogate.training.objectives`): ``likelihood`` (the data's
    #: negative log-likelihood), ``energy`` (E_q[u + log q] over the model's own draws:
    #: KL(q || p) - ln Z, needs a target and no data), ``mixed`` (both); ``auto``:
    #: likelihood with data, energy with a target alone, mixed with both.
    objective: str = "auto"
    energy_weight: float = 0.5  # share of the energy term in a mixed objective, in (0, 1)
    #: Reduced energies above the cap are soft-clipped, ``cap + log1p(u - cap)`` (infinite
    #: ones too), so one overlapping-particle draw early in training does not end the run.
    energy_cap: float | None = None
    #: The energy term's draws see ``a(t) u`` with ``a(t) = 1 - energy_anneal ** t`` at
    #: optimiser step ``t`` (VAN's schedule, Wu et al. 2019, with 0.998): a flattened
    #: target first, so the draws spread over its modes before they sharpen; ``None``: no
    #: ramp.  The logged and validated estimates use the true energy.
    energy_anneal: float | None = None
    steps_per_epoch: int = 100  # batches of draws per epoch when training on a target alone
    val_samples: int = 4096  # model draws of the validation estimate on a target alone

    def __post_init__(self) -> None:
        for key in (
            "epochs",
            "batch_size",
            "checkpoint_every",
            "keep_checkpoints",
            "warmup_steps",
            "steps_per_epoch",
            "val_samples",
        ):
            self._coerce(key, int)
        for key in ("lr", "weight_decay", "val_fraction", "energy_weight"):
            self._coerce(key, float)
        if self.patience is not None:
            self._coerce("patience", int)
        require(self.epochs >= 1 and self.batch_size >= 1, "epochs and batch_size must be >= 1")
        require(
            self.schedule in SCHEDULES,
            f"schedule must be cosine, constant or plateau, not {self.schedule!r}",
        )
        require(
            self.optimizer in OPTIMIZERS,
            f"optimizer must be adam or adamw, not {self.optimizer!r}",
        )
        require(
            self.ema is None or 0 < float(self.ema) < 1,
            f"ema must be a decay in (0, 1) or None, not {self.ema!r}",
        )
        require(
            self.objective in OBJECTIVES,
            f"objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}",
        )
        require(
            0 < self.energy_weight < 1,
            f"energy_weight must be in (0, 1), not {self.energy_weight!r}",
        )
        require(self.steps_per_epoch >= 1, "steps_per_epoch must be >= 1")
        if self.energy_cap is not None:
            self._coerce("energy_cap", float)
        if self.energy_anneal is not None:
            self._coerce("energy_anneal", float)
            require(0 < self.energy_anneal < 1, "energy_anneal must be in (0, 1) or None")
        if self.checkpoint_steps is not None:
            self._coerce("checkpoint_steps", int)
            require(self.checkpoint_steps >= 1, "checkpoint_steps must be >= 1 or None")
        if self.checkpoint_interval is not None:
            self._coerce("checkpoint_interval", float)
            require(self.checkpoint_interval > 0, "checkpoint_interval must be > 0 seconds")
        if self.max_time is not None:
            self._coerce("max_time", float)
            require(self.max_time > 0, f"max_time must be > 0 seconds, not {self.max_time!r}")
        if self.device is not None:  # a torch.device is recorded by its name
            object.__setattr__(self, "device", str(self.device))

    def _coerce(self, key: str, kind: type) -> None:
        value = getattr(self, key)
        try:
            object.__setattr__(self, key, kind(value))
        except (TypeError, ValueError):
            noun = "an integer" if kind is int else "a number"
            raise ValueError(f"option {key} must be {noun}, not {value!r}") from None

    @classmethod
    def resolve(
        cls, options: Mapping[str, Any], family_defaults: Mapping[str, Any] | None = None
    ) -> TrainOptions:
        """The loop's defaults, then the family's, then ``options``; unknown names and bad
        values raise a one-line :class:`~surrogate.errors.TrainingError`."""
        return build(
            cls, {**(family_defaults or {}), **options}, where="training", error=TrainingError
        )

    def recorded(self, exclude: frozenset[str] | set[str]) -> dict[str, Any]:
        """The options as plain JSON values, without ``exclude`` and the callbacks (code,
        not settings): what checkpoints and model provenance record."""
        skip = {"callbacks", *exclude}
        return to_json({k: v for k, v in as_dict(self).items() if k not in skip})


#: Every option with its default, as a dict (for code that lists or forwards options).
TRAIN_DEFAULTS: dict[str, Any] = field_defaults(TrainOptions)

#: Options that may differ between a run and its resumption (they do not change the
#: trajectory, only extend or watch it).  Every other option must match the checkpoint's.
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
        "checkpoint_steps",
        "checkpoint_interval",
        "keep_checkpoints",
        "restore_best",
        "max_time",
    }
)


def trajectory_options(options: TrainOptions) -> dict[str, Any]:
    """The options a resumed run must share with its checkpoint."""
    return options.recorded(RESUMABLE_CHANGES)
