"""``vae``: conditional variational autoencoder.

Encoder q(z|x,c) = N(mu, diag sigma^2) and decoder p(x|z,c) = N(m(z,c), diag s^2), both
swappable backbones; prior p(z) = N(0, I).  Training minimises the negative ELBO

    E_q[-log p(x|z,c)] + beta * KL(q(z|x,c) || p(z))

with the closed-form Gaussian KL and the reparameterisation trick; ``kl_warmup_epochs``
ramps beta linearly from 0.  The decoder scale ``s`` is ``"learned"`` (one per output
dimension), ``"heteroscedastic"`` (predicted per event) or ``"fixed"`` (``fixed_scale``).

``log_prob`` is the importance-weighted bound (IWAE, Burda et al. 2015) with
``iwae_samples`` samples of q: a *lower bound* on log p(x|c) that tightens as the number
grows (``density = "bound"``); it is deterministic (fixed internal seed).

Extras for physics use: :meth:`VAE.encode`, :meth:`VAE.decode`,
:meth:`VAE.reconstruction_error` (anomaly score) and :meth:`VAE.interpolate`.  The
latent space of :mod:`surrogate.latent` is z: :meth:`VAE.to_latent` is the posterior
mean, :meth:`VAE.from_latent` the decoder (its mean, or with its noise as ``sample``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from surrogate import latent
from surrogate.errors import SurrogateError
from surrogate.events import Events

from .base import Batch, TorchSurrogate, seeded_torch, torch_seed
from .settings import TorchSettings, integer, one_of, real

LOG_2PI = math.log(2 * math.pi)
DECODER_SCALES = ("learned", "heteroscedastic", "fixed")


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)), summed over the last axis (closed form)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log N(x | mean, diag exp(log_scale)^2), summed over the last axis."""
    z = (x - mean) * torch.exp(-log_scale)
    return (-0.5 * z.pow(2) - log_scale - 0.5 * LOG_2PI).sum(-1)


def _soft_clamp(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Smoothly keep log-variances in a sane range (no dead gradients at the ends)."""
    mid, half = 0.5 * (high + low), 0.5 * (high - low)
    return mid + half * torch.tanh((x - mid) / half)


class Encoder(nn.Module):
    def __init__(self, body: nn.Module, latent: int) -> None:
        super().__init__()
        self.body, self.latent = body, latent

    def forward(self, x: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.body(x, c)
        mu, logvar = out[:, : self.latent], out[:, self.latent :]
        return mu, _soft_clamp(logvar, -14.0, 6.0)


class Decoder(nn.Module):
    def __init__(self, body: nn.Module, dim: int, scale: str, fixed_scale: float) -> None:
        super().__init__()
        self.body, self.dim, self.scale = body, dim, scale
        if scale == "learned":
            self.log_scale = nn.Parameter(torch.zeros(dim))
        else:
            self.register_buffer("log_scale", torch.full((dim,), math.log(fixed_scale)))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.body(z, c)
        if self.scale == "heteroscedastic":
            mean, log_scale = out[:, : self.dim], _soft_clamp(out[:, self.dim :], -7.0, 2.0)
        else:
            mean, log_scale = out, _soft_clamp(self.log_scale, -7.0, 2.0).expand_as(out)
        return mean, log_scale


@dataclass(frozen=True)
class VAESettings(TorchSettings):
    latent: int = 8
    beta: float = 1.0
    kl_warmup_epochs: float | None = 0.0
    decoder_scale: str = "learned"  # learned | heteroscedastic | fixed
    fixed_scale: float = 0.1
    iwae_samples: int = 64
    sample_noise: bool = True  # add the decoder's Gaussian noise when sampling

    def __post_init__(self) -> None:
        super().__post_init__()
        integer(self, "latent", low=1)
        real(self, "beta", low=0.0)
        real(self, "kl_warmup_epochs", low=0.0, optional=True)
        one_of(self, "decoder_scale", DECODER_SCALES)
        real(self, "fixed_scale", low=0.0, low_open=True)
        integer(self, "iwae_samples", low=1)


class VAE(TorchSurrogate):
    """Conditional VAE (see the module docstring).  ``log_prob`` returns the IWAE lower
    bound on the log-density with ``iwae_samples`` samples, not the exact density."""

    name = "vae"
    version = "1.0"
    density = "bound"
    settings_class = VAESettings
    settings: VAESettings

    # -- networks ---------------------------------------------------------------------------
    def _build(self) -> dict[str, nn.Module]:
        s = self.settings
        d, c, latent = self.x_dim, self.c_dim, self.latent
        out = 2 * d if s.decoder_scale == "heteroscedastic" else d
        return {
            "encoder": Encoder(self.backbone(d, 2 * latent, c), latent),
            "decoder": Decoder(
                self.backbone(latent, out, c), d, s.decoder_scale, float(s.fixed_scale)
            ),
        }

    @property
    def latent(self) -> int:
        return self.settings.latent

    def _beta(self, ctx: Any) -> float:
        beta = float(self.settings.beta)
        warm = float(self.settings.kl_warmup_epochs or 0.0)
        if ctx is None or warm <= 0 or not ctx.training:
            return beta
        return beta * min(1.0, ctx.epoch_progress / warm)

    def _terms(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.nets is not None
        mu, logvar = self.nets["encoder"](batch.x, batch.context)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        mean, log_scale = self.nets["decoder"](z, batch.context)
        recon = -gaussian_log_prob(batch.x, mean, log_scale)
        return recon, gaussian_kl(mu, logvar)

    def training_loss(self, batch: Batch, optimizer: str, ctx: Any) -> dict[str, torch.Tensor]:
        recon, kl = self._terms(batch)
        beta = self._beta(ctx)
        return {
            "loss": (recon + beta * kl).mean(),
            "recon": recon.mean().detach(),
            "kl": kl.mean().detach(),
            "nelbo": (recon + kl).mean().detach(),
        }

    def validation_loss(self, batch: Batch, ctx: Any) -> dict[str, torch.Tensor]:
        recon, kl = self._terms(batch)
        beta = float(self.settings.beta)
        return {
            "loss": (recon + beta * kl).mean(),
            "recon": recon.mean(),
            "kl": kl.mean(),
            "nelbo": (recon + kl).mean(),
        }

    # -- generation and density --------------------------------------------------------------
    def _decode_tensor(
        self, z: torch.Tensor, c: torch.Tensor, generator: torch.Generator | None, noise: bool
    ) -> torch.Tensor:
        assert self.nets is not None
        ctx = c if c.shape[1] else None
        mean, log_scale = self.nets["decoder"](z, ctx)
        if not noise:
            return mean
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(log_scale) * eps

    def _generate(self, c: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn((len(c), self.latent), generator=generator, device=c.device)
        return self._decode_tensor(z, c, generator, bool(self.settings.sample_noise))

    def _log_density(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """IWAE bound: log (1/K) sum_k p(x|z_k,c) p(z_k) / q(z_k|x,c), z_k ~ q."""
        assert self.nets is not None
        k = self.settings.iwae_samples
        ctx = c if c.shape[1] else None
        chunk = max(1, 16384 // k)
        out = []
        for start in range(0, len(x), chunk):
            xs = x[start : start + chunk]
            cs = None if ctx is None else ctx[start : start + chunk]
            mu, logvar = self.nets["encoder"](xs, cs)
            std = torch.exp(0.5 * logvar)
            eps = torch.randn((k, *mu.shape), device=x.device, dtype=mu.dtype)
            z = mu + std * eps  # (K, B, L)
            flat_z = z.reshape(-1, self.latent)
            flat_c = None if cs is None else cs.repeat(k, 1)
            mean, log_scale = self.nets["decoder"](flat_z, flat_c)
            log_px = gaussian_log_prob(xs.repeat(k, 1), mean, log_scale).reshape(k, -1)
            log_pz = (-0.5 * z.pow(2) - 0.5 * LOG_2PI).sum(-1)
            log_qz = (-0.5 * eps.pow(2) - torch.log(std) - 0.5 * LOG_2PI).sum(-1)
            out.append(torch.logsumexp(log_px + log_pz - log_qz, dim=0) - math.log(k))
        return torch.cat(out)

    # -- extras -------------------------------------------------------------------------------
    def _events_in(self, events: Events) -> tuple[torch.Tensor, torch.Tensor]:
        self._require_trained()
        checked = Events.checked(events.fields, events.conditions, self._require_spec())
        x, c, _ = self.encode_events(checked)
        return torch.from_numpy(x).to(self.device), torch.from_numpy(c).to(self.device)

    def encode(self, events: Events) -> dict[str, np.ndarray]:
        """Posterior q(z|x,c) of each event: ``{"mean": (n, latent), "std": (n, latent)}``."""
        x, c = self._events_in(events)
        assert self.nets is not None
        with self._eval_mode():
            mu, logvar = self.nets["encoder"](x, c if c.shape[1] else None)
        return {
            "mean": mu.double().cpu().numpy(),
            "std": torch.exp(0.5 * logvar).double().cpu().numpy(),
        }

    def decode(
        self,
        z: np.ndarray,
        conditions: dict[str, Any] | None = None,
        *,
        noise: bool = False,
        seed: Any = None,
    ) -> Events:
        """Events decoded from latent points ``z`` (n, latent) at ``conditions``; the
        decoder mean unless ``noise`` (then seeded by ``seed``)."""
        self._require_trained()
        spec = self._require_spec()
        z = np.asarray(z, dtype=np.float32).reshape(-1, self.latent)
        n = len(z)
        rng = np.random.default_rng(seed)
        conds = self.resolve_conditions(n, conditions, rng)
        c = torch.from_numpy(self.condition_encoder.encode(conds, n)).to(self.device)
        s = torch_seed(rng)
        with self._eval_mode(), seeded_torch(s, self.device):
            gen = torch.Generator(device=self.device).manual_seed(s)
            x = self._decode_tensor(torch.from_numpy(z).to(self.device), c, gen, noise)
        return Events(self.decode_fields(x.double().cpu().numpy(), conds), conds, spec)

    @property
    def latent_dim(self) -> int:
        return self.latent

    def to_latent(self, events: Events) -> np.ndarray:
        """The posterior mean of each event, ``(n, latent)`` (:mod:`surrogate.latent`)."""
        return self.encode(events)["mean"]

    def from_latent(
        self,
        z: np.ndarray,
        conditions: dict[str, Any] | None = None,
        *,
        noise: bool = False,
        seed: Any = None,
    ) -> Events:
        """``decode``; ``noise=True`` decodes as ``sample`` does (with the decoder noise
        where ``sample_noise``), so prior draws decoded are the model's distribution."""
        noise = noise and bool(self.settings.sample_noise)
        return self.decode(latent.check_latent(self, z), conditions, noise=noise, seed=seed)

    def reconstruction_error(self, events: Events, *, per_field: bool = False) -> Any:
        """Per-event anomaly score: mean squared difference between the event and the
        decoder mean at the posterior mean, both at the event's conditions, in the model's
        preprocessed (standardised) units, so every dimension counts alike.  Larger means
        less typical.  ``per_field``: a dict field -> the mean over that field's values
        (which field is off)."""
        x, c = self._events_in(events)
        assert self.nets is not None
        ctx = c if c.shape[1] else None
        with self._eval_mode():
            mu, _ = self.nets["encoder"](x, ctx)
            mean, _ = self.nets["decoder"](mu, ctx)
        sq = (x - mean).pow(2).double().cpu().numpy()
        if not per_field:
            return sq.mean(-1)
        spec = self._require_spec()
        if sq.shape[1] != spec.event_size:  # the preprocessing kept the spec's layout?
            raise SurrogateError(
                f"model {self.name!r}: its model space ({sq.shape[1]} columns) does not map "
                f"onto the fields ({spec.event_size} values): no per-field score"
            )
        return {k: v.reshape(len(v), -1).mean(-1) for k, v in spec.unflatten(sq).items()}

    # -- anomaly scores ---------------------------------------------------------------------
    def score_kinds(self) -> dict[str, str]:
        kinds = {
            "reconstruction": "mean squared reconstruction error at the posterior mean, in "
            "standardised model units",
            "iwae": f"negative importance-weighted lower bound of the log-density "
            f"({self.settings.iwae_samples} samples)",
        }
        return kinds | {k: v for k, v in super().score_kinds().items() if k != "nll_bound"}

    def per_field_kinds(self) -> tuple[str, ...]:
        return ("reconstruction",)

    def _anomaly_score(self, events: Events, kind: str, per_field: bool) -> Any:
        if kind == "reconstruction":
            return self.reconstruction_error(events, per_field=per_field)
        return super()._anomaly_score(events, "nll_bound" if kind == "iwae" else kind, per_field)

    def interpolate(self, a: Events, b: Events, steps: int = 8) -> Events:
        """Events along the straight latent line between the posterior means of the first
        event of ``a`` and of ``b`` (decoder means; conditions interpolated linearly):
        :func:`surrogate.latent.interpolate` with ``path="linear"``."""
        return latent.interpolate(self, a, b, steps, path="linear")
