"""``flow``: conditional normalizing flow with an exact density.

Rational-quadratic spline coupling layers (default; the coupling networks are the
family's swappable backbone) or masked autoregressive layers (``flow_type=
"autoregressive"``, spline or affine), conditioned on the encoded conditions.  Trained by
maximum likelihood on data; ``log_prob`` is exact and given in the units of the raw
fields (the preprocessing Jacobian is added).  :meth:`Flow.sample_and_log_prob` returns
events and their log-density together, which is what importance weighting and Boltzmann
generators need.

Latent space (:mod:`surrogate.latent`): the flow's standard-normal base space.
:meth:`Flow.to_latent` maps events through the preprocessing and the flow's forward
transform ``z = f(x; c)``, :meth:`Flow.from_latent` back through its inverse and the
preprocessing's inverse (clipped to the fields' bounds, as ``sample`` is), so decoding an
encoded event gives it back to float32 precision, and decoding prior draws is sampling.

The flow library sits behind :mod:`.flow_backends` (nflows 0.14 today).  The objective
is swappable: ``training_loss`` is forward KL (negative log-likelihood of the data); a
Boltzmann-generator family can subclass and return the reverse KL
``E_q[log q(x) + u(x)/T]`` from :meth:`FlowModule.sample_and_log_prob` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from surrogate.errors import TrainingError
from surrogate.events import Events
from surrogate.interfaces import Conditions, Seed, check_n, checked_output, make_rng
from surrogate.latent import check_latent, checked_events

from .base import Batch, TorchSurrogate, seeded_torch, torch_seed
from .flow_backends import FlowModule, build_flow
from .settings import TorchSettings, integer, real

#: The hyper-parameters the flow backend builds the flow from: the flow's own shape, and
#: the size of autoregressive conditioners (the backend's own networks, not a backbone).
BACKEND_SETTINGS = (
    "flow_type",
    "transform",
    "transforms",
    "bins",
    "tail_bound",
    "hidden",
    "blocks",
    "dropout",
    "permutation",
)


@dataclass(frozen=True)
class FlowSettings(TorchSettings):
    """The flow's hyper-parameters; which flow types and transforms exist is the
    backend's business (:mod:`.flow_backends`), so those names are checked there."""

    backend: str = "nflows"
    flow_type: str = "coupling"  # coupling | autoregressive
    transform: str = "spline"  # spline | affine
    transforms: int = 6
    bins: int = 8
    tail_bound: float = 5.0  # spline range in model (preprocessed) units; linear tails beyond
    permutation: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        integer(self, "transforms", low=1)
        integer(self, "bins", low=2)
        real(self, "tail_bound", low=0.0, low_open=True)

    def backend_options(self) -> dict[str, Any]:
        """The options of :func:`~surrogate_generators.flow_backends.build_flow`."""
        return {k: getattr(self, k) for k in BACKEND_SETTINGS}


class Flow(TorchSurrogate):
    """Conditional normalizing flow (see the module docstring); ``log_prob`` is exact."""

    name = "flow"
    version = "1.0"
    density = "exact"
    settings_class = FlowSettings
    settings: FlowSettings
    #: exact density and reparameterised draws: a Boltzmann generator
    trains_on_energy = True
    reparameterised = True
    field_backbones = False  # coupling networks see half the features, permuted: no grid

    @property
    def supports_amp(self) -> bool:
        """Whether ``amp`` applies: with the ``native`` backend only, whose coupling steps
        run their networks in bfloat16 and their splines in float32.  Spline bin searches
        and log-determinants need full precision, and nflows' splines would get bfloat16
        parameters: with it, ``amp`` is ignored and ``sample_precision="bfloat16"``
        refused."""
        return self.settings.backend == "native"

    def _build(self) -> dict[str, nn.Module]:
        c_dim = self.c_dim

        def net_factory(fin: int, fout: int) -> nn.Module:
            return self.backbone(fin, fout, c_dim, zero_init=True)

        flow = build_flow(
            self.settings.backend,
            self.x_dim,
            c_dim,
            net_factory=net_factory,
            **self.settings.backend_options(),
        )
        return {"flow": flow}

    @property
    def flow(self) -> FlowModule:
        assert self.nets is not None
        return self.nets["flow"]  # type: ignore[return-value]

    def training_loss(self, batch: Batch, optimizer: str, ctx: Any) -> dict[str, torch.Tensor]:
        """Forward KL: the mean negative log-likelihood (model space, per event)."""
        nll = -self.flow.log_prob(batch.x, batch.context).mean()
        return {"loss": nll}

    def draw_with_log_prob(
        self, batch: Batch, generator: torch.Generator | None
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """One reparameterised draw per row of ``batch`` at its conditions: the raw fields
        (float64, differentiable), the raw conditions and ``log q`` in raw units, what
        the energy objective (:mod:`surrogate.training.objectives`) evaluates."""
        spec = self._require_spec()
        y, log_q = self.flow.sample_and_log_prob(batch.context, n=len(batch), generator=generator)
        scale, shift = self._raw_affine()
        x = y.double() * scale.to(y.device) + shift.to(y.device)
        # log q_raw(x) = log q_model(y) - log|det dx/dy|
        log_q = log_q.double() - torch.log(scale.abs()).sum()
        fields, start = {}, 0
        for f in spec.fields:
            fields[f.name] = x[:, start : start + f.size].reshape(len(x), *f.shape)
            start += f.size
        raw = batch.raw if batch.raw is not None else torch.zeros(len(batch), 0)
        conds = {name: raw[:, i] for i, name in enumerate(spec.condition_names)}
        return fields, conds, log_q

    def _raw_affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The fitted preprocessing as ``raw = y * scale + shift`` (see
        :meth:`~surrogate.preprocessing.Preprocessing.as_affine`), found once per fit."""
        cached = getattr(self, "_affine", None)
        if cached is not None and cached[0] is self.preprocessing:
            return cached[1]
        spec = self._require_spec()
        affine = self.preprocessing.as_affine({c.name: _probe(c) for c in spec.conditions})
        if affine is None:
            raise TrainingError(
                f"training on an energy maps the flow's draws back to raw fields in torch, "
                f"which needs a preprocessing chain of fixed affine steps (standardise, "
                f"affine, or none), not {self.preprocessing!r}"
            )
        tensors = (torch.from_numpy(affine[0].copy()), torch.from_numpy(affine[1].copy()))
        self._affine = (self.preprocessing, tensors)
        return tensors

    def _generate(self, c: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.flow.sample(c if c.shape[1] else None, n=len(c), generator=generator)

    def _log_density(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.flow.log_prob(x, c if c.shape[1] else None)

    # -- latent space (surrogate.latent) -------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        """The base space has the model space's dimension."""
        return self.x_dim

    def to_latent(self, events: Events) -> np.ndarray:
        """The base point ``f(x; c)`` of each event, ``(n, latent_dim)`` float64."""
        self._require_trained()
        x, c, _ = self.encode_events(checked_events(self, events, "encoded events"))
        return self._through(self.flow.to_base, x, c)

    def from_latent(
        self,
        z: np.ndarray,
        conditions: Conditions = None,
        *,
        noise: bool = False,
        seed: Seed = None,
    ) -> Events:
        """The events of base points ``z`` at ``conditions`` (``None``: drawn as ``sample``
        draws them, from ``seed``); deterministic, so ``noise`` changes nothing."""
        self._require_trained()
        z = check_latent(self, z).astype(np.float32)
        conds = self.resolve_conditions(len(z), conditions, make_rng(seed))
        c = self.condition_encoder.encode(conds, len(z))
        fields = self.decode_fields(self._through(self.flow.from_base, z, c), conds)
        return checked_output(self._require_spec(), fields, conds, "flow output")

    def _through(self, fn: Any, x: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``fn(x, context)`` in batches of ``sample_batch_size``, float64 numpy out."""
        out = []
        with self._eval_mode():
            for start in range(0, len(x), self.sample_batch_size):
                sl = slice(start, start + self.sample_batch_size)
                ct = torch.from_numpy(c[sl]).to(self.device)
                xt = torch.from_numpy(np.ascontiguousarray(x[sl])).to(self.device)
                out.append(fn(xt, ct if ct.shape[1] else None).double().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.x_dim))

    def sample_and_log_prob(
        self, n: int, conditions: Conditions = None, *, seed: Seed = None
    ) -> tuple[Events, np.ndarray]:
        """``n`` events and their exact log-density (raw units), from one pass."""
        self._require_trained()
        spec = self._require_spec()
        n = check_n(n)
        rng = make_rng(seed)
        conds = self.resolve_conditions(n, conditions, rng)
        c = torch.from_numpy(self.condition_encoder.encode(conds, n)).to(self.device)
        s = torch_seed(rng)
        xs, lqs = [], []
        with self._eval_mode(), seeded_torch(s, self.device):
            gen = torch.Generator(device=self.device).manual_seed(s)
            for start in range(0, n, self.sample_batch_size):
                cb = c[start : start + self.sample_batch_size]
                x, lq = self.flow.sample_and_log_prob(
                    cb if cb.shape[1] else None, n=len(cb), generator=gen
                )
                xs.append(x.double().cpu())
                lqs.append(lq.double().cpu())
        x = torch.cat(xs).numpy() if xs else np.zeros((0, self.x_dim))
        log_q = torch.cat(lqs).numpy() if lqs else np.zeros(0)
        fields = self.decode_fields(x, conds)
        events = Events(spec.check_fields(fields, what="flow output"), conds, spec)
        # log p_raw(x) = log p_model(y) + log|det dy/dx|, evaluated at the returned events
        _, _, logdet = self.encode_events(events)
        return events, log_q + logdet


def _probe(condition: Any) -> np.ndarray:
    """Three different values of a condition inside its range (for ``as_affine``)."""
    lo = condition.low if np.isfinite(condition.low) else min(condition.high, 0.0) - 1.0
    hi = condition.high if np.isfinite(condition.high) else lo + 2.0
    return np.array([lo, hi, 0.5 * (lo + hi)])
