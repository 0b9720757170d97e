"""``TorchSurrogate``: what every torch generator family shares.

A family subclass declares its hyper-parameters and implements a handful of methods; the
base owns preprocessing (fitted, saved, inverted on sampling), the condition vector, the
training loop, seeded sampling, devices and the state round trip::

    @dataclass(frozen=True)
    class MySettings(TorchSettings):                 # the hyper-parameters, checked once
        latent: int = 8

    class MyFamily(TorchSurrogate):
        name = "mine"; version = "1.0"; density = "none"
        settings_class = MySettings                  # self.settings.latent...
        train_defaults = {"epochs": 100}            # overrides of the loop's defaults

        def _build(self):                            # -> dict of nn.Modules
            return {"net": self.backbone(self.x_dim, self.x_dim, self.c_dim)}

        def training_loss(self, batch, optimizer, ctx):   # -> {"loss": tensor, ...}
            ...
        def _generate(self, c, generator):           # (n, c_dim) -> (n, x_dim), model space
            ...

``batch`` is a :class:`Batch` (``x``: preprocessed, flattened fields ``(B, x_dim)``;
``c``: encoded conditions ``(B, c_dim)``, on the training device).  Optional overrides:
``configure_optimizers`` (default one Adam/AdamW named ``"main"`` over every network),
``step_order``, ``validation_loss`` (default: the training loss without gradients) and
``_log_density(x, c)`` (model-space log-density; the base adds the preprocessing
Jacobian so ``log_prob`` is in the units of the raw fields).

The pieces live in modules of their own: the condition vector and the batch in
:mod:`.conditioning`, torch seeding in :mod:`.seeding`, the shared hyper-parameters in
:mod:`.settings` and where a run starts (fresh or resumed) in :mod:`.resume`; the names
are importable from here too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from surrogate import Surrogate
from surrogate.devices import resolve_device
from surrogate.errors import SpecError, SurrogateError, TrainingError
from surrogate.events import Events
from surrogate.preprocessing import Preprocessing
from surrogate.spec import EventSpec
from surrogate.training import EventStream, TrainOptions
from surrogate.training.data import ConditionStream
from surrogate.training.distributed import World, local_device
from surrogate.training.loop import Trainer, checkpoint_settings
from surrogate.training.objectives import Objective

from . import conv  # noqa: F401  (registers the ``conv`` backbone)
from .backbones import make_backbone, takes_field_shape
from .conditioning import Batch, ConditionEncoder
from .resume import check_resume_spec, clear_checkpoints, resume_point
from .seeding import seeded_torch, torch_seed
from .settings import TorchSettings

__all__ = [
    "Batch",
    "ConditionEncoder",
    "TorchSettings",
    "TorchSurrogate",
    "seeded_torch",
    "torch_seed",
]


class TorchSurrogate(Surrogate):
    """Base of the torch families (see the module docstring for the contract)."""

    density: ClassVar[str] = "none"
    settings_class: ClassVar[type | None] = TorchSettings
    settings: TorchSettings
    #: Overrides of the loop's defaults (:class:`~surrogate.training.TrainOptions`).
    train_defaults: ClassVar[dict[str, Any]] = {}
    #: At most this many events per forward pass when sampling or evaluating densities...
    max_sample_batch: ClassVar[int] = 65536
    #: ... and at most this many event scalars: a spline flow's intermediates are ~25x the
    #: batch, so 65536 CaloGAN showers (504 voxels) at once took 24 GB and were killed.
    sample_scalars: ClassVar[int] = 2**22
    #: False for a family whose networks never see the event as a field: a flow's coupling
    #: networks take half its features, permuted, so a backbone built on the event's grid
    #: (``conv``) cannot work there and is refused when the model is made.
    field_backbones: ClassVar[bool] = True
    #: True for a family with an exact density whose draws come with their log-density
    #: (:class:`surrogate.training.objectives.DensityModel`): it can train on an energy.
    trains_on_energy: ClassVar[bool] = False
    #: Whether the networks may run in bfloat16: training's ``amp`` and
    #: ``sample_precision="bfloat16"`` (a family whose maths needs float32 says no).
    supports_amp: ClassVar[bool] = True

    def __init__(self, spec: EventSpec | None = None, **hyperparameters: Any) -> None:
        super().__init__(spec, **hyperparameters)
        name = self.settings.backbone
        if not self.field_backbones and takes_field_shape(name):
            raise SurrogateError(
                f"model {self.name!r}: backbone {name!r} needs field-shaped inputs or outputs "
                "and this family's networks see part of the event as a vector: use 'mlp'"
            )
        if self.sample_precision == "bfloat16" and not self.supports_amp:
            raise SurrogateError(
                f"model {self.name!r} cannot run its networks in bfloat16 with these "
                "settings: use sample_precision='float32'"
            )
        self.nets: nn.ModuleDict | None = None
        self.device = torch.device("cpu")
        self.training_result: Any = None
        self._pre: Preprocessing | None = None
        self._cond: ConditionEncoder | None = None
        self.objective = Objective("likelihood")
        if spec is not None:
            self._setup_spec()

    # -- shapes and transforms ------------------------------------------------------------
    def _setup_spec(self) -> None:
        spec = self._require_spec()
        steps = self.settings.preprocessing
        if isinstance(steps, str):
            try:
                steps = json.loads(steps)
            except json.JSONDecodeError as exc:
                raise SurrogateError(f"preprocessing is not valid JSON: {exc}") from None
        self._pre = Preprocessing(steps, spec)
        self._cond = ConditionEncoder(spec)

    @property
    def x_dim(self) -> int:
        """Length of the flattened event (all fields, spec order)."""
        return sum(f.size for f in self._require_spec().fields)

    @property
    def field_shape(self) -> tuple[int, ...] | None:
        """The event's grid when the event is one 2-D or 3-D field (a map, a cube), which a
        backbone built on the grid (``conv``) is given; else ``None``."""
        fields = self._require_spec().fields
        if len(fields) == 1 and len(fields[0].shape) in (2, 3):
            return fields[0].shape
        return None

    @property
    def c_dim(self) -> int:
        return len(self._require_spec().conditions)

    @property
    def preprocessing(self) -> Preprocessing:
        if self._pre is None:
            self._setup_spec()
        assert self._pre is not None
        return self._pre

    @property
    def condition_encoder(self) -> ConditionEncoder:
        if self._cond is None:
            self._setup_spec()
        assert self._cond is not None
        return self._cond

    def encode_events(self, events: Events) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw events -> ``(x, c, logdet)``: model-space float32 arrays and the
        preprocessing's ``log|det dx_model/dx_raw|`` per event."""
        n = len(events)
        fields, logdet = self.preprocessing.forward(events.fields, events.conditions)
        x = self._require_spec().flatten(fields).astype(np.float32)
        c = self.condition_encoder.encode(events.conditions, n)
        return x, c, logdet

    def decode_fields(
        self, x: np.ndarray, conditions: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Model-space ``(n, x_dim)`` -> raw fields of the spec's dtype, clipped to bounds."""
        spec = self._require_spec()
        # the chain makes the one float64 copy, which is then clipped in place
        raw = self.preprocessing.inverse(spec.unflatten(np.asarray(x)), conditions)
        out = {}
        for f in spec.fields:
            a = raw[f.name]
            if f.low is not None or f.high is not None:
                a = np.clip(a, f.low, f.high, out=a)
            out[f.name] = a.astype(f.dtype)
        return out

    def score_space(self, events: Events) -> np.ndarray:
        """The model-space vectors (after preprocessing), where the loss weighs every
        dimension alike: the space a distance between events means most in."""
        return self.encode_events(events)[0].astype(np.float64)

    def _prepare(self, events: Events) -> tuple[np.ndarray, ...]:
        x, c, _ = self.encode_events(events)
        if not np.isfinite(x).all():
            raise TrainingError(
                "preprocessing produced NaN or Inf on the training data: check the "
                "preprocessing chain (e.g. a log of zeros needs eps > 0)"
            )
        if self.objective.uses_energy:  # the energy term draws at the raw conditions
            return x, c, self._raw_conditions(events.conditions, len(events))
        return x, c

    def make_batch(self, arrays: tuple[np.ndarray, ...], device: torch.device) -> Batch:
        tensors = [torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays]
        return Batch(*tensors)

    # -- networks ---------------------------------------------------------------------------
    def backbone(
        self, in_features: int, out_features: int, context_features: int, **extra: Any
    ) -> nn.Module:
        """A network body built from this model's backbone hyper-parameters (``extra``
        overrides them: a discriminator's own width, a zero-initialised output...).

        A backbone built on the event's grid (``takes_field_shape``: ``conv``) gets
        ``shape=field_shape`` unless ``backbone_options`` gives one, so the families build
        it as they build the MLP."""
        name = self.settings.backbone
        options = {**self.settings.backbone_kwargs(), **extra}
        if takes_field_shape(name) and "shape" not in options:
            options["shape"] = self.field_shape
            if options["shape"] is None:
                fields = ", ".join(f"{f.name} {f.shape}" for f in self._require_spec().fields)
                raise SpecError(
                    f"model {self.name!r}: backbone {name!r} needs an event of one 2-D or 3-D "
                    f"field (or backbone_options shape), not {fields}"
                )
        return make_backbone(name, in_features, out_features, context_features, **options)

    def _build(self) -> dict[str, nn.Module]:
        """Create the family's networks (called with torch's RNG seeded)."""
        raise NotImplementedError

    def networks(self) -> dict[str, nn.Module]:
        if self.nets is None:
            raise SurrogateError(f"model {self.name!r} is not trained yet")
        return dict(self.nets.items())

    def parameters(self) -> list[nn.Parameter]:
        return [p for net in self.networks().values() for p in net.parameters()]

    def configure_optimizers(self, options: TrainOptions) -> dict[str, torch.optim.Optimizer]:
        cls = torch.optim.AdamW if options.optimizer == "adamw" else torch.optim.Adam
        return {
            "main": cls(
                self.parameters(),
                lr=float(options.lr),
                weight_decay=options.weight_decay,
                foreach=True,  # one fused kernel per step on CPU too
            )
        }

    def step_order(self) -> list[str] | None:
        """Optimizer names stepped per batch, in order; ``None``: each optimizer once."""
        return None

    def training_loss(self, batch: Batch, optimizer: str, ctx: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def validation_loss(self, batch: Batch, ctx: Any) -> dict[str, torch.Tensor]:
        """Default: the training loss of the optimizer ``"main"`` (families with several
        optimizers override this)."""
        return self.training_loss(batch, "main", ctx)

    def to(self, device: str | torch.device) -> TorchSurrogate:
        """Move the networks (sampling and log_prob run there)."""
        self.device = resolve_device(device, error=TrainingError)
        if self.nets is not None:
            self.nets.to(self.device)
        return self

    def _init_networks(self, seed: int) -> None:
        with seeded_torch(seed):
            nets = self._build()
        self.nets = nn.ModuleDict(nets)
        self.nets.to(self.device)

    # -- training ---------------------------------------------------------------------------
    def _fit(
        self,
        data: Any,
        *,
        seed: Any,
        workdir: Path | None,
        target: Any = None,
        conditions: Any = None,
        **options: Any,
    ) -> None:
        opts = TrainOptions.resolve(options, self.train_defaults)
        self.objective = Objective.from_options(opts, has_data=data is not None, target=target)
        if self.objective.uses_energy and not self.trains_on_energy:
            raise TrainingError(
                f"model {self.name!r} cannot train on a target's energy: it needs an exact "
                "density and draws with their log-density (the flow family has both)"
            )
        self._setup_spec()
        ckpt, seed = resume_point(opts.resume, workdir, seed)
        if ckpt is not None:
            check_resume_spec(ckpt, self._require_spec())
        if data is None:
            stream = self._condition_stream(opts, seed, conditions)
        else:
            stream = self._event_stream(data, opts, seed, ckpt=ckpt)
        fingerprint: dict[str, Any] = {"n_events": 0 if data is None else len(data)}
        fingerprint["in_memory"] = getattr(stream, "in_memory", True)
        if not fingerprint["in_memory"]:  # the window decides the streamed batches
            fingerprint["window_events"] = stream.window_events
        if target is not None:
            fingerprint["target"] = {"name": target.name, "options": dict(target.options)}
            fingerprint["conditions"] = {
                k: np.asarray(v).tolist() for k, v in (conditions or {}).items()
            }
        self._train(stream, opts, seed=seed, workdir=workdir, ckpt=ckpt, fingerprint=fingerprint)

    def _event_stream(
        self, data: Any, opts: TrainOptions, seed: int, *, ckpt: Mapping[str, Any] | None
    ) -> EventStream:
        """The data's batches; for a fresh run (no ``ckpt``) the preprocessing and
        condition encoding are fitted on them first.  A resumed run streams as the run it
        resumes did (in memory or not, the same window), whatever memory this process
        has: the batches, and so the weights, must be the same."""
        saved = json.loads(ckpt["fingerprint"]) if ckpt is not None else {}
        layout = {"in_memory": saved["in_memory"]} if "in_memory" in saved else {}
        if "window_events" in saved:
            layout |= {"window_events": saved["window_events"], "exact_window": True}
        stream = EventStream(
            data,
            self._prepare,
            batch_size=opts.batch_size,
            seed=seed,
            val_fraction=opts.val_fraction,
            block_events=opts.block_events,
            **{"window_events": opts.window_events, "in_memory": opts.in_memory, **layout},
            memory_limit=opts.memory_limit,
        )
        if ckpt is None:
            self._fit_transforms(stream, opts)
        return stream

    def _fit_transforms(self, stream: EventStream, opts: TrainOptions) -> None:
        """Fit the preprocessing and the condition encoding on a fresh run's data (a
        family that works in another model's space adopts that model's instead)."""
        limit = int(opts.preprocessing_events)
        self.preprocessing.fit(lambda: stream.raw_batches("all", limit))
        self.condition_encoder.fit(stream.raw_batches("all", limit))

    def _condition_stream(self, opts: TrainOptions, seed: int, conditions: Any) -> ConditionStream:
        """Batches of conditions alone, for training on a target with no data: the chain
        can then hold only steps that need no statistics (``affine``, or none)."""
        spec = self._require_spec()
        if not self.preprocessing.fitted:
            raise TrainingError(
                f"preprocessing {self.preprocessing!r} needs data to fit: training on a "
                "target alone takes a chain of fixed steps (affine, or [] for none)"
            )
        if any(math.isinf(c.low) or math.isinf(c.high) for c in spec.conditions):
            raise TrainingError("training on a target alone needs every condition's range finite")
        return ConditionStream(
            spec,
            self._prepare_conditions,
            batch_size=opts.batch_size,
            steps_per_epoch=opts.steps_per_epoch,
            val_samples=opts.val_samples,
            seed=seed,
            fixed=conditions,
        )

    def _prepare_conditions(self, conditions: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        """A batch of conditions alone: no events, the encoded and the raw conditions."""
        n = len(next(iter(conditions.values())))
        c = self.condition_encoder.encode(conditions, n)
        return np.zeros((n, 0), np.float32), c, self._raw_conditions(conditions, n)

    def _raw_conditions(self, conditions: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        names = self._require_spec().condition_names
        cols = [np.asarray(conditions[k], np.float64).reshape(n) for k in names]
        return np.stack(cols, axis=1) if cols else np.zeros((n, 0))

    def _train(
        self,
        stream: Any,
        opts: TrainOptions,
        *,
        seed: int,
        workdir: Path | None,
        ckpt: Mapping[str, Any] | None = None,
        fingerprint: Mapping[str, Any] | None = None,
    ) -> None:
        """Build the networks and run the shared loop over ``stream``.

        ``stream`` needs ``train_batches(epoch)``, ``val_batches()``, ``steps_per_epoch``,
        ``n_train`` and ``n_val``; it need not hold data: an objective trained on a target
        energy (reverse KL) streams condition batches, or empty arrays, and samples the
        model inside ``training_loss``.  Preprocessing and conditions must be fitted (or
        restored from ``ckpt``) before.
        """
        if ckpt is not None:
            self._load_transform_state({k: v.numpy() for k, v in ckpt["extra"].items()})
        # under torchrun each process builds its networks on its own GPU, not all on GPU 0
        device = local_device(World.from_env(), resolve_device(opts.device, error=TrainingError))
        self.device = device
        fingerprint = {
            "family": self.name,
            "family_version": str(self.version),
            "hyperparameters": self.hyperparameters,
            "spec": self._require_spec().to_dict(),
            "seed": seed,
            "n_train": stream.n_train,
            **(fingerprint or {}),
        }
        with seeded_torch(seed, device):
            self.nets = nn.ModuleDict(self._build())
            self.nets.to(device)
            trainer = Trainer(
                self if self.objective.kind == "likelihood" else self.objective.bind(self),
                train_batches=stream.train_batches,
                val_batches=stream.val_batches if stream.n_val else None,
                steps_per_epoch=stream.steps_per_epoch,
                options=opts,
                workdir=workdir,
                fingerprint=fingerprint,
                extra_state=self._transform_state(),
                resume_from=ckpt,
            )
            result = trainer.run()
        self.training_result = result
        for net in self.nets.values():
            net.eval()
        self.provenance["training"] = {
            "seed": seed,
            "device": result.device,
            "epochs": result.epochs_run,
            "best_epoch": result.best_epoch,
            "best_loss": result.best_loss,
            "stopped_early": result.stopped_early,
            "stopped": result.stopped,
            "seconds": round(result.seconds, 3),
            "n_train": stream.n_train,
            "n_val": stream.n_val,
            "options": opts.recorded({"progress"}),
        }
        if self.provenance.get("seed") is None:
            self.provenance["seed"] = seed

    @classmethod
    def resume_settings(cls, workdir: Path) -> dict[str, Any]:
        """What the run checkpointed in ``workdir`` was made with (``family``,
        ``hyperparameters``, ``seed``...), so ``train --resume`` rebuilds the same model."""
        return checkpoint_settings(workdir)

    @classmethod
    def clear_resume_state(cls, workdir: Path) -> None:
        """Delete a previous run's checkpoints in ``workdir`` (``train --overwrite``)."""
        clear_checkpoints(workdir)

    def _transform_state(self) -> dict[str, np.ndarray]:
        out = {f"pre.{k}": v for k, v in self.preprocessing.state().items()}
        out.update({f"cond.{k}": v for k, v in self.condition_encoder.state().items()})
        return out

    def _load_transform_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.preprocessing.load_state({k[4:]: v for k, v in state.items() if k.startswith("pre.")})
        self.condition_encoder.load_state(
            {k[5:]: v for k, v in state.items() if k.startswith("cond.")}
        )

    # -- generation -------------------------------------------------------------------------
    def _generate(self, c: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``len(c)`` events in model space, ``(n, x_dim)``; use ``generator`` for noise."""
        raise NotImplementedError

    def _require_trained(self) -> None:
        if self.nets is None or not self.preprocessing.fitted:
            raise SurrogateError(f"model {self.name!r} is not trained yet")

    @contextmanager
    def _eval_mode(self) -> Iterator[None]:
        assert self.nets is not None
        modes = {k: net.training for k, net in self.nets.items()}
        self.nets.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            for k, net in self.nets.items():
                net.train(modes[k])

    @property
    def sample_batch_size(self) -> int:
        """Events per forward pass: wide events in smaller batches (see ``sample_scalars``)."""
        return max(1, min(self.max_sample_batch, self.sample_scalars // max(self.x_dim, 1)))

    @property
    def sample_precision(self) -> str:
        """``settings.sample_precision``; float32 for a family whose settings are not
        :class:`TorchSettings` (``van``'s)."""
        return getattr(self.settings, "sample_precision", "float32")

    def _sample_autocast(self) -> torch.autocast:
        """bfloat16 autocast when ``sample_precision`` asks for it, else a no-op: what
        ``_generate`` runs in when sampling."""
        half = self.sample_precision == "bfloat16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=half)

    def _sample(self, n, conditions, rng):
        self._require_trained()
        c = torch.from_numpy(self.condition_encoder.encode(conditions, n)).to(self.device)
        seed = torch_seed(rng)
        parts = []
        with self._eval_mode(), seeded_torch(seed, self.device), self._sample_autocast():
            gen = torch.Generator(device=self.device).manual_seed(seed)
            for start in range(0, n, self.sample_batch_size):
                x = self._generate(c[start : start + self.sample_batch_size], gen)
                parts.append(x.float().cpu())
        x = torch.cat(parts).numpy() if parts else np.zeros((0, self.x_dim), np.float32)
        return self.decode_fields(x, conditions)

    def _log_density(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        raise SurrogateError(f"model {self.name!r} does not implement log_prob")

    def _log_prob(self, events: Events) -> np.ndarray:
        self._require_trained()
        x, c, logdet = self.encode_events(events)
        out = []
        with self._eval_mode(), seeded_torch(0, self.device):
            for start in range(0, len(x), self.sample_batch_size):
                sl = slice(start, start + self.sample_batch_size)
                xt = torch.from_numpy(x[sl]).to(self.device)
                ct = torch.from_numpy(c[sl]).to(self.device)
                out.append(self._log_density(xt, ct).double().cpu())
        lp = torch.cat(out).numpy() if out else np.zeros(0)
        return lp + logdet

    # -- state ------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        self._require_trained()
        out = {
            f"net.{name}.{k}": v.detach().cpu().numpy()
            for name, net in self.networks().items()
            for k, v in net.state_dict().items()
        }
        out.update(self._transform_state())
        return out

    def _load_state(self, state: Mapping[str, np.ndarray]) -> None:
        self._setup_spec()
        self._load_transform_state(state)
        self._init_networks(0)
        assert self.nets is not None
        for name, net in self.nets.items():
            prefix = f"net.{name}."
            own = {
                k[len(prefix) :]: torch.from_numpy(np.array(v))
                for k, v in state.items()
                if k.startswith(prefix)
            }
            net.load_state_dict(own, strict=True)
        self.nets.eval()
        self.to("auto")
