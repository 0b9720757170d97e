"""``student``: a one-pass generator distilled from a trained teacher with a latent space.

A spline flow samples exactly but slowly (every coupling step a network and a spline);
CaloFlow (arXiv:2110.11377) trains a student that maps the teacher's base noise to its
events in one pass and samples ~500x faster.  This family is that idea for any teacher
with an invertible latent space (:mod:`surrogate.latent`: a flow's base point
``z = f(x; c)``): the student ``g(z, c)`` is one network (the family's backbone, with a
skip ``g = z + net(z, c)``, so it starts as the identity) trained by regression,

    L = || g(f(x; c), c) - x ||^2   in the teacher's model space,

on pairs the teacher makes: the training events (``x`` from the data, ``z`` their base
points) and, with ``teacher_samples`` > 0, that many events the teacher draws at the
data's conditions (``z`` from the prior, where the student is sampled).  Regressing the
teacher's map rather than the data keeps the target deterministic, so the student need
not learn a distribution, only a function.  Sampling draws ``z ~ N(0, I)`` and runs the
network once (in bfloat16 with ``sample_precision="bfloat16"``, as every torch family).

Hyper-parameters (:class:`StudentSettings`): ``teacher`` (a trained model directory),
``part`` (a sub-model of the teacher by name, ``"stage2"`` of a ``twostage`` model;
``None``: the teacher itself), ``teacher_samples`` and the backbone's.
The student works in its teacher's model space: it takes the teacher's preprocessing
chain, its fitted state and condition encoding, and refuses a teacher of another event
spec.  The teacher is read at ``fit`` only; the student's directory holds its own
weights and the teacher's path as a hyper-parameter (provenance).  ``density = "none"``.
Drawing the teacher's samples counts against ``max_time``.  A student much smaller than a
coupling-flow teacher reproduces only part of its map (the regression error smooths the
draws): how much, on calorimeter showers, is in ``benchmarks/calo-results.md``.

A two-stage teacher is distilled stage by stage: ``twostage`` with ``stage1=student``
and ``stage2=student``, each with ``{"teacher": DIR, "part": "stage1"}`` (or
``"stage2"``), trains each student on its stage's split of the data.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from surrogate.errors import SpecError, TrainingError
from surrogate.events import Events
from surrogate.factories import load
from surrogate.interfaces import Surrogate
from surrogate.latent import has_latent
from surrogate.settings import as_dict, require
from surrogate.training import TrainOptions

from .base import Batch, TorchSurrogate
from .resume import resume_point
from .settings import TorchSettings, integer


@dataclass(frozen=True)
class StudentSettings(TorchSettings):
    """The student's hyper-parameters (see the module docstring)."""

    teacher: str | None = None
    part: str | None = None
    teacher_samples: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.teacher, os.PathLike):  # config.json records text
            object.__setattr__(self, "teacher", os.fspath(self.teacher))
        for name in ("teacher", "part"):
            value = getattr(self, name)
            require(value is None or isinstance(value, str), f"{name} must be text, not {value!r}")
        integer(self, "teacher_samples", low=0)


@dataclass
class PairBatch(Batch):
    """A batch of the teacher's pairs: ``x`` the events in model space, ``z`` their
    teacher latents."""

    z: torch.Tensor | None = None


class Student(TorchSurrogate):
    """A one-pass network distilled from a teacher's latent map (see the module docstring)."""

    name = "student"
    version = "1.0"
    density = "none"
    settings_class = StudentSettings
    settings: StudentSettings
    train_defaults = {"epochs": 50}

    def __init__(self, spec: Any = None, **hyperparameters: Any) -> None:
        super().__init__(spec, **hyperparameters)
        self._teacher: Surrogate | None = None

    # -- the teacher ------------------------------------------------------------------------
    def teacher(self) -> Surrogate:
        """The teacher (its ``part``), loaded once and checked against this model's spec."""
        if self._teacher is None:
            self._teacher = self._load_teacher()
        return self._teacher

    def _load_teacher(self) -> Surrogate:
        path, part = self.settings.teacher, self.settings.part
        if path is None:
            raise TrainingError(f"model {self.name!r} needs teacher=DIR, a trained model")
        if not Path(path).is_dir():
            raise TrainingError(f"model {self.name!r}: teacher {path!r} is not a model directory")
        model = load(path)
        if part is not None:
            stages = getattr(model, "stages", {})
            if part not in stages:
                raise TrainingError(
                    f"model {self.name!r}: teacher {path!r} has no part {part!r} "
                    f"(it has {sorted(stages) or 'none'})"
                )
            model = stages[part]
        if not (has_latent(model) and model.density == "exact"):
            raise TrainingError(
                f"model {self.name!r}: teacher {model.name!r} has no invertible latent space "
                "(a flow has: its base point)"
            )
        if model.spec is None or model.spec.to_dict() != self._require_spec().to_dict():
            raise SpecError(
                f"model {self.name!r}: teacher {path!r} ({part or 'the model'}) was trained on "
                "other events than these: a student learns on its teacher's event spec"
            )
        return model

    # -- training ---------------------------------------------------------------------------
    def _fit(self, data: Any, *, seed: Any, workdir: Path | None, **options: Any) -> None:
        if data is None or options.get("target") is not None:
            raise TrainingError(
                f"model {self.name!r} learns from events and its teacher, not a target energy"
            )
        if self.settings.teacher_samples:  # the run's seed (a resumed run's own) decides them
            seed = resume_point(bool(options.get("resume")), workdir, seed)[1]
        teacher = self.teacher()
        chain = getattr(teacher.settings, "preprocessing", None)  # the teacher's model space
        self.settings = dataclasses.replace(self.settings, preprocessing=chain)
        self.hyperparameters = {**self.defaults, **as_dict(self.settings)}
        start = time.perf_counter()
        data = self._with_teacher_samples(data, teacher, seed)
        if options.get("max_time") is not None:  # the teacher's draws are part of the budget
            options["max_time"] -= time.perf_counter() - start
            if options["max_time"] <= 0:
                raise TrainingError(
                    f"model {self.name!r}: drawing teacher_samples="
                    f"{self.settings.teacher_samples} took all of max_time"
                )
        super()._fit(data, seed=seed, workdir=workdir, **options)

    def _with_teacher_samples(self, data: Any, teacher: Surrogate, seed: Any) -> Any:
        """The data, and ``teacher_samples`` teacher draws at conditions drawn from the
        data's (seeded), as one set of events."""
        n = self.settings.teacher_samples
        if n == 0:
            return data
        events = data if isinstance(data, Events) else data[0 : len(data)]
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])  # not the loop's
        rows = rng.integers(0, len(events), size=n)
        conditions = {k: np.asarray(v)[rows] for k, v in events.conditions.items()}
        drawn = teacher.sample(n, conditions, seed=rng)
        return Events.concatenate([events, drawn])

    def _fit_transforms(self, stream: Any, opts: TrainOptions) -> None:
        """The teacher's fitted preprocessing and condition encoding: its model space."""
        self._load_transform_state(self.teacher()._transform_state())  # type: ignore[attr-defined]

    def _prepare(self, events: Events) -> tuple[np.ndarray, ...]:
        x, c = super()._prepare(events)[:2]
        z = self.teacher().to_latent(events).astype(np.float32)  # type: ignore[attr-defined]
        return x, c, z

    def make_batch(self, arrays: tuple[np.ndarray, ...], device: torch.device) -> Batch:
        x, c, z = (torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays)
        return PairBatch(x, c, z=z)

    def _build(self) -> dict[str, nn.Module]:
        return {"net": self.backbone(self.x_dim, self.x_dim, self.c_dim, zero_init=True)}

    def _map(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        out = self.nets["net"](z, c if c.shape[1] else None)  # type: ignore[index]
        return out.float().add_(z)  # the skip, in place: a bfloat16 output is cast first

    def training_loss(self, batch: Batch, optimizer: str, ctx: Any) -> dict[str, torch.Tensor]:
        """Mean squared distance to the teacher's event, per model-space dimension."""
        assert isinstance(batch, PairBatch) and batch.z is not None
        return {"loss": (self._map(batch.z, batch.c) - batch.x).pow(2).mean()}

    # -- generation -------------------------------------------------------------------------
    def _generate(self, c: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(len(c), self.x_dim, generator=generator, device=c.device)
        return self._map(z, c)
