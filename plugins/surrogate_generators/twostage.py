"""``twostage``: a model of a low-dimensional summary, then a model of the rest given it.

CaloFlow (arXiv:2106.05285, 2110.11377) trains Flow I on a shower's layer energies given
the incident energy and Flow II on the energy-normalised voxels given the layer
energies; CaloINN and CaloDREAM split the same way, and every model that does well in the
CaloChallenge generates the energies first.  This family is that design for any
simulator: an event split (:mod:`surrogate.splits`, ``register_splits``) maps the event
onto a summary and the rest, ``stage1`` (any registered conditional family, ``flow`` by
default) learns ``p(summary | conditions)`` and ``stage2`` learns
``p(rest | conditions, summary)``; sampling draws stage 1, then stage 2 at its output,
and inverts the split.

Hyper-parameters (:class:`TwoStageSettings`): ``split`` (a config ``{"type": NAME,
...options}``; ``None``: the one the training file's simulator offers through
``Simulator.split()``, resolved at ``fit`` and recorded), ``stage1``/``stage2`` (family
names), ``stage1_options``/``stage2_options`` (each stage's hyper-parameters; a stage
family with a ``preprocessing`` hyper-parameter gets the chain the split recommends for
its part unless one is given, recorded in the options at ``fit``),
``stage1_train``/``stage2_train`` (training-loop options of one stage) and
``stage1_budget``.

**How stage 2 receives the summary**: as conditions.  The split's ``rest_spec`` adds one
condition per scalar of the summary (``layer_energies_0``...), so stage 2 is an ordinary
conditional model of the family's own, trained on the data's summaries and sampled at
stage 1's.

**Training options**: those given to ``fit`` (``--epochs``, ``--train-option``) go to
both stages; ``stage1_train``/``stage2_train`` override them for one stage (``--option
stage2_train='{"epochs": 50}'``).  A closed-form stage (``gaussian``) takes none.
**Budget** (``max_time``): stage 1 gets ``stage1_budget`` (default 0.2) of what is left
after splitting the data, stage 2 the rest, including whatever stage 1 left unused (a
small model of a few numbers usually stops early).  A share shorter than one of its
stage's epochs is the loop's one-line ``TrainingError``; a fresh run that fails leaves
no file behind.  **Density**: ``exact`` when both stages' are exact (``log_prob`` =
stage 1 + stage 2 + the split's log-determinant), ``none`` when either has none or the
split is not a bijection (``Split.bijective``), ``bound`` otherwise.

Checkpoints: one model directory; both stages' states are in its ``model.safetensors``
(keys ``stage1.``/``stage2.``), their families and options in its hyper-parameters.  The
stages' training logs and resume checkpoints are in ``stage1/`` and ``stage2/`` under the
working directory, with ``twostage-run.json`` (the run's settings) for ``--resume``, which
continues each stage from its last checkpoint and refuses other stage families or
another split.  The split data are held in memory (float32: about the raw events' size).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from surrogate import Surrogate
from surrogate.api import reference_simulator
from surrogate.errors import PluginError, SpecError, SurrogateError, TrainingError
from surrogate.events import Events
from surrogate.factories import surrogate_class
from surrogate.io.atomic import write_text_atomic
from surrogate.jsonutil import to_json
from surrogate.settings import as_dict, require
from surrogate.spec import EventSpec
from surrogate.splits import Split, make_split, stage2_conditions
from surrogate.training import TrainOptions
from surrogate.training.loop import checkpoint_paths

from .resume import clear_checkpoints, run_seed
from .settings import real

STAGES = ("stage1", "stage2")
RUN_FILE = "twostage-run.json"
#: Events split per batch when the training data are encoded.
SPLIT_BATCH = 10_000
#: Set by the two-stage model for each stage: not a stage's own training option.
OWN_OPTIONS = ("max_time", "resume", "progress")
WHERE = "model 'twostage'"


@dataclass(frozen=True)
class TwoStageSettings:
    """The hyper-parameters of a two-stage model (see the module docstring)."""

    #: the event split, ``{"type": NAME, ...options}``; None: the training file's simulator's
    split: Mapping[str, Any] | str | None = None
    stage1: str = "flow"
    stage2: str = "flow"
    stage1_options: Mapping[str, Any] = field(default_factory=dict)
    stage2_options: Mapping[str, Any] = field(default_factory=dict)
    stage1_train: Mapping[str, Any] = field(default_factory=dict)
    stage2_train: Mapping[str, Any] = field(default_factory=dict)
    #: the share of ``max_time`` stage 1 may use; stage 2 gets the rest
    stage1_budget: float = 0.2

    def __post_init__(self) -> None:
        for stage in STAGES:
            family = getattr(self, stage)
            require(isinstance(family, str) and bool(family), f"{stage} must be a family name")
            for kind in ("options", "train"):
                name = f"{stage}_{kind}"
                value = getattr(self, name)
                require(isinstance(value, Mapping), f"{name} must be a dict, not {value!r}")
                object.__setattr__(self, name, dict(value))
            own = sorted(set(OWN_OPTIONS) & set(getattr(self, f"{stage}_train")))
            require(not own, f"{stage}_train: {', '.join(own)} is set by the two-stage model")
        real(self, "stage1_budget", low=0.0, high=1.0, low_open=True, high_open=True)


class TwoStage(Surrogate):
    """A summary model and a model of the rest given it (see the module docstring)."""

    name = "twostage"
    version = "1.0"
    #: with the default stages (two flows); each model decides from its own stages
    density = "exact"
    settings_class = TwoStageSettings
    settings: TwoStageSettings

    def __init__(self, spec: EventSpec | None = None, **hyperparameters: Any) -> None:
        super().__init__(spec, **hyperparameters)
        #: the hyper-parameters as given: what a resumed run is rebuilt from
        self.given = dict(self.hyperparameters)
        self.families = {stage: self._family(stage) for stage in STAGES}
        self.split: Split | None = None
        if self.settings.split is not None:
            self.split = make_split(self.settings.split)
        self._decide_density()
        self.stages: dict[str, Surrogate] = {}
        if spec is not None and self.split is not None:
            self._build_stages()

    # -- the stages -------------------------------------------------------------------------
    def _decide_density(self) -> None:
        """The model's density, from its stages' and its split's (module docstring)."""
        densities = {self.families[stage].density for stage in STAGES}
        if self.split is not None and not self.split.bijective:
            densities.add("none")
        self.density = (  # type: ignore[misc]  # decided per model, from its stages
            "none" if "none" in densities else "exact" if densities == {"exact"} else "bound"
        )

    def _family(self, stage: str) -> type[Surrogate]:
        name = getattr(self.settings, stage)
        try:
            cls = surrogate_class(name)
        except PluginError as exc:
            raise SpecError(f"{WHERE}: {stage}: {exc}") from None
        if not cls.conditional:
            raise SpecError(
                f"{WHERE}: {stage} family {name!r} cannot take conditions (stage 1 is "
                "conditioned on the events' conditions, stage 2 on the summary too)"
            )
        return cls

    def _build_stages(self) -> None:
        """The two stage models for the spec, with the split's preprocessing chains where a
        stage family takes one and none is given; records the split and the options used."""
        spec, split = self._require_spec(), self._require_split()
        specs = dict(zip(STAGES, (split.summary_spec(spec), split.rest_spec(spec)), strict=True))
        chains = dict(zip(STAGES, split.preprocessing(spec), strict=True))
        resolved: dict[str, Any] = {"split": split.to_config()}
        for stage in STAGES:
            cls = self.families[stage]
            options = dict(getattr(self.settings, f"{stage}_options"))
            if chains[stage] is not None and "preprocessing" in cls.defaults:
                options.setdefault("preprocessing", chains[stage])
            try:
                self.stages[stage] = cls(spec=specs[stage], **options)
            except SurrogateError as exc:
                raise SpecError(f"{WHERE}: {stage}_options: {exc}") from None
            resolved[f"{stage}_options"] = options
        self.settings = dataclasses.replace(self.settings, **resolved)
        self.hyperparameters = {**self.defaults, **as_dict(self.settings)}

    def _require_split(self) -> Split:
        if self.split is None:
            raise SurrogateError(f"{WHERE} has no split yet (it is chosen when it is trained)")
        return self.split

    def _encode(self, events: Events) -> tuple[Events, Events, np.ndarray]:
        """Raw events -> stage 1's events, stage 2's and the split's log-determinant; the
        parts are checked against the specs the split declared for them."""
        split = self._require_split()
        first_spec, second_spec = self.stages["stage1"].spec, self.stages["stage2"].spec
        assert first_spec is not None and second_spec is not None
        summary, rest, logdet = split.forward(events.fields, events.conditions)
        first = Events.checked(
            summary, events.conditions, first_spec, what=f"{split.where} summary"
        )
        second = Events.checked(
            rest,
            stage2_conditions(first_spec, first.fields, events.conditions),
            second_spec,
            what=f"{split.where} rest",
        )
        return first, second, np.asarray(logdet, dtype=np.float64)

    # -- training ---------------------------------------------------------------------------
    def _fit(
        self,
        data: Any,
        *,
        seed: Any,
        workdir: Path | None,
        progress: bool | None = None,
        max_time: float | None = None,
        **options: Any,
    ) -> None:
        start = time.perf_counter()
        resume = bool(options.pop("resume", False))
        run = self.resume_settings(_required(workdir)) if resume else None
        seed = run_seed(run["seed"] if run is not None and seed is None else seed)
        if self.split is None:
            self.split = make_split(self._simulator_split(data))
            self._decide_density()
        if run is not None:
            self._check_resume(run, _required(workdir))
        self._build_stages()
        train = {stage: self._train_options(stage, options) for stage in STAGES}
        seeds = np.random.SeedSequence(seed).spawn(len(STAGES))
        with _removed_on_error(workdir, fresh=run is None):
            if workdir is not None:
                self._write_run(workdir, seed)
            parts = self._split_data(data)
            for i, stage in enumerate(STAGES):
                stage_dir = None if workdir is None else workdir / stage
                if resume and checkpoint_paths(stage_dir):
                    train[stage]["resume"] = True
                budget = self._budget(max_time, start, stage)
                try:
                    self.stages[stage].fit(
                        parts[i],
                        seed=run_seed(seeds[i]),
                        workdir=stage_dir,
                        progress=progress,
                        max_time=budget,
                        **train[stage],
                    )
                except TrainingError as exc:
                    share = "" if budget is None else f" (given {budget:.3g}s of max_time)"
                    raise TrainingError(f"{WHERE}: {stage}{share}: {exc}") from None
        self.provenance["seed"] = seed
        self.provenance["training"] = {
            stage: model.provenance.get("training") for stage, model in self.stages.items()
        }

    def _simulator_split(self, data: Any) -> Mapping[str, Any]:
        """The split the training file's simulator offers (the ``preprocessing`` chain's
        rule: the producer, with the file's options, when it is installed)."""
        sim = reference_simulator(None, getattr(data, "metadata", None) or {})
        config = None if sim is None else sim.split()
        if config is None:
            raise SpecError(
                f"{WHERE} needs a split: pass split={{'type': NAME, ...options}} (`surrogate "
                "plugins` lists the event splits), or train on a file of a simulator that "
                "offers one"
            )
        return config

    def _train_options(self, stage: str, options: Mapping[str, Any]) -> dict[str, Any]:
        """The stage's loop options, checked now rather than after the other stage trained."""
        merged = {**options, **getattr(self.settings, f"{stage}_train")}
        try:
            TrainOptions.resolve(merged)
        except TrainingError as exc:
            raise TrainingError(f"{WHERE}: {stage}: {exc}") from None
        return merged

    def _budget(self, max_time: float | None, start: float, stage: str) -> float | None:
        """Stage 1's share of the time left, or all of it for stage 2 (module docstring)."""
        if max_time is None:
            return None
        left = max_time - (time.perf_counter() - start)
        if left <= 0:
            raise TrainingError(f"max_time={max_time:g}s was spent before {stage} started")
        return left * self.settings.stage1_budget if stage == "stage1" else left

    def _split_data(self, data: Any) -> tuple[Events, Events]:
        """The training events as stage 1's and stage 2's, encoded batch by batch."""
        firsts, seconds = [], []
        for begin in range(0, len(data), SPLIT_BATCH):
            first, second, _ = self._encode(data[begin : begin + SPLIT_BATCH])
            firsts.append(first)
            seconds.append(second)
        if not firsts:
            raise TrainingError(f"{WHERE}: no training events")
        return Events.concatenate(firsts), Events.concatenate(seconds)

    # -- resuming ---------------------------------------------------------------------------
    def _write_run(self, workdir: Path, seed: int) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        run = {
            "family": self.name,
            "hyperparameters": self.given,
            "seed": seed,
            "split": self._require_split().to_config(),
            "stages": {stage: getattr(self.settings, stage) for stage in STAGES},
        }
        write_text_atomic(workdir / RUN_FILE, json.dumps(to_json(run), indent=2) + "\n")

    def _check_resume(self, run: Mapping[str, Any], workdir: Path) -> None:
        """Refuse to continue a run with other stage families or another split (each
        stage's loop refuses other options of its own)."""
        for stage in STAGES:
            saved, now = run["stages"][stage], getattr(self.settings, stage)
            if saved != now:
                raise TrainingError(
                    f"cannot resume the two-stage run in {workdir}: its {stage} is {saved!r}, "
                    f"not {now!r}; resume with the same families or train into another directory"
                )
        now_split = to_json(self._require_split().to_config())
        if run["split"] != now_split:
            raise TrainingError(
                f"cannot resume the two-stage run in {workdir}: it splits events by "
                f"{run['split']}, not {now_split}"
            )

    @classmethod
    def resume_settings(cls, workdir: Path) -> dict[str, Any]:
        """``family``, ``hyperparameters`` (as given) and ``seed`` of the run in ``workdir``."""
        path = Path(workdir) / RUN_FILE
        if not path.is_file():
            raise TrainingError(f"nothing to resume: no two-stage run in {workdir} ({RUN_FILE})")
        return json.loads(path.read_text(encoding="utf-8"))

    @classmethod
    def clear_resume_state(cls, workdir: Path) -> None:
        """Delete a previous run's stage checkpoints and run settings (``--overwrite``)."""
        for stage in STAGES:
            clear_checkpoints(Path(workdir) / stage)
        (Path(workdir) / RUN_FILE).unlink(missing_ok=True)

    # -- generation -------------------------------------------------------------------------
    def _require_trained(self) -> None:
        if not self.stages:
            raise SurrogateError(f"{WHERE} is not trained yet")

    def _sample(self, n, conditions, rng):
        self._require_trained()
        seeds = [int(s) for s in rng.integers(0, 2**63 - 1, size=len(STAGES))]
        first = self.stages["stage1"].sample(n, conditions, seed=seeds[0])
        assert first.spec is not None
        second = self.stages["stage2"].sample(
            n, stage2_conditions(first.spec, first.fields, conditions), seed=seeds[1]
        )
        return self._require_split().inverse(first.fields, second.fields, conditions)

    def _log_prob(self, events: Events) -> np.ndarray:
        self._require_trained()
        first, second, logdet = self._encode(events)
        return (
            self.stages["stage1"].log_prob(first) + self.stages["stage2"].log_prob(second) + logdet
        )

    # -- state ------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        self._require_trained()
        return {
            f"{stage}.{key}": value
            for stage, model in self.stages.items()
            for key, value in model._state().items()
        }

    def _load_state(self, state: Mapping[str, np.ndarray]) -> None:
        self._build_stages()
        for stage, model in self.stages.items():
            prefix = f"{stage}."
            model._load_state(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            )


def _required(workdir: Path | None) -> Path:
    if workdir is None:
        raise TrainingError("resume needs the working directory of the run (workdir)")
    return workdir


@contextmanager
def _removed_on_error(workdir: Path | None, *, fresh: bool) -> Iterator[None]:
    """On a user-caused error of a fresh run, delete what it created in ``workdir`` (the
    run settings, the stages' folders; the folder itself when the run made it), so a
    refused run leaves no partial model directory.  A resumed run keeps its checkpoints,
    and so does an interrupted one (it can be resumed)."""
    paths = [] if workdir is None else [workdir, workdir / RUN_FILE, *(workdir / s for s in STAGES)]
    created = [p for p in paths if fresh and not p.exists()]
    try:
        yield
    except SurrogateError:
        for path in created:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise
