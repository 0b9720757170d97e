"""``diffusion``: conditional denoising diffusion (DDPM) with DDIM sampling.

The forward process is the closed-form ``q(x_t | x_0)`` of a linear or cosine schedule
(:mod:`.schedules`); a swappable backbone predicts the noise, ``eps_theta(x_t, t, c)``, from
the noised event and an embedding of the step (sinusoidal features of t/T through a small
MLP) and of the conditions (a small MLP), and is trained with Ho et al.'s ``L_simple``.

``prediction="v"`` parameterises the noise through the network's output F as
``eps = sqrt(1 - ab_t) x_t + sqrt(ab_t) F`` (F is the "velocity" v of Salimans & Ho,
arXiv:2202.00512), with F starting at zero.  The first term is the optimal noise
prediction for standardised (unit-variance Gaussian) data, so an untrained model already
denoises like the best linear one, and the network learns only the rest; the implied
clean event ``x0 = sqrt(ab_t) x_t - sqrt(1 - ab_t) F`` has no division by ``sqrt(ab_t)``,
which at high noise amplified prediction errors without bound.  With ``prediction="eps"``
the network outputs the noise itself (Ho et al.); it must then carry the identity
``x_t -> eps`` through its hidden layers, which a network narrower than the event cannot
(a 504-voxel calorimeter shower through 256 hidden units stayed above the linear
predictor's loss, and its samples blew up to E_tot = 5 E_inc; with ``v``, 10 epochs gave
E_tot/E_inc 1.03 and the right sparsity).  But where the network is wide enough, ``eps``
learns faster: on the 2-D toy ring (128 hidden units) ``eps`` reached an L_simple of 0.36
in 3000 steps while ``v`` stayed at the linear predictor's 0.51.  The default ``auto``
takes ``eps`` when ``hidden >= `` the event size and ``v`` otherwise.

Sampling (``sample(n, conditions, seed=..., sampler=..., steps=..., eta=...)``):

``sampler="ddim"``       DDIM on ``steps`` of the T steps, chosen at sampling time
                         (deterministic for ``eta = 0``, the default);
``sampler="ancestral"``  the DDPM ancestral chain over all T steps.

Defaults come from the hyper-parameters ``sampler``/``sampling_steps``/``eta``.  The predicted
clean event is clipped to the training data's range widened by ``clip`` times its width on
each side (model space; ``clip=None`` disables), which keeps the first, high-noise steps
from throwing samples far off.

``score(x, t, conditions)`` is ``-eps_theta / sqrt(1 - alpha_bar_t)``, the score of the
noised marginal in model (preprocessed) space.  ``log_prob`` is minus Ho et al.'s variational
bound of the ancestral model (``density = "bound"``, T network calls per event batch; the
sampler returns the mean of its last step, i.e. it omits the decoder's ``N(0, beta_0)``
noise, a width of ``sqrt(beta_0)``, 0.01 for the linear schedule in standardised units).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from surrogate.errors import SpecError, SurrogateError
from surrogate.events import Events
from surrogate.settings import require

from .backbones import make_activation
from .base import Batch, TorchSurrogate
from .schedules import SCHEDULES, VARIANCES, NoiseSchedule, _gather
from .settings import TorchSettings, integer, real

SAMPLERS = ("ddim", "ancestral")
PREDICTIONS = ("v", "eps")


def sinusoidal_embedding(u: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style features of ``u`` in [0, 1] (scaled by 1000, as DDPM's step index)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(10_000.0) * torch.arange(half, device=u.device, dtype=torch.float32) / half
    )
    arg = 1000.0 * u.float().unsqueeze(1) * freqs
    emb = torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)
    return torch.nn.functional.pad(emb, (0, dim - 2 * half))


class NoisePredictor(nn.Module):
    """``eps_theta(x_t, t, c)``: time and condition embeddings feed the backbone's context."""

    def __init__(
        self, body: nn.Module, steps: int, x_dim: int, c_dim: int, embed: int, activation: str
    ) -> None:
        super().__init__()
        self.body, self.steps, self.embed = body, int(steps), int(embed)
        self.time = nn.Sequential(
            nn.Linear(embed, embed), make_activation(activation), nn.Linear(embed, embed)
        )
        self.cond = (
            nn.Sequential(
                nn.Linear(c_dim, embed), make_activation(activation), nn.Linear(embed, embed)
            )
            if c_dim
            else None
        )
        # the clean data's range in model space, set after training (used to clip x0)
        self.register_buffer("x_low", torch.zeros(x_dim))
        self.register_buffer("x_high", torch.zeros(x_dim))
        self.register_buffer("has_range", torch.zeros(()))

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.time(sinusoidal_embedding(t.float() / self.steps, self.embed))
        if self.cond is not None:
            h = torch.cat([h, self.cond(c)], dim=1)
        return self.body(x, h)


def check_sampler(sampler: Any, steps: Any, eta: Any, total: int) -> None:
    """Raise ``ValueError`` unless ``sampler`` with ``steps`` of the ``total`` steps and
    ``eta`` is a valid way to sample: checked for the defaults when the model is built and
    for the settings a ``sample`` call chooses."""
    require(sampler in SAMPLERS, f"sampler must be one of {SAMPLERS}, not {sampler!r}")
    require(
        not isinstance(steps, bool) and isinstance(steps, (int, np.integer)),
        f"sampling steps must be an integer, not {steps!r}",
    )
    require(
        1 <= int(steps) <= total,
        f"sampling steps must be between 1 and T = {total}, not {steps}",
    )
    require(0.0 <= float(eta) <= 1.0, f"eta must be in [0, 1], not {eta}")


@dataclass(frozen=True)
class DiffusionSettings(TorchSettings):
    """The diffusion model's hyper-parameters (see the module docstring)."""

    schedule: str = "cosine"  # linear | cosine
    steps: int = 1000  # T
    variance: str = "posterior"  # reverse variance: posterior (beta~_t) | beta (beta_t)
    embed: int = 64  # width of the time and condition embeddings
    layer_norm: bool = False  # LayerNorm in the mlp backbone (off: it hides the scale of x)
    sampler: str = "ddim"  # ddim | ancestral
    sampling_steps: int = 50  # DDIM steps (a sampling-time choice)
    eta: float = 0.0  # DDIM stochasticity (0: deterministic)
    clip: float | None = 0.1  # x0 clipping margin, in units of the training range; None: off
    prediction: str = "auto"  # auto | v | eps: the network's output (module docstring)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.schedule in SCHEDULES and self.variance in VARIANCES,
            f"schedule must be one of {SCHEDULES} and variance one of {VARIANCES} "
            f"(got {self.schedule!r}, {self.variance!r})",
        )
        integer(self, "steps")
        require(self.steps >= 2, f"a diffusion schedule needs at least 2 steps, not {self.steps}")
        check_sampler(self.sampler, self.sampling_steps, self.eta, self.steps)
        require(
            self.prediction in (*PREDICTIONS, "auto"),
            f"prediction must be auto, v or eps, not {self.prediction!r}",
        )
        integer(self, "embed", low=1)
        real(self, "clip", low=0.0, optional=True)


class Diffusion(TorchSurrogate):
    name = "diffusion"
    #: 2.0: the network may output v (``prediction="auto"`` picks it for events wider than
    #: the network); 1.x checkpoints always meant eps, so they are refused, not misread
    version = "2.0"
    density = "bound"
    settings_class = DiffusionSettings
    settings: DiffusionSettings
    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 200,
        "batch_size": 512,
        "lr": 2e-3,
        "ema": 0.999,
        "patience": 30,
    }

    def __init__(self, spec: Any = None, **hyperparameters: Any) -> None:
        super().__init__(spec, **hyperparameters)
        self._call: dict[str, Any] = {}
        self._schedule: NoiseSchedule | None = None

    # -- networks -------------------------------------------------------------------------
    @property
    def schedule(self) -> NoiseSchedule:
        """The noise schedule (built on first use; the settings it comes from are frozen)."""
        if self._schedule is None:
            s = self.settings
            self._schedule = NoiseSchedule(s.schedule, s.steps, s.variance)
        return self._schedule

    def _build(self) -> dict[str, nn.Module]:
        s = self.settings
        context = s.embed * (2 if self.c_dim else 1)
        extra = {"norm": bool(s.layer_norm)} if s.backbone == "mlp" else {}
        zero = self.prediction == "v"  # start at the optimal linear denoiser
        body = self.backbone(self.x_dim, self.x_dim, context, zero_init=zero, **extra)
        return {
            "eps": NoisePredictor(
                body, self.schedule.steps, self.x_dim, self.c_dim, s.embed, s.activation
            )
        }

    @property
    def prediction(self) -> str:
        """``v`` or ``eps``; ``auto`` is ``eps`` when the backbone is at least as wide as
        the event (it can carry ``x_t`` through), else ``v``."""
        if self.settings.prediction != "auto":
            return self.settings.prediction
        return "eps" if self.settings.hidden >= self.x_dim else "v"

    def eps(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The noise prediction ``eps_theta(x_t, t, c)`` in model space."""
        assert self.nets is not None
        out = self.nets["eps"](x, t, c)
        if self.prediction == "eps":
            return out
        ab = _gather(self.schedule.alpha_bar, t, x)
        return (1 - ab).sqrt() * x + ab.sqrt() * out

    def _eps_fn(self, c: torch.Tensor):
        return lambda x, t: self.eps(x, t, c)

    # -- training -------------------------------------------------------------------------
    def training_loss(self, batch: Batch, optimizer: str, ctx: Any) -> dict[str, torch.Tensor]:
        return {"loss": self.schedule.l_simple(self._eps_fn(batch.c), batch.x)}

    def validation_loss(self, batch: Batch, ctx: Any) -> dict[str, torch.Tensor]:
        # the same (t, noise) draws every epoch: a less noisy monitor for best weights
        gen = torch.Generator(device=batch.x.device).manual_seed(20240611)
        return {"loss": self.schedule.l_simple(self._eps_fn(batch.c), batch.x, gen)}

    def _fit(self, data: Any, *, seed: Any, workdir: Path | None, **options: Any) -> None:
        super()._fit(data, seed=seed, workdir=workdir, **options)
        self._set_range(data)

    def _set_range(self, data: Any, chunk: int = 65536) -> None:
        """Record the training data's per-dimension range in model space (for clipping)."""
        low = np.full(self.x_dim, np.inf)
        high = np.full(self.x_dim, -np.inf)
        for start in range(0, len(data), chunk):
            x, _, _ = self.encode_events(data[start : start + chunk])
            if len(x):
                low, high = np.minimum(low, x.min(0)), np.maximum(high, x.max(0))
        assert self.nets is not None
        net = self.nets["eps"]
        with torch.no_grad():
            net.x_low.copy_(torch.from_numpy(low.astype(np.float32)))
            net.x_high.copy_(torch.from_numpy(high.astype(np.float32)))
            net.has_range.fill_(1.0)

    # -- sampling -------------------------------------------------------------------------
    def _clip_range(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
        margin = self.settings.clip
        assert self.nets is not None
        net = self.nets["eps"]
        low, high = net.x_low, net.x_high
        if margin is None or not bool(net.has_range > 0):
            return None
        pad = float(margin) * (high - low)
        return (low - pad).to(device), (high + pad).to(device)

    @contextmanager
    def sampling(
        self, sampler: str | None = None, steps: int | None = None, eta: float | None = None
    ) -> Iterator[None]:
        """Within the block, ``sample`` uses these sampler settings (``None``: those of an
        enclosing block, else the model's hyper-parameters)."""
        current = self._current_sampling()
        call = {
            "sampler": current["sampler"] if sampler is None else sampler,
            "steps": current["steps"] if steps is None else steps,
            "eta": current["eta"] if eta is None else eta,
        }
        try:
            check_sampler(call["sampler"], call["steps"], call["eta"], self.settings.steps)
        except ValueError as exc:
            raise SurrogateError(f"diffusion: {exc}") from None
        previous, self._call = self._call, call
        try:
            yield
        finally:
            self._call = previous

    def sample(
        self,
        n: int,
        conditions: Any = None,
        *,
        seed: Any = None,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
    ) -> Events:
        """Generate ``n`` events; ``sampler``/``steps``/``eta`` override the model's
        sampling settings for this call (e.g. ``steps=10`` for a fast DDIM draft)."""
        with self.sampling(sampler, steps, eta):
            return super().sample(n, conditions, seed=seed)

    def _current_sampling(self) -> dict[str, Any]:
        s = self.settings
        return self._call or {"sampler": s.sampler, "steps": s.sampling_steps, "eta": s.eta}

    def _generate(self, c: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        call = self._current_sampling()
        x_T = torch.randn((len(c), self.x_dim), generator=generator, device=c.device)
        clip = self._clip_range(c.device)
        if call["sampler"] == "ancestral":
            return self.schedule.ancestral(self._eps_fn(c), x_T, generator, clip=clip)
        return self.schedule.ddim(
            self._eps_fn(c), x_T, int(call["steps"]), float(call["eta"]), generator, clip=clip
        )

    # -- score and density ----------------------------------------------------------------
    def score(
        self, x: np.ndarray | Events, t: int | np.ndarray, conditions: Any = None
    ) -> np.ndarray:
        """``grad_x log q_t(x | c)`` from the noise prediction, in model space.

        ``x``: ``(n, x_dim)`` points in model (preprocessed, flattened) space, or events
        (mapped there with the model's preprocessing); ``t``: the step index 0..T-1 (one,
        or one per point); ``conditions``: as for ``sample`` (default: the events' own)."""
        self._require_trained()
        spec = self._require_spec()
        if isinstance(x, Events):
            checked = Events.checked(
                x.fields, x.conditions if conditions is None else conditions, spec
            )
            xm, c, _ = self.encode_events(checked)
        else:
            xm = np.asarray(x, dtype=np.float32)
            if xm.ndim != 2 or xm.shape[1] != self.x_dim:
                raise SpecError(f"score: x must have shape (n, {self.x_dim}), not {xm.shape}")
            n = len(xm)
            conds = spec.resolve_conditions(n, conditions, np.random.default_rng(0))
            if spec.conditions and conditions is None:
                raise SpecError("score: pass the conditions of the points")
            c = self.condition_encoder.encode(conds, n)
        tt = np.broadcast_to(np.asarray(t, dtype=np.int64), (len(xm),))
        if tt.size and (tt.min() < 0 or tt.max() >= self.schedule.steps):
            raise SpecError(f"score: t must be a step index in [0, {self.schedule.steps - 1}]")
        with self._eval_mode():
            xt = torch.from_numpy(xm).to(self.device)
            ct = torch.from_numpy(c).to(self.device)
            t_ = torch.from_numpy(tt.copy()).to(self.device)
            out = self.schedule.score(t_, self.eps(xt, t_, ct))
        return out.double().cpu().numpy()

    def _log_density(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return -self.schedule.nll_bound(self._eps_fn(c), x)
