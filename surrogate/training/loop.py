"""The one training loop every torch-based generator family uses.

The loop owns epochs, devices, batching, logging, EMA, gradient clipping, checkpoints,
early stopping, the wall-clock budget (``max_time``) and resume.  What is trained is an
*objective* (duck-typed; a :class:`~surrogate_generators.base.TorchSurrogate` is one):

``networks() -> dict[str, nn.Module]``
    every module with weights (moved to the device, checkpointed, EMA-averaged);
``configure_optimizers(options) -> dict[str, Optimizer]``
    one optimizer per name (a GAN has two), from the run's
    :class:`~surrogate.training.options.TrainOptions` (``lr``, ``weight_decay``...);
``step_order() -> list[str]``
    the optimizer names stepped per batch, in order (``["disc", "disc", "gen"]``...);
``training_loss(batch, optimizer, ctx) -> dict[str, Tensor]``
    the losses of one step for that optimizer; ``"loss"`` is back-propagated, every entry
    is logged (``loss`` under the optimizer's name when there are several);
``validation_loss(batch, ctx) -> dict[str, Tensor]``
    evaluated without gradients on the validation batches; ``"loss"`` is monitored;
``make_batch(arrays, device) -> batch``
    numpy arrays from the data stream -> whatever ``training_loss`` takes;
``supports_amp`` (optional attribute, default true)
    false keeps a model in full precision even when ``amp`` is asked for.

What is minimised is swappable (:mod:`.objectives`): a model trained on a target's energy
is handed to the loop with the energy objective bound to it, over a stream of condition
batches (:class:`~surrogate.training.data.ConditionStream`), and its losses draw from
the model itself.

Checkpoints (``workdir/checkpoints/epoch-NNNN.pt`` after epoch NNNN, and
``epoch-NNNN-step-SSSSSS.pt`` after step SSSSSS of epoch NNNN when ``checkpoint_steps`` or
``checkpoint_interval`` asks for them) hold tensors and primitives only and are read with
``torch.load(weights_only=True)``.  They carry the RNG states, optimizers, schedulers, EMA,
early-stopping state, history and the partial sums of an unfinished epoch, so a run resumed
from one reaches the same weights, bit for bit on the same device, as an uninterrupted run
with the same seed.  Resuming inside an epoch draws that epoch's batches again and skips
the ones already trained on: the batch order depends only on ``(seed, epoch)``.

Under ``torchrun`` (several processes, :mod:`.distributed`) the loop trains data-parallel:
each process takes its slice of every global batch, the gradients are averaged between
backward and the optimizer step, the logged and validation losses are summed over the
processes, and rank 0 alone writes the log, the plot and the checkpoints (which hold every
process's RNG state) and decides when to stop.  Callbacks run on every process (the
trainer's ``world`` says which).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import logging
import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ..checkpoint import contained
from ..devices import resolve_device
from ..errors import TrainingError
from ..io.atomic import atomic_path, write_text_atomic
from ..jsonutil import to_json
from . import distributed
from .distributed import World
from .options import TRAIN_DEFAULTS, TrainOptions, trajectory_options

CHECKPOINT_FORMAT = "surrogate-training-checkpoint"
#: 2: checkpoints inside an epoch (``epoch_step``, ``epoch_sums``); a reader of version 1
#: would resume one of them at the start of its epoch, so it is refused there.
CHECKPOINT_VERSION = 2
LOG_FILE = "training_log.csv"
PLOT_FILE = "loss.png"
CHECKPOINT_DIR = "checkpoints"

log = logging.getLogger("surrogate.training")


@dataclass
class StepContext:
    """Where the loop is: passed to the objective's losses (KL warm-up, schedules...)."""

    epoch: int  # 0-based
    epochs: int
    step: int  # step within the epoch
    global_step: int
    steps_per_epoch: int
    training: bool = True

    @property
    def progress(self) -> float:
        """Fraction of the whole run done, in [0, 1]."""
        total = max(self.epochs * self.steps_per_epoch, 1)
        return min(1.0, self.global_step / total)

    @property
    def epoch_progress(self) -> float:
        """Epochs done as a float (epoch + fraction of the current one)."""
        return self.epoch + self.step / max(self.steps_per_epoch, 1)


# -- checkpoints ----------------------------------------------------------------------------


_CHECKPOINT_NAME = re.compile(r"epoch-(\d+)(?:-step-(\d+))?\.pt")


def _checkpoint_order(path: Path) -> tuple[int, float]:
    """(epoch, step) of a checkpoint's name; the end of an epoch comes after its steps."""
    match = _CHECKPOINT_NAME.fullmatch(path.name)
    assert match is not None  # checkpoint_paths keeps only names that match
    return int(match[1]), math.inf if match[2] is None else int(match[2])


def checkpoint_paths(workdir: Path | None) -> list[Path]:
    """Checkpoints in ``workdir``, oldest first (other files there are ignored)."""
    if workdir is None:
        return []
    folder = Path(workdir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("epoch-*.pt") if _CHECKPOINT_NAME.fullmatch(p.name)]
    return sorted(found, key=_checkpoint_order)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a training checkpoint (tensors and primitives only; no pickle code runs; a
    link out of the run's directory is refused)."""
    contained(path.parent.parent, path, "run directory", error=TrainingError)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise TrainingError(f"{path}: unreadable training checkpoint ({exc})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path}: not a surrogate training checkpoint")
    if ckpt.get("version", 0) > CHECKPOINT_VERSION:
        raise TrainingError(f"{path}: checkpoint version is newer than this toolkit reads")
    return ckpt


def latest_checkpoint(workdir: Path | None) -> dict[str, Any] | None:
    """The newest readable checkpoint in ``workdir`` (``None`` when there is none)."""
    errors = []
    for path in reversed(checkpoint_paths(workdir)):
        try:
            ckpt = read_checkpoint(path)
        except TrainingError as exc:
            errors.append(str(exc))
            continue
        ckpt["path"] = str(path)
        return ckpt
    if errors:
        raise TrainingError("no readable checkpoint: " + "; ".join(errors))
    return None


def checkpoint_settings(workdir: Path) -> dict[str, Any]:
    """What the newest checkpoint in ``workdir`` was made with: ``family``,
    ``hyperparameters``, ``seed``, ``options`` (trajectory options)... so a resume (the CLI's
    ``--resume``) can rebuild the model without the user repeating every option."""
    ckpt = latest_checkpoint(workdir)
    if ckpt is None:
        raise TrainingError(f"nothing to resume: no checkpoint in {Path(workdir) / CHECKPOINT_DIR}")
    return json.loads(ckpt["fingerprint"])


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping) and v and k != "spec":
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def fingerprint_diff(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """``key: saved -> now`` for every (dotted, nested) entry that differs."""
    saved, now = _flatten(saved), _flatten(now)
    out = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key, "<unset>"), now.get(key, "<unset>")
        if json.dumps(a, sort_keys=True, default=str) != json.dumps(b, sort_keys=True, default=str):
            out.append(f"{key}: {a!r} -> {b!r}")
    return out


def check_resume(ckpt: Mapping[str, Any], fingerprint: Mapping[str, Any]) -> None:
    """Refuse to resume with other hyper-parameters or trajectory options.  An option the
    checkpoint predates is no difference while it keeps its default (a run checkpointed
    before the energy objectives existed resumes as the likelihood run it was)."""
    saved = json.loads(ckpt["fingerprint"])
    now = json.loads(json.dumps(fingerprint, default=str))
    options = now.get("options", {})
    for key, value in to_json(TRAIN_DEFAULTS).items():
        if key in options and key not in saved.get("options", {}) and options[key] == value:
            options.pop(key)
    diff = fingerprint_diff(saved, now)
    if diff:
        raise TrainingError(
            f"cannot resume from {ckpt.get('path', 'the checkpoint')}: it was made with other "
            "settings (" + "; ".join(diff) + "). Resume with the same settings, or start a "
            "fresh run in another directory"
        )


def _state_to_cpu(state: Any) -> Any:
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: _state_to_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_state_to_cpu(v) for v in state)
    return state


# -- EMA ------------------------------------------------------------------------------------


class EMA:
    """Exponential moving average of every floating-point parameter and buffer.

    The decay warms up: update ``t`` (counted from 0) uses ``min(decay, (1 + t) / (10 + t))``
    (the ``num_updates`` rule of TensorFlow's ``ExponentialMovingAverage``).  Without it
    the average starts at the initial weights and forgets them only after ~1/(1 - decay)
    steps, so a short run (a few thousand steps at decay 0.999) ended with weights close
    to their random initialisation.
    """

    def __init__(self, networks: Mapping[str, torch.nn.Module], decay: float) -> None:
        self.decay = float(decay)
        self.networks = networks
        self.shadow = {
            name: {k: v.detach().clone() for k, v in net.state_dict().items()}
            for name, net in networks.items()
        }

    def decay_at(self, step: int) -> float:
        """The decay used by the update at (0-based) ``step``."""
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Average in the live weights after optimiser step ``step`` (0-based)."""
        weight = 1 - self.decay_at(step)
        for name, net in self.networks.items():
            shadow = self.shadow[name]
            for k, v in net.state_dict().items():
                if v.dtype.is_floating_point:
                    shadow[k].lerp_(v.detach(), weight)
                else:
                    shadow[k].copy_(v)

    def state_dict(self) -> dict[str, Any]:
        return _state_to_cpu(self.shadow)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, tensors in state.items():
            for k, v in tensors.items():
                self.shadow[name][k].copy_(v)

    def swap(self) -> None:
        """Exchange the live weights and the averages (call twice to undo)."""
        with torch.no_grad():
            for name, net in self.networks.items():
                live = net.state_dict()
                for k, v in live.items():
                    tmp = v.detach().clone()
                    v.copy_(self.shadow[name][k])
                    self.shadow[name][k].copy_(tmp)


# -- the loop -------------------------------------------------------------------------------

#: Why a run ended: every epoch done, early stopping, or the wall-clock budget.
StopReason = Literal["epochs", "early_stopping", "max_time"]


@dataclass
class TrainResult:
    """What a run did; ``stopped`` says why it ended, so a caller can tell a run cut short
    by ``max_time`` (resumable, with more time) from one that converged or finished."""

    history: list[dict[str, float]]
    best_epoch: int | None
    best_loss: float | None
    epochs_run: int
    stopped: StopReason
    device: str
    seconds: float

    @property
    def stopped_early(self) -> bool:
        return self.stopped == "early_stopping"


class TimeBudget:
    """``max_time`` seconds for one invocation of the loop (a resumed run gets its own).

    After each epoch the loop asks whether another one fits, estimating its length as the
    mean of this invocation's epochs so far (a resumed run may run on another machine, so
    earlier invocations' epochs say little).  A budget already spent when the first epoch
    ends cannot be honoured at any epoch boundary: that is an error, not a model.
    """

    def __init__(self, max_time: float | None, start: float) -> None:
        self.max_time, self.start, self.epochs = max_time, start, 0

    def next_epoch_fits(self, now: float) -> bool:
        """Count an epoch that ended at ``now``; whether one more ends within the budget."""
        self.epochs += 1
        if self.max_time is None:
            return True
        elapsed = now - self.start
        if self.epochs == 1 and elapsed > self.max_time:
            raise TrainingError(
                f"max_time={self.max_time:g}s is shorter than one epoch (the first took "
                f"{elapsed:.3g}s)"
            )
        return elapsed + elapsed / self.epochs <= self.max_time


class Trainer:
    """Run ``objective`` over ``train_batches``/``val_batches`` with ``options``.

    ``train_batches(epoch)`` yields the numpy arrays of one epoch (``steps_per_epoch`` of
    them); ``val_batches()`` the validation arrays (may yield nothing).  ``fingerprint``
    (JSON-able) identifies the run for resume checks; ``extra_state`` (name -> numpy or
    tensor) is stored in checkpoints verbatim (preprocessing statistics...).
    """

    def __init__(
        self,
        objective: Any,
        *,
        train_batches: Callable[[int], Iterable[Any]],
        val_batches: Callable[[], Iterable[Any]] | None,
        steps_per_epoch: int,
        options: TrainOptions,
        workdir: Path | None = None,
        fingerprint: Mapping[str, Any] | None = None,
        extra_state: Mapping[str, Any] | None = None,
        resume_from: Mapping[str, Any] | None = None,
    ) -> None:
        self.objective = objective
        self.train_batches = train_batches
        self.val_batches = val_batches
        self.steps_per_epoch = int(steps_per_epoch)
        self.options = options
        self.workdir = None if workdir is None else Path(workdir)
        self.fingerprint = {
            **(fingerprint or {}),
            "options": trajectory_options(options),
        }
        self.extra_state = dict(extra_state or {})
        self.resume_from = resume_from
        self.world = World.from_env()
        self.device = distributed.local_device(
            self.world, resolve_device(options.device, error=TrainingError)
        )
        self.amp = bool(options.amp) and getattr(objective, "supports_amp", True)
        self.callbacks = list(options.callbacks or [])
        self.progress = self.world.is_main and (
            sys.stderr.isatty() if options.progress is None else bool(options.progress)
        )

    # -- setup ----------------------------------------------------------------------------
    def _setup(self) -> None:
        opts = self.options
        self.networks: dict[str, torch.nn.Module] = dict(self.objective.networks())
        for net in self.networks.values():
            net.to(self.device)
        self._seed = torch.initial_seed()
        if self.world.distributed:
            distributed.broadcast_module_state(self.networks.values())
            self._reseed(self._seed)
        self.optimizers: dict[str, torch.optim.Optimizer] = dict(
            self.objective.configure_optimizers(opts)
        )
        if not self.optimizers:
            raise TrainingError("the model has no optimizer (nothing to train)")
        order = getattr(self.objective, "step_order", lambda: None)()
        order = list(self.optimizers) if order is None else list(order)
        unknown = [o for o in order if o not in self.optimizers]
        if unknown:
            raise TrainingError(f"step_order names unknown optimizer {unknown[0]!r}")
        self.order = order
        self.schedulers: dict[str, Any] = {
            name: self._scheduler(opt) for name, opt in self.optimizers.items()
        }
        self.ema = EMA(self.networks, opts.ema) if opts.ema else None
        self.history: list[dict[str, float]] = []
        self.epoch = 0
        self.global_step = 0
        self.best_loss: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict[str, Any] | None = None
        self.bad_epochs = 0
        self.epoch_step = 0  # steps done in the epoch under way
        self.epoch_sums: dict[str, float] = {}  # its weighted loss sums so far
        self.last_good: dict[str, Any] = self._net_state()
        self.last_checkpoint: str | None = None
        self.last_saved = time.perf_counter()

    def _reseed(self, seed: int, *tags: int) -> None:
        """Give a process other than rank 0 its own stream of training noise (dropout,
        latent draws), derived from the run's seed: the processes draw independently, and
        rank 0 draws what a single-process run does."""
        if self.world.rank > 0:
            torch.manual_seed(distributed.rank_seed(seed, self.world.rank, *tags))

    def _scheduler(self, opt: torch.optim.Optimizer) -> Any:
        """The learning-rate schedule of one optimizer: plateau, or warm-up then cosine
        decay (to ``lr * lr_min_factor``) or a constant rate, stepped per batch."""
        opts = self.options
        if opts.schedule == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, factor=float(opts.plateau_factor), patience=int(opts.plateau_patience)
            )
        total = max(opts.epochs * self.steps_per_epoch, 1)
        warm = int(opts.warmup_steps or 0)
        floor = float(opts.lr_min_factor or 0.0)
        cosine = opts.schedule == "cosine"

        def factor(step: int) -> float:
            f = min(1.0, (step + 1) / warm) if warm > 0 else 1.0
            if cosine:
                f *= floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step / total, 1)))
            return f

        return torch.optim.lr_scheduler.LambdaLR(opt, factor)

    def _net_state(self) -> dict[str, Any]:
        return {name: _state_to_cpu(net.state_dict()) for name, net in self.networks.items()}

    def _load_nets(self, state: Mapping[str, Any]) -> None:
        for name, net in self.networks.items():
            net.load_state_dict(state[name])

    # -- checkpoints ------------------------------------------------------------------------
    @staticmethod
    def _rng_state() -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = list(torch.cuda.get_rng_state_all())
        return rng

    def _checkpoint(
        self, rngs: list[dict[str, Any]], epoch_sums: Mapping[str, float]
    ) -> dict[str, Any]:
        """The checkpoint; ``rngs``: every process's RNG state, in rank order;
        ``epoch_sums``: the loss sums of the epoch under way, over every process."""
        extra = {
            k: (torch.from_numpy(np.asarray(v, order="C")) if isinstance(v, np.ndarray) else v)
            for k, v in self.extra_state.items()
        }
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "fingerprint": json.dumps(self.fingerprint, sort_keys=True, default=str),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "networks": self._net_state(),
            "optimizers": {k: _state_to_cpu(o.state_dict()) for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "ema": self.ema.state_dict() if self.ema else {},
            "best": {
                "loss": self.best_loss,
                "epoch": self.best_epoch,
                "networks": self.best_state or {},
            },
            "bad_epochs": self.bad_epochs,
            "epoch_step": self.epoch_step,
            "epoch_sums": json.dumps(epoch_sums),
            "history": json.dumps(self.history),
            "rng": rngs[0],
            "world_size": len(rngs),
            **({"rank_rng": rngs} if len(rngs) > 1 else {}),
            "extra": extra,
        }

    def _save_checkpoint(self) -> None:
        """Rank 0 writes the checkpoint, with every process's RNG state; the others wait
        until it is complete, so none can read half of it."""
        if self.workdir is None:
            return
        name = (
            f"epoch-{self.epoch + 1:04d}-step-{self.epoch_step:06d}.pt"
            if self.epoch_step
            else f"epoch-{self.epoch:04d}.pt"
        )
        path = self.workdir / CHECKPOINT_DIR / name
        mine = (self._rng_state(), self.epoch_sums)
        states = distributed.gather_objects(mine) if self.world.distributed else [mine]
        if states is not None:
            sums: dict[str, float] = {}
            for _, part in states:  # each process's share of the global means
                for k, v in part.items():
                    sums[k] = sums.get(k, 0.0) + v
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                torch.save(self._checkpoint([rng for rng, _ in states], sums), tmp)
            keep = max(int(self.options.keep_checkpoints or 1), 1)
            for old in checkpoint_paths(self.workdir)[:-keep]:
                old.unlink(missing_ok=True)
        self.last_checkpoint = str(path)
        self.last_saved = time.perf_counter()
        if self.world.distributed:
            distributed.barrier()

    def _checkpoint_due_in_epoch(self) -> bool:
        """Whether the step just taken ends with a checkpoint (``checkpoint_steps``, counted
        over the whole run, or ``checkpoint_interval`` on rank 0's clock, which every
        process follows so all of them reach the checkpoint's collectives)."""
        opts = self.options
        if self.workdir is None:
            return False
        every = opts.checkpoint_steps
        due = every is not None and self.global_step % every == 0
        if opts.checkpoint_interval is not None:
            late = time.perf_counter() - self.last_saved >= float(opts.checkpoint_interval)
            if self.world.distributed:
                late = bool(distributed.broadcast_object(late))
            due = due or late
        return due

    def _restore(self, ckpt: Mapping[str, Any]) -> None:
        check_resume(ckpt, self.fingerprint)
        self._load_nets(ckpt["networks"])
        for k, o in self.optimizers.items():
            o.load_state_dict(ckpt["optimizers"][k])
        for k, s in self.schedulers.items():
            s.load_state_dict(ckpt["schedulers"][k])
        if self.ema is not None:
            self.ema.load_state_dict(ckpt["ema"])
        best = ckpt["best"]
        self.best_loss, self.best_epoch = best["loss"], best["epoch"]
        self.best_state = best["networks"] or None
        self.bad_epochs = int(ckpt["bad_epochs"])
        self.epoch_step = int(ckpt.get("epoch_step", 0))
        # rank 0 carries the sums of every process: the epoch's all-reduce adds them up
        self.epoch_sums = json.loads(ckpt.get("epoch_sums", "{}")) if self.world.is_main else {}
        self.history = json.loads(ckpt["history"])
        self.epoch = int(ckpt["epoch"])
        self.global_step = int(ckpt["global_step"])
        self._restore_rng(ckpt)
        self.last_good = self._net_state()
        self.last_checkpoint = ckpt.get("path")

    def _restore_rng(self, ckpt: Mapping[str, Any]) -> None:
        """This process's RNG state from ``ckpt``.  A run resumed on another number of
        processes has no state for some of them: rank 0 takes its own, the others take streams
        derived anew, and the draws differ from those of an uninterrupted run."""
        saved = int(ckpt.get("world_size", 1))
        if saved == self.world.world_size:
            rng = ckpt["rank_rng"][self.world.rank] if saved > 1 else ckpt["rng"]
        else:
            rng = ckpt["rng"] if self.world.is_main else None
            self._reseed(self._seed, self.epoch)
            if self.world.is_main:
                log.warning(
                    "resuming a run checkpointed on %d processes on %d: it goes on, but its "
                    "random draws differ from those of an uninterrupted run",
                    saved,
                    self.world.world_size,
                )
        if rng is not None:
            torch.set_rng_state(rng["torch"])
            if "cuda" in rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])

    # -- logging --------------------------------------------------------------------------
    def _write_log(self, plot: bool = False) -> None:
        if self.workdir is None or not self.history or not self.world.is_main:
            return
        keys: list[str] = []
        for row in self.history:
            keys += [k for k in row if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        for row in self.history:
            writer.writerow({k: row.get(k, "") for k in keys})
        write_text_atomic(self.workdir / LOG_FILE, buf.getvalue())
        if plot:
            plot_history(self.history, self.workdir / PLOT_FILE)

    def _emit(self, event: str, **info: Any) -> None:
        for cb in self.callbacks:
            cb(event, {"trainer": self, **info})

    # -- steps ----------------------------------------------------------------------------
    def _fail(self, what: str, ctx: StepContext) -> None:
        self._load_nets(self.last_good)
        where = (
            f"the last good checkpoint {self.last_checkpoint} is kept"
            if self.last_checkpoint
            else "no checkpoint was written yet"
        )
        self.history.append({"epoch": ctx.epoch + 1, "step": self.global_step, "failed": 1.0})
        with contextlib.suppress(Exception):  # the log is a courtesy; the error matters
            self._write_log(plot=True)
        raise TrainingError(
            f"{what} at epoch {ctx.epoch + 1}, step {ctx.step + 1}: training stopped; {where} "
            "and the model keeps the weights of the last completed epoch. Try a lower lr, "
            "gradient clipping (clip_grad) or check the data and preprocessing"
        )

    def _train_step(self, arrays: Any, ctx: StepContext) -> tuple[dict[str, float], float]:
        """One batch (this process's slice of it): every optimizer stepped in order.
        Returns the logged losses and their weight in the global batch (this process's
        share of its rows; 1 alone)."""
        rows = distributed.batch_rows(arrays)
        batch = self.objective.make_batch(arrays, self.device) if rows else None
        logged: dict[str, float] = {}
        weight = 1.0
        for name in self.order:
            losses, total = self._optimizer_step(name, batch, rows, ctx)
            weight = rows / total if total else 0.0
            prefix = "" if len(self.optimizers) == 1 else f"{name}_"
            for k, v in losses.items():
                logged[prefix + k] = float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
        if self.ema is not None:
            self.ema.update(ctx.global_step)
        return logged, weight

    def _optimizer_step(
        self, name: str, batch: Any, rows: int, ctx: StepContext
    ) -> tuple[dict[str, Any], int]:
        """Step optimizer ``name`` on ``batch`` (``None``: this process has no rows of the
        batch and only joins the gradient average); returns its losses and the rows of
        the global batch.  A loss that is not finite on any process stops every one."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        losses: dict[str, Any] = {}
        value = 0.0
        if batch is not None:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                losses = self.objective.training_loss(batch, name, ctx)
            value = float(losses["loss"].detach())
            if math.isfinite(value):
                losses["loss"].backward()
        params = [p for g in opt.param_groups for p in g["params"]]
        total = rows
        if self.world.distributed:
            total, bad = distributed.average_gradients(params, rows, math.isfinite(value))
            if bad:
                size = self.world.world_size
                self._fail(f"the {name} loss became non-finite on {bad} of {size} processes", ctx)
        elif not math.isfinite(value):
            self._fail(f"the {name} loss became {value}", ctx)
        clip = self.options.clip_grad
        if clip:
            with_grad = [p for p in params if p.grad is not None]
            norm = torch.nn.utils.clip_grad_norm_(with_grad, float(clip))
            if not torch.isfinite(norm):
                self._fail(f"the {name} gradient norm became {float(norm)}", ctx)
        opt.step()
        if self.options.schedule != "plateau":
            self.schedulers[name].step()
        return losses, total

    @torch.no_grad()
    def _validate(self, ctx: StepContext) -> dict[str, float]:
        if self.val_batches is None:
            return {}
        for net in self.networks.values():
            net.eval()
        if self.ema is not None:
            self.ema.swap()
        sums: dict[str, float] = {}
        count = 0.0
        try:
            for arrays in self.val_batches():
                local = self.world.local_batch(arrays)
                n = distributed.batch_rows(local)
                if n == 0:
                    continue
                batch = self.objective.make_batch(local, self.device)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                    losses = self.objective.validation_loss(batch, ctx)
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * n
                count += n
            if self.world.distributed:
                sums, count = distributed.all_reduce_sums(sums, count)
            return {f"val_{k}": v / count for k, v in sums.items()} if count else {}
        finally:
            if self.ema is not None:
                self.ema.swap()
            for net in self.networks.values():
                net.train()

    # -- run ------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Set up (and resume), train epoch by epoch until a stop reason, then finish with
        the best weights.  The stages are methods so each reads on its own; their order
        (and so every random draw) is that of one uninterrupted loop."""
        start_time = time.perf_counter()
        with distributed.session():
            self._join()
            self._setup()
            if self.resume_from is not None:
                self._restore(self.resume_from)
            stopped = self._stopped_before()
            budget = TimeBudget(self.options.max_time, time.perf_counter())
            with self._progress_bar() as bar:
                while stopped is None:
                    t0 = time.perf_counter()
                    row, ctx = self._train_epoch(bar)
                    if self.world.distributed:
                        distributed.broadcast_module_state(
                            self.networks.values(), buffers_only=True
                        )
                    self._validate_epoch(row, ctx)
                    row["seconds"] = time.perf_counter() - t0
                    self.epoch += 1
                    stopped = self._stop_reason(row, budget)
                    self._end_epoch(row, stopped, bar)
            self._finish()
        return TrainResult(
            history=self.history,
            best_epoch=self.best_epoch,
            best_loss=self.best_loss,
            epochs_run=self.epoch,
            stopped=stopped,
            device=str(self.device),
            seconds=time.perf_counter() - start_time,
        )

    def _join(self) -> None:
        """Join the other processes (a no-op alone) and say once what the world is."""
        backend = distributed.init(self.world, self.device)
        if backend is not None and self.world.is_main:
            log.info(self.world.describe(backend, int(self.options.batch_size)))

    def _stopped_before(self) -> StopReason | None:
        """Why a resumed run has nothing left to do (``None``: it goes on).  A run stopped
        on its time budget goes on: the budget is per invocation."""
        if self.history and self.history[-1].get("stopped_early"):
            return "early_stopping"
        return "epochs" if self.epoch >= self.options.epochs else None

    @contextlib.contextmanager
    def _progress_bar(self) -> Iterator[Any]:
        """A tqdm bar over the steps of an epoch, or ``None`` without progress display."""
        if not self.progress:
            yield None
            return
        from tqdm.auto import tqdm

        bar = tqdm(total=self.steps_per_epoch, leave=False, dynamic_ncols=True)
        try:
            yield bar
        finally:
            bar.close()

    def _train_epoch(self, bar: Any) -> tuple[dict[str, float], StepContext]:
        """One pass over the training batches: the epoch's log row (mean training losses)
        and the context of its last step.  An epoch resumed from a checkpoint inside it
        skips the batches trained on before and starts from the losses summed then."""
        epochs = self.options.epochs
        start = self.epoch_step
        ctx = StepContext(self.epoch, epochs, start, self.global_step, self.steps_per_epoch)
        for net in self.networks.values():
            net.train()
        sums = self.epoch_sums
        if bar is not None:
            bar.reset(total=self.steps_per_epoch)
            bar.set_description(f"epoch {self.epoch + 1}/{epochs}")
            bar.update(start)
        batches = itertools.islice(self.train_batches(self.epoch), start, None)
        for step, arrays in enumerate(batches, start):
            ctx = StepContext(self.epoch, epochs, step, self.global_step, self.steps_per_epoch)
            logged, weight = self._train_step(self.world.local_batch(arrays), ctx)
            self.global_step += 1
            self.epoch_step = step + 1
            for k, v in logged.items():
                sums[k] = sums.get(k, 0.0) + v * weight
            if bar is not None:
                bar.update(1)
                if step % 10 == 0:
                    bar.set_postfix({k: f"{v:.4g}" for k, v in logged.items()})
            if self._checkpoint_due_in_epoch():
                self._save_checkpoint()
            self._emit("step_end", epoch=self.epoch, step=step, losses=logged)
        steps, self.epoch_step, self.epoch_sums = self.epoch_step, 0, {}
        if steps == 0:
            raise TrainingError("the training data gave no batches")
        if self.world.distributed:
            sums, _ = distributed.all_reduce_sums(sums)
        row: dict[str, float] = {
            "epoch": self.epoch + 1,
            "step": self.global_step,
            "lr": float(next(iter(self.optimizers.values())).param_groups[0]["lr"]),
        }
        row.update({f"train_{k}": v / steps for k, v in sums.items()})
        return row, ctx

    def _validate_epoch(self, row: dict[str, float], ctx: StepContext) -> None:
        """Add the validation losses to ``row``; step a plateau schedule on the monitored
        loss and keep the best weights (the EMA's, when there is one)."""
        val = self._validate(ctx)
        row.update(val)
        monitor = val.get("val_loss", row.get("train_loss"))
        if monitor is None:
            monitor = next(v for k, v in row.items() if k.startswith("train_"))
        if not math.isfinite(monitor):
            self._fail(f"the validation loss became {monitor}", ctx)
        if self.options.schedule == "plateau":
            for s in self.schedulers.values():
                s.step(monitor)
        if self.best_loss is None or monitor < self.best_loss - float(self.options.min_delta or 0):
            self.best_loss, self.best_epoch, self.bad_epochs = monitor, self.epoch + 1, 0
            if self.ema is not None:
                self.ema.swap()
            self.best_state = self._net_state()
            if self.ema is not None:
                self.ema.swap()
        else:
            self.bad_epochs += 1

    def _stop_reason(self, row: dict[str, float], budget: TimeBudget) -> StopReason | None:
        """Why the loop ends after the epoch just counted (``None``: it goes on); the reason
        is marked in ``row`` when the history alone would not show it.

        On several processes rank 0 decides and the others follow: their clocks differ,
        and one process leaving the loop while another trains on would leave that one
        waiting in a collective for ever.  An error (the budget shorter than one epoch)
        is raised on every process."""
        if not self.world.distributed:
            return self._decide_stop(row, budget)
        decision: tuple[StopReason | None, dict[str, float], str | None] = (None, {}, None)
        if self.world.is_main:
            before = set(row)
            try:
                reason = self._decide_stop(row, budget)
                decision = (reason, {k: v for k, v in row.items() if k not in before}, None)
            except TrainingError as exc:
                decision = (None, {}, str(exc))
        stopped, marks, error = distributed.broadcast_object(decision)
        if error is not None:
            raise TrainingError(error)
        row.update(marks)
        return stopped

    def _decide_stop(self, row: dict[str, float], budget: TimeBudget) -> StopReason | None:
        fits = budget.next_epoch_fits(time.perf_counter())
        patience = self.options.patience
        if patience is not None and self.bad_epochs >= int(patience):
            row["stopped_early"] = 1.0
            return "early_stopping"
        if self.epoch >= self.options.epochs:
            return "epochs"
        if not fits:
            row["stopped_max_time"] = 1.0
            return "max_time"
        return None

    def _end_epoch(self, row: dict[str, float], stopped: StopReason | None, bar: Any) -> None:
        """Record the epoch: history, last good weights, a checkpoint when due (always at
        the last epoch, so a stopped run can be resumed), the log and the callbacks."""
        self.history.append(row)
        self.last_good = self._net_state()
        every = max(int(self.options.checkpoint_every or 1), 1)
        if self.epoch % every == 0 or stopped is not None:
            self._save_checkpoint()
        self._write_log()
        if bar is not None:
            bar.write(
                f"epoch {self.epoch}/{self.options.epochs}: "
                + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if "loss" in k)
            )
        self._emit("epoch_end", epoch=self.epoch, row=row)

    def _finish(self) -> None:
        """End with the best weights (or the EMA's), and write the log and loss plot."""
        if self.options.restore_best and self.best_state is not None:
            self._load_nets(self.best_state)
        elif self.ema is not None:
            self.ema.swap()
        self._write_log(plot=True)


def plot_history(history: list[dict[str, float]], path: Path) -> None:
    """Loss curves (every ``*loss*`` column against the epoch) as a PNG, written atomically."""
    from matplotlib.figure import Figure

    rows = [r for r in history if "failed" not in r]
    if not rows:
        return
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    keys = [k for k in rows[-1] if "loss" in k]
    epochs = [r["epoch"] for r in rows]
    for key in keys:
        ax.plot(epochs, [r.get(key, float("nan")) for r in rows], label=key, marker=".")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fig.savefig(fh, format="png")
