"""The two interfaces analysis code sees: ``Simulator`` (reference Monte Carlo) and
``Surrogate`` (a learned or fitted generator).

Both answer ``sample(n, conditions=None, *, seed=None) -> Events``, so analysis code can
swap one for the other.  The base classes own everything that must behave the same in
every plugin (seeding, condition handling, spec checks, checkpoint layout); plugin
authors implement the small ``_sample``/``_fit``/``_state`` methods.
"""

from __future__ import annotations

import inspect
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from .checkpoint import load_model, save_model
from .errors import NonFiniteError, SpecError, SurrogateError, check_known
from .events import Events
from .io import open_events
from .settings import as_dict, build, field_defaults
from .spec import EventSpec
from .trained_conditions import TrainedConditions, record
from .training import distributed

Seed = int | np.random.SeedSequence | None
Conditions = Mapping[str, Any] | None
DataSource = Events | str | os.PathLike[str]


def make_rng(seed: Seed) -> np.random.Generator:
    """The one place a seed becomes a generator (PCG64), so every plugin seeds alike."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise SpecError(f"n must be a non-negative integer, not {n!r}")
    return int(n)


def checked_output(
    spec: EventSpec, fields: Mapping[str, Any], conds: dict[str, np.ndarray], what: str
) -> Events:
    """A generator's events, checked: NaN or Inf is never handed on (a file of them
    looks complete), and the error names the event's conditions, to reproduce it."""
    try:
        return Events(spec.check_fields(fields, what=what), conds, spec)
    except NonFiniteError as exc:
        at = ", ".join(f"{k}={v[exc.event]:.6g}" for k, v in conds.items())
        raise exc.noted("", detail=f", at {at}" if at else "") from None


class Simulator(ABC):
    """A reference Monte Carlo.  Subclasses set ``spec`` and implement ``_sample``.

    ``name``/``version`` identify the simulator in file metadata; ``options`` are the
    factory options it was built with (geometry, particle...), recorded for provenance.
    """

    #: The registry name (set by :func:`surrogate.simulator` on the instance it builds).
    name: str = ""
    version: ClassVar[str] = "0"
    spec: EventSpec

    def __new__(cls, *args: Any, **options: Any) -> Simulator:
        # recorded here, so a subclass that forgets super().__init__(**options) still
        # records its options in files and in its repr
        obj = super().__new__(cls)
        obj.options = dict(options)
        return obj

    def __init__(self, **options: Any) -> None:
        self.options: dict[str, Any] = dict(options)

    def sample(self, n: int, conditions: Conditions = None, *, seed: Seed = None) -> Events:
        """Simulate ``n`` events at ``conditions`` (scalars broadcast; ``None``: drawn
        from each condition's prior).  The same seed gives the same events."""
        n = check_n(n)
        rng = make_rng(seed)
        conds = self.spec.resolve_conditions(n, conditions, rng)
        fields = self._sample(n, conds, rng)
        return checked_output(self.spec, fields, conds, f"simulator {self.name!r} output")

    @abstractmethod
    def _sample(
        self, n: int, conditions: dict[str, np.ndarray], rng: np.random.Generator
    ) -> Mapping[str, np.ndarray]:
        """Return the fields of ``n`` events at the given per-event conditions."""

    def preprocessing(self) -> list[dict[str, Any]] | None:
        """The transform chain a generator should apply to this simulator's events
        (see :mod:`surrogate.preprocessing`), or ``None`` for the generator's default."""
        return None

    def split(self) -> dict[str, Any] | None:
        """How a two-stage model should split this simulator's events: a config naming a
        registered split (``{"type": NAME, ...options}``, see ``register_splits``) into a
        low-dimensional summary, learned first, and the rest, learned given the summary;
        ``None``: the simulator offers none."""
        return None

    #: How many labelled modes the distribution has (0: none); see :meth:`mode_labels`.
    n_modes: int = 0

    def mode_labels(self, events: Events) -> np.ndarray | None:
        """The mode each event lies in (``0 .. n_modes - 1``; ``-1``: none), for simulators
        whose distribution has labelled modes, so a comparison can count how evenly a
        generator covers them (mode collapse).  ``None``: no modes."""
        return None

    # -- targets that know their energy (see :mod:`surrogate.energy`) --------------------
    @property
    def has_energy(self) -> bool:
        """Whether the simulator's distribution is known up to a constant (``_energy``)."""
        return type(self)._energy is not Simulator._energy

    @property
    def has_log_prob(self) -> bool:
        """Whether the normaliser is known too, so :meth:`log_prob` is exact."""
        return self.has_energy and type(self)._log_normalizer is not Simulator._log_normalizer

    def energy(self, fields: Mapping[str, Any] | Events, conditions: Conditions = None) -> Any:
        """The reduced energy ``u(x | c)`` per event, ``p(x | c) = exp(-u) / Z(c)``.

        ``fields``: events, or a mapping of field arrays ``(n, *shape)``; numpy in gives a
        float64 numpy array, torch tensors in give a tensor differentiable with respect to
        them.  ``conditions`` (default: the events' own) are checked against the spec.
        """
        from . import energy as en

        fields, conditions = _fields_and_conditions(fields, conditions)
        what = f"energy of {self.name or type(self).__name__!r}"
        self._require_energy()
        x, c, n, numpy_in = en.as_tensors(fields, conditions, self.spec, what)
        return en.to_output(en.check_energy(self._energy(x, c), n, what), numpy_in)

    def force(
        self, fields: Mapping[str, Any] | Events, conditions: Conditions = None
    ) -> dict[str, Any]:
        """``-grad_x u`` of every field (the force in units of kT), what gradient-based
        samplers (MALA, HMC) step along: the plugin's ``_force`` where it has a closed
        form, else automatic differentiation of ``_energy``."""
        from . import energy as en

        fields, conditions = _fields_and_conditions(fields, conditions)
        what = f"force of {self.name or type(self).__name__!r}"
        self._require_energy()
        x, c, _, numpy_in = en.as_tensors(fields, conditions, self.spec, what)
        out = self._force(x, c)
        return {k: en.to_output(v, numpy_in) for k, v in out.items()}

    def log_normalizer(self, conditions: Conditions = None, n: int = 1) -> np.ndarray:
        """``ln Z(c)`` of ``n`` events at ``conditions`` (float64, shape ``(n,)``), where the
        normaliser is known in closed form (else a :class:`SurrogateError`)."""
        if not self.has_log_prob:
            raise SurrogateError(
                f"simulator {self.name!r} does not know its normaliser: no exact log_prob"
            )
        conds = self.spec.check_conditions(conditions or {}, n, what="log_normalizer")
        log_z = np.asarray(self._log_normalizer(conds), np.float64)
        return np.broadcast_to(log_z, (n,)).copy()

    def log_prob(
        self, events: Mapping[str, Any] | Events, conditions: Conditions = None
    ) -> np.ndarray:
        """The exact log-density ``-u(x | c) - ln Z(c)`` of ``events`` (per event; numpy),
        for a simulator whose normaliser is known (``has_log_prob``)."""
        fields, conditions = _fields_and_conditions(events, conditions)
        u = np.asarray(self.energy({k: np.asarray(v) for k, v in fields.items()}, conditions))
        return -u - self.log_normalizer(conditions, len(u))

    def _energy(self, fields: dict[str, Any], conditions: dict[str, Any]) -> Any:
        """The reduced energy of each event, a torch tensor ``(n,)``, from torch fields
        ``(n, *shape)`` and conditions ``(n,)``.  Implement it with differentiable torch
        operations; infinite where the density is zero (overlapping particles)."""
        raise SurrogateError(f"simulator {self.name!r} has no energy")

    def _force(self, fields: dict[str, Any], conditions: dict[str, Any]) -> dict[str, Any]:
        """``-grad u`` per field; override where a closed form is cheaper than autograd."""
        from .energy import autograd_force

        return autograd_force(self._energy, fields, conditions)

    def _log_normalizer(self, conditions: dict[str, np.ndarray]) -> np.ndarray:
        """``ln Z`` per event (or a scalar) at the checked conditions, where known."""
        raise NotImplementedError

    def _require_energy(self) -> None:
        if not self.has_energy:
            raise SurrogateError(
                f"simulator {self.name!r} has no energy: only a target that implements "
                "_energy (a Boltzmann distribution) can be evaluated or trained on"
            )

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"<Simulator {self.name} {opts}>".replace(" >", ">")


def _fields_and_conditions(
    fields: Mapping[str, Any] | Events, conditions: Conditions
) -> tuple[Mapping[str, Any], Conditions]:
    if isinstance(fields, Events):
        return fields.fields, fields.conditions if conditions is None else conditions
    return fields, conditions


class Surrogate(ABC):
    """A generator trained on events.  Subclasses implement ``_fit``, ``_sample`` and the
    state round trip; checkpoints, seeding and spec checks live here.

    ``defaults`` lists every hyper-parameter with its default; unknown ones are refused so
    a typo does not silently train the wrong model.  ``density`` says what ``log_prob``
    returns: the exact log-density, a lower bound, or nothing.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "0"
    density: ClassVar[Literal["exact", "bound", "none"]] = "none"
    #: The hyper-parameters as a frozen dataclass (see :mod:`surrogate.settings`): declared
    #: once with their defaults, checked once when the model is built, written to
    #: ``config.json`` as they are.  ``None``: the family takes no hyper-parameters.
    settings_class: ClassVar[type | None] = None
    #: Every hyper-parameter with its default (derived from ``settings_class``).
    defaults: ClassVar[dict[str, Any]] = {}
    #: A baseline (a closed-form fit, say) is the floor comparisons show learned models
    #: against; comparisons include every registered baseline.
    baseline: ClassVar[bool] = False
    #: False: the family ignores conditions, so it cannot be a stage of a two-stage model
    #: (whose second stage is conditioned on the first's output).
    conditional: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.settings_class is not None:
            cls.defaults = field_defaults(cls.settings_class)

    def __init__(self, spec: EventSpec | None = None, **hyperparameters: Any) -> None:
        where = f"model {self.name!r}"
        if self.settings_class is not None:
            self.settings: Any = build(self.settings_class, hyperparameters, where=where)
            hyperparameters = as_dict(self.settings)
        else:
            check_known(hyperparameters, self.defaults, where)
        self.hyperparameters: dict[str, Any] = {**self.defaults, **hyperparameters}
        self.spec: EventSpec | None = spec
        self.provenance: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}
        #: The training data's conditions, which ``sample`` draws from when none are given
        #: (``None``: a model saved before they were recorded, or never fitted: the priors).
        self.trained_conditions: TrainedConditions | None = None

    # -- training ---------------------------------------------------------------------
    def fit(
        self,
        data: DataSource | None = None,
        *,
        target: Simulator | None = None,
        conditions: Conditions = None,
        seed: Seed = None,
        workdir: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        max_time: float | None = None,
        **options: Any,
    ) -> Surrogate:
        """Fit to events (in memory, or an event file streamed in batches), to a target's
        energy, or to both.

        The data must match the model's spec (set from the data, else from ``target``,
        when the model has none).  ``target`` is a simulator that knows its energy
        (``has_energy``): a family with an exact density trains on it by the ``energy``
        objective, alone or mixed with the data's likelihood (the ``objective`` option;
        see :mod:`surrogate.training.objectives`); ``conditions`` fixes the conditions its
        draws are made at when there is no data (the others come from the spec's priors),
        and those are the conditions recorded as trained.  ``workdir`` is where a training
        loop may keep its log, plots and periodic checkpoints (``None``: nowhere).
        ``progress`` (a bar; ``None``: when stderr is a terminal) and ``max_time`` (a
        wall-clock budget in seconds) are accepted by every family and passed on to those
        whose ``_fit`` takes them: a closed-form fit has no bar and needs no budget.
        Other ``options`` go to the plugin's training loop (epochs, batch size...).

        The training conditions are recorded here, for every family (see
        :mod:`surrogate.trained_conditions`), and the metrics of a previous validation
        are dropped: they described other weights.

        Under ``torchrun`` every process calls ``fit`` and a torch family trains
        data-parallel (:mod:`surrogate.training.distributed`); each process ends with the
        same model, and a process group the toolkit created is destroyed when ``fit``
        returns (one group for every loop a model runs).
        """
        if data is None and target is None:
            raise SpecError("fit needs training events, a target with an energy, or both")
        if data is not None and conditions is not None:
            raise SpecError(
                "conditions fix the draws of training on a target alone; with data, the "
                "energy term draws at the data's conditions"
            )
        if target is not None and "target" not in inspect.signature(self._fit).parameters:
            raise SurrogateError(
                f"model {self.name!r} cannot train on a target's energy: that needs a family "
                "with an exact density that draws its own samples (flow)"
            )
        source = None if data is None else data if isinstance(data, Events) else open_events(data)
        spec = self._adopt_spec(target.spec if source is None else source.spec)  # type: ignore[union-attr]
        if target is not None and not spec.compatible_with(target.spec):
            raise SpecError(
                f"target {target.name!r} does not match the model's spec: "
                + "; ".join(target.spec.difference(spec))
            )
        if isinstance(source, Events):
            source = source.check(spec, what="training data")
        self.metrics = {}
        # before _fit, so that a training loop sampling the model draws them too
        self.trained_conditions = (
            record(source, spec) if source is not None else _fixed_conditions(spec, conditions)
        )
        self.provenance = self._fit_provenance(data, source, target, seed)
        extra = {"target": target, "conditions": conditions} if target is not None else {}
        common = {"progress": progress, "max_time": max_time}
        options |= {k: v for k, v in common.items() if v is not None and _takes(self._fit, k)}
        with distributed.session():
            self._fit(
                source,
                seed=seed,
                workdir=None if workdir is None else Path(workdir),
                **extra,
                **options,
            )
        return self

    @staticmethod
    def _fit_provenance(data: Any, source: Any, target: Any, seed: Seed) -> dict[str, Any]:
        described = "in-memory events" if isinstance(data, Events) else str(data)
        out: dict[str, Any] = {
            "data": None if data is None else described,
            "n_events": 0 if source is None else len(source),
            "seed": int(seed) if isinstance(seed, (int, np.integer)) else None,
            **(getattr(source, "metadata_summary", {}) if source is not None else {}),
        }
        if target is not None:
            out["target"] = {"name": target.name, "options": dict(target.options)}
        return out

    def _adopt_spec(self, spec: EventSpec | None) -> EventSpec:
        """Take the data's spec, or check it against the model's own; the model's."""
        if spec is None and self.spec is None:
            raise SpecError(
                "training data has no event spec: pass events from a simulator "
                "or a file written by this toolkit (or read with spec=...)"
            )
        if self.spec is None:
            self.spec = spec
        elif spec is not None and not self.spec.compatible_with(spec):
            raise SpecError(
                "training data spec does not match the model's: "
                + "; ".join(spec.difference(self.spec))
            )
        return self._require_spec()

    @abstractmethod
    def _fit(self, data: Any, *, seed: Seed, workdir: Path | None, **options: Any) -> None:
        """Fit to ``data``: ``Events`` or an event-file reader (``len``, slicing, ``spec``)."""

    # -- generation ---------------------------------------------------------------------
    def sample(self, n: int, conditions: Conditions = None, *, seed: Seed = None) -> Events:
        """Generate ``n`` events; conditions are checked against the trained range, those
        not given are drawn as :meth:`resolve_conditions` says."""
        spec = self._require_spec()
        n = check_n(n)
        rng = make_rng(seed)
        conds = self.resolve_conditions(n, conditions, rng)
        fields = self._sample(n, conds, rng)
        return checked_output(spec, fields, conds, f"model {self.name!r} output")

    def resolve_conditions(
        self, n: int, conditions: Conditions, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """Conditions for ``n`` events: the given ones checked against the valid range, the
        others drawn from the training conditions the model recorded (given the ones
        fixed, where the record is exact; see :mod:`surrogate.trained_conditions`), or
        from the spec's priors by a model that recorded none."""
        spec = self._require_spec()
        if self.trained_conditions is None:
            return spec.resolve_conditions(n, conditions, rng)
        given = spec.check_conditions(conditions or {}, n, partial=True)
        return self.trained_conditions.draw(n, given, rng)

    @abstractmethod
    def _sample(
        self, n: int, conditions: dict[str, np.ndarray], rng: np.random.Generator
    ) -> Mapping[str, np.ndarray]:
        """Return the fields of ``n`` generated events."""

    def log_prob(self, events: Events, conditions: Conditions = None) -> np.ndarray:
        """Log-density of ``events`` (per event, in the units of the spec's fields).

        Exact or a lower bound as ``density`` says; models without a density raise.
        """
        if self.density == "none":
            raise SurrogateError(f"model {self.name!r} has no tractable density")
        spec = self._require_spec()
        conds = events.conditions if conditions is None else conditions
        checked = Events.checked(events.fields, conds, spec, what="log_prob input")
        return self._log_prob(checked)

    def _log_prob(self, events: Events) -> np.ndarray:
        raise SurrogateError(f"model {self.name!r} does not implement log_prob")

    # -- anomaly scores -----------------------------------------------------------------
    def score_kinds(self) -> dict[str, str]:
        """The anomaly scores this model gives: name -> what it measures, the default
        first.  Every score is conditional (an event is compared with what the model
        expects at its own conditions) and higher means more anomalous.  A family adds its
        own by extending this and :meth:`_anomaly_score` (the VAE's reconstruction error)."""
        kinds: dict[str, str] = {}
        if self.density == "exact":
            kinds["nll"] = "negative exact log-density"
        elif self.density == "bound":
            kinds["nll_bound"] = "negative lower bound of the log-density"
        kinds["knn"] = (
            "log distance to the k-th nearest of m model draws at the event's conditions "
            "(needs no density: the score of a model that has none)"
        )
        return kinds

    def per_field_kinds(self) -> tuple[str, ...]:
        """The kinds of :meth:`score_kinds` that also score each field apart (none here)."""
        return ()

    def anomaly_score(
        self,
        events: Events,
        kind: str | None = None,
        *,
        per_field: bool = False,
        seed: Seed = 0,
        **options: Any,
    ) -> np.ndarray | dict[str, np.ndarray]:
        """One score per event (higher: more anomalous) of ``kind`` (default: the first of
        :meth:`score_kinds`); with ``per_field``, a dict field name -> scores, for the
        kinds that can tell the fields apart.  ``options`` tune a kind (``knn``: ``draws``,
        ``k``)."""
        from .anomaly.scores import check_kind, knn_score

        spec = self._require_spec()
        kind = check_kind(self, kind, per_field)
        checked = Events.checked(events.fields, events.conditions, spec, what="scored events")
        known = ("draws", "k") if kind == "knn" else ()
        check_known(options, known, f"the {kind} score", error=SurrogateError)
        if kind == "knn":
            return knn_score(self, checked, seed=seed, **options)
        return self._anomaly_score(checked, kind, per_field)

    def _anomaly_score(
        self, events: Events, kind: str, per_field: bool
    ) -> np.ndarray | dict[str, np.ndarray]:
        """The scores of a kind the family declared (``events`` are checked)."""
        if kind in ("nll", "nll_bound"):
            return -self._log_prob(events)
        raise SurrogateError(f"model {self.name!r} declares the {kind} score but gives none")

    def score_space(self, events: Events) -> np.ndarray:
        """Events as the rows of a matrix in which distances compare them (the ``knn``
        score's): the flattened fields here; a family with preprocessing gives its
        model-space vectors, where every dimension counts alike."""
        return self._require_spec().flatten(events.fields).astype(np.float64)

    # -- persistence --------------------------------------------------------------------
    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """Everything learned, as named numpy arrays (stored as safetensors)."""

    @abstractmethod
    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``_state`` returned, on a model built from the same config."""

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model directory (``config.json``, ``model.safetensors``, ``README.md``)
        atomically: an interrupted save leaves the previous directory, never half a new one.

        Under ``torchrun`` only rank 0 writes (every process holds the same model, and two
        writers would race for the directory); while a process group is up the others
        wait until the directory is complete, so each can load it after ``save``."""
        world = distributed.World.from_env()
        if not world.distributed:
            return save_model(self, Path(path))
        try:
            return save_model(self, Path(path)) if world.is_main else Path(path)
        finally:
            if distributed.group_initialised():
                distributed.barrier()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Surrogate:
        """Load a model directory written by ``save``; refuses another plugin's checkpoint
        (``surrogate.load(path)`` loads one of any installed family)."""
        return load_model(Path(path), cls)

    # -- resuming (families with a training loop override these) ------------------------
    @classmethod
    def resume_settings(cls, workdir: Path) -> dict[str, Any]:
        """``family``, ``hyperparameters`` and ``seed`` of the run checkpointed in
        ``workdir``, so that ``train --resume`` continues it with the same settings."""
        raise SurrogateError(f"model {cls.name!r} has no training loop to resume")

    @classmethod
    def clear_resume_state(cls, workdir: Path) -> None:
        """Delete a previous run's resume checkpoints in ``workdir`` (``--overwrite``);
        a family without a training loop keeps none."""
        return None

    def _require_spec(self) -> EventSpec:
        if self.spec is None:
            raise SurrogateError(f"model {self.name!r} is not trained yet (no event spec)")
        return self.spec

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters.items())
        return f"<Surrogate {self.name} {hp}>"


def _fixed_conditions(spec: EventSpec, conditions: Conditions) -> TrainedConditions | None:
    """What a fit on a target alone records as its training conditions: the fixed ones
    when every condition is fixed (a model trained at one temperature draws at it by
    default), else ``None`` (the spec's priors, which the training draws came from)."""
    given = spec.check_conditions(conditions or {}, 1, what="training conditions", partial=True)
    if set(given) != set(spec.condition_names) or not given:
        return None
    row = np.array([[given[c][0] for c in spec.condition_names]], dtype=np.float64)
    return TrainedConditions(spec.condition_names, row, np.ones(1, dtype=np.int64), 1)


def _takes(method: Any, name: str) -> bool:
    """Whether ``method`` accepts the keyword ``name`` (by name or through ``**kwargs``)."""
    params = inspect.signature(method).parameters
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
