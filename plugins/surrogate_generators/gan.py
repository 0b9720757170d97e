"""``gan``: conditional generative adversarial network.

Generator ``G(z, c)`` (latent ``z ~ N(0, I)``) and discriminator ``D(x, c)`` are swappable
backbones, both conditioned on the simulator's conditions.  Two objectives
(:mod:`.gan_losses`):

``loss="ns"``       the non-saturating GAN (Goodfellow et al. 2014): D is a classifier with
                    logit ``l``; one discriminator step per generator step by default.
``loss="wgan-gp"``  Wasserstein GAN with gradient penalty (Gulrajani et al. 2017): D is a
                    critic; 5 critic steps per generator step by default.

Defaults that make the toy ring (8 narrow modes) train reliably on a CPU budget: the R1
penalty on real data (``r1_weight = 1``, Mescheder et al. 2018) for ``ns``, an exponential
moving average of the weights (training option ``ema = 0.999``, which the final model and
the validation use), Adam with ``betas = (0.5, 0.9)`` at ``lr = 1e-3``, leaky-ReLU bodies
and no LayerNorm (``layer_norm = False``): on a 2-D input, LayerNorm over the hidden units
is nearly blind to the input's scale, and a discriminator built that way stalled at
D = 1/2 while the generator was still far off.

The training log records, per epoch, the discriminator's mean output on real and generated
events (``train_disc_d_real``, ``train_disc_d_fake``, the live networks; ``val_d_real``,
``val_d_fake`` on the validation events, with the EMA weights when ``ema`` is on; the
critic's mean scores for ``wgan-gp``).  For ``ns`` both approach 1/2 when the generator
matches the data (the lecture's ``D* = p_data / (p_data + p_g)``), and ``disc_loss``
approaches ``log 4 = 1.386``.

A GAN has no density (``log_prob`` raises) and its losses say little about sample quality,
so the monitored validation loss is the *energy distance* between validation events and
events generated at the same conditions (lower is better; 0 when the laws agree).  It picks
the best epoch (``restore_best``); early stopping is off by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from surrogate.settings import require
from surrogate.training import TrainOptions

from .base import Batch, TorchSurrogate
from .gan_losses import (
    LOSSES,
    critic_loss_wgan,
    discriminator_loss_ns,
    generator_loss_ns,
    generator_loss_wgan,
    gradient_penalty,
    r1_penalty,
)
from .settings import TorchSettings, integer, one_of, real


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``2 E|X - Y| - E|X - X'| - E|Y - Y'|`` (V-statistic; >= 0, 0 iff same law)."""
    xy = torch.cdist(x, y).mean()
    xx = torch.cdist(x, x).mean()
    yy = torch.cdist(y, y).mean()
    return 2 * xy - xx - yy


@dataclass(frozen=True)
class GANSettings(TorchSettings):
    """The GAN's hyper-parameters; the defaults are those the module docstring explains."""

    activation: str = "leaky_relu"
    loss: str = "ns"  # ns | wgan-gp
    latent: int | None = None  # None: the event size, between 4 and 128
    critic_steps: int | None = None  # discriminator steps per generator step; None: 1 / 5
    gp_weight: float = 10.0  # lambda of the gradient penalty (wgan-gp)
    r1_weight: float = 1.0  # gamma of the R1 penalty on real data (ns); 0: off
    disc_hidden: int | None = None  # discriminator width; None: hidden
    disc_blocks: int | None = None  # discriminator depth; None: blocks
    layer_norm: bool = False  # LayerNorm in the mlp backbone (see the module docstring)
    adam_betas: tuple[float, float] = (0.5, 0.9)
    disc_lr_factor: float = 1.0  # discriminator lr = lr * disc_lr_factor

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of(self, "loss", LOSSES)
        integer(self, "latent", low=1, optional=True)
        integer(self, "critic_steps", low=1, optional=True)
        real(self, "gp_weight", low=0.0)
        real(self, "r1_weight", low=0.0)
        integer(self, "disc_hidden", low=1, optional=True)
        integer(self, "disc_blocks", low=0, optional=True)
        real(self, "disc_lr_factor", low=0.0, low_open=True)
        betas = self.adam_betas
        require(
            isinstance(betas, (list, tuple))
            and len(betas) == 2
            and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas),
            f"adam_betas must be two numbers in [0, 1), not {betas!r}",
        )
        object.__setattr__(self, "adam_betas", tuple(betas))  # a JSON config holds a list


class GAN(TorchSurrogate):
    name = "gan"
    version = "1.0"
    density = "none"
    settings_class = GANSettings
    settings: GANSettings
    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 100,
        "lr": 1e-3,
        "ema": 0.999,  # weight averaging damps the game's oscillations (Yazici et al. 2019)
        "patience": None,
        "schedule": "constant",
        "clip_grad": None,
    }

    # -- networks -------------------------------------------------------------------------
    @property
    def latent(self) -> int:
        latent = self.settings.latent
        return latent if latent is not None else min(max(self.x_dim, 4), 128)

    @property
    def critic_steps(self) -> int:
        steps = self.settings.critic_steps
        if steps is None:
            return 5 if self.settings.loss == "wgan-gp" else 1
        return steps

    def _build(self) -> dict[str, nn.Module]:
        s = self.settings
        extra: dict[str, Any] = {}
        common: dict[str, Any] = {}
        if s.backbone == "mlp":
            common["norm"] = bool(s.layer_norm)
        if s.disc_hidden is not None:
            extra["hidden"] = s.disc_hidden
        if s.disc_blocks is not None:
            extra["blocks"] = s.disc_blocks
        return {
            "gen": self.backbone(self.latent, self.x_dim, self.c_dim, **common),
            "disc": self.backbone(self.x_dim, 1, self.c_dim, **common, **extra),
        }

    def configure_optimizers(self, options: TrainOptions) -> dict[str, torch.optim.Optimizer]:
        assert self.nets is not None
        betas = tuple(float(b) for b in self.settings.adam_betas)
        cls = torch.optim.AdamW if options.optimizer == "adamw" else torch.optim.Adam
        lr, wd = float(options.lr), float(options.weight_decay)
        return {
            "disc": cls(
                self.nets["disc"].parameters(),
                lr=lr * float(self.settings.disc_lr_factor),
                betas=betas,
                weight_decay=wd,
            ),
            "gen": cls(self.nets["gen"].parameters(), lr=lr, betas=betas, weight_decay=wd),
        }

    def step_order(self) -> list[str]:
        return ["disc"] * self.critic_steps + ["gen"]

    # -- losses ---------------------------------------------------------------------------
    def _fake(self, c: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        assert self.nets is not None
        z = torch.randn((len(c), self.latent), generator=generator, device=c.device)
        return self.nets["gen"](z, c if c.shape[1] else None)

    def _disc(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        assert self.nets is not None
        return self.nets["disc"](x, c if c.shape[1] else None)[:, 0]

    def training_loss(self, batch: Batch, optimizer: str, ctx: Any) -> dict[str, torch.Tensor]:
        assert self.nets is not None
        wgan = self.settings.loss == "wgan-gp"
        disc_step = optimizer == "disc"
        # only the stepped network needs parameter gradients
        self.nets["disc"].requires_grad_(disc_step)
        self.nets["gen"].requires_grad_(not disc_step)
        if disc_step:
            with torch.no_grad():
                fake = self._fake(batch.c)
            r1 = float(self.settings.r1_weight)
            if r1 > 0 and not wgan:
                penalty, real_out = r1_penalty(lambda x: self._disc(x, batch.c), batch.x)
            else:
                penalty, real_out = None, self._disc(batch.x, batch.c)
            fake_out = self._disc(fake, batch.c)
            if wgan:
                gp = gradient_penalty(lambda x: self._disc(x, batch.c), batch.x, fake)
                loss = critic_loss_wgan(real_out, fake_out) + float(self.settings.gp_weight) * gp
                return {
                    "loss": loss,
                    "d_real": real_out.mean().detach(),
                    "d_fake": fake_out.mean().detach(),
                    "wasserstein": (real_out.mean() - fake_out.mean()).detach(),
                    "gp": gp.detach(),
                }
            out = {
                "loss": discriminator_loss_ns(real_out, fake_out),
                "d_real": torch.sigmoid(real_out).mean().detach(),
                "d_fake": torch.sigmoid(fake_out).mean().detach(),
            }
            if penalty is not None:
                out["r1"] = penalty.detach()
                out["loss"] = out["loss"] + 0.5 * r1 * penalty
            return out
        fake_out = self._disc(self._fake(batch.c), batch.c)
        loss = generator_loss_wgan(fake_out) if wgan else generator_loss_ns(fake_out)
        return {"loss": loss}

    def validation_loss(self, batch: Batch, ctx: Any) -> dict[str, torch.Tensor]:
        fake = self._fake(batch.c)
        real_out, fake_out = self._disc(batch.x, batch.c), self._disc(fake, batch.c)
        out = {"loss": energy_distance(batch.x, fake)}
        if self.settings.loss == "wgan-gp":
            out.update(d_real=real_out.mean(), d_fake=fake_out.mean())
        else:
            out.update(
                d_real=torch.sigmoid(real_out).mean(),
                d_fake=torch.sigmoid(fake_out).mean(),
                disc_loss=discriminator_loss_ns(real_out, fake_out),
            )
        return out

    # -- generation -----------------------------------------------------------------------
    def _generate(self, c: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self._fake(c, generator)

    def discriminate(self, events: Any) -> Any:
        """The trained discriminator's output on raw events: ``D(x, c)`` in (0, 1) for
        ``ns``, the critic score for ``wgan-gp`` (numpy, one value per event)."""
        from surrogate.events import Events

        self._require_trained()
        checked = Events.checked(events.fields, events.conditions, self._require_spec())
        x, c, _ = self.encode_events(checked)
        with self._eval_mode():
            xt, ct = torch.from_numpy(x).to(self.device), torch.from_numpy(c).to(self.device)
            out = self._disc(xt, ct)
            if self.settings.loss == "ns":
                out = torch.sigmoid(out)
        return out.double().cpu().numpy()
