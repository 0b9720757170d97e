"""Convolutional backbones for field-shaped events: 2-D maps and 3-D cubes of a periodic box.

One backbone, ``conv``, picks its body from what it maps, given the event's grid ``shape``
(``(64, 64)``, ``(32, 32, 32)``; :class:`~surrogate_generators.base.TorchSurrogate` passes
the shape of an event made of one 2-D or 3-D field, so a family need not know):

==================================  ===================================================
``in``, ``out`` (``size = prod(shape)``)  body
==================================  ===================================================
both multiples of ``size``          :class:`UNet` (a denoiser, a score network)
``in`` a multiple, ``out`` not      :class:`ConvEncoder` (a discriminator, a VAE encoder)
``out`` a multiple, ``in`` not      :class:`ConvDecoder` (a generator, a VAE decoder)
==================================  ===================================================

A multiple ``k * size`` is ``k`` channels, channel-major in the flat vector (a
heteroscedastic VAE decoder's mean, then its log-scales).  Every convolution pads
circularly, so the box has no edges: a density field simulated with periodic boundaries
has no boundary to learn, and the networks are equivariant to shifts of the box (the
U-Net exactly, for shifts by multiples of ``2**levels``, the pooling factor).  The rank
of ``shape`` chooses ``Conv2d`` or ``Conv3d``; the code is the same.

The pieces are the usual ones: the U-Net of Ronneberger et al. (2015, arXiv:1505.04597)
with the residual, GroupNorm blocks of Ho et al.'s DDPM network (2020, arXiv:2006.11239,
without its self-attention); strided-convolution encoders and upsampling decoders after
Radford et al.'s DCGAN (2015, arXiv:1511.06434; nearest-neighbour upsampling then a
convolution rather than transposed convolutions, which leave checkerboard artefacts);
the context (a diffusion model's time and condition embeddings, a GAN's or VAE's
conditions) enters every block by FiLM, a per-channel scale and shift (Perez et al. 2018,
arXiv:1709.07871), and the flat ends (the encoder's head, the decoder's first layer) by
concatenation, so it is used even with few blocks.

Sizes: ``hidden`` is the channel count at full resolution, ``blocks`` the residual blocks
per resolution, ``levels`` the halvings (default 3: a 64x64 map bottoms out at 8x8) and
``channels`` the width of each resolution as a multiple of ``hidden`` (finest first,
``levels + 1`` of them; default ``1, 2, 2, ...``, DDPM's CIFAR-10 widths).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from surrogate.errors import SpecError, SurrogateError

from .backbones import make_activation, register_backbone

CONVS: dict[int, type[nn.Module]] = {2: nn.Conv2d, 3: nn.Conv3d}
DEFAULT_LEVELS = 3


def periodic_conv(rank: int, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Module:
    """A ``rank``-D convolution with circular padding ("same" size at stride 1)."""
    return CONVS[rank](
        cin, cout, kernel, stride=stride, padding=kernel // 2, padding_mode="circular"
    )


def group_norm(channels: int, on: bool = True) -> nn.Module:
    """GroupNorm with up to 32 groups (as DDPM); per event, so it keeps gradient penalties
    per event too (BatchNorm would mix a batch)."""
    return nn.GroupNorm(math.gcd(channels, 32), channels) if on else nn.Identity()


def _zero(layer: nn.Module) -> None:
    """Start ``layer``'s output at zero (a residual or score network's identity start)."""
    for p in layer.parameters():
        nn.init.zeros_(p)


class ConvBlock(nn.Module):
    """Pre-norm residual block ``x + conv(act(FiLM(norm(conv(act(norm(x)))))))``.

    The context's scale and shift act after the second norm, per channel (FiLM; the
    "adaptive group norm" of improved DDPM).
    """

    def __init__(
        self, rank: int, cin: int, cout: int, context: int, act: str, dropout: float, norm: bool
    ) -> None:
        super().__init__()
        self.rank = rank
        self.norm1, self.norm2 = group_norm(cin, norm), group_norm(cout, norm)
        self.act1, self.act2 = make_activation(act), make_activation(act)
        self.conv1 = periodic_conv(rank, cin, cout)
        self.film = nn.Linear(context, 2 * cout) if context else None
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2 = periodic_conv(rank, cout, cout)
        self.skip = periodic_conv(rank, cin, cout, kernel=1) if cin != cout else nn.Identity()

    def forward(self, h: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        t = self.norm2(self.conv1(self.act1(self.norm1(h))))
        if self.film is not None and context is not None:
            scale, shift = self.film(context).view(len(h), 2, -1, *([1] * self.rank)).unbind(1)
            t = t * (1 + scale) + shift
        return self.skip(h) + self.conv2(self.drop(self.act2(t)))


class Stage(nn.ModuleList):
    """The blocks at one resolution, run in turn with the same context."""

    def forward(self, h: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        for block in self:
            h = block(h, context)
        return h


@dataclass(frozen=True)
class ConvConfig:
    """What every block of a body is built from."""

    rank: int
    widths: tuple[int, ...]  # channels per resolution, finest first
    blocks: int
    context: int
    activation: str
    dropout: float
    norm: bool

    @property
    def levels(self) -> int:
        return len(self.widths) - 1

    def stage(self, cin: int, cout: int) -> Stage:
        """``blocks`` residual blocks at one resolution, ``cin -> cout`` in the first."""
        return Stage(
            ConvBlock(
                self.rank,
                cin if i == 0 else cout,
                cout,
                self.context,
                self.activation,
                self.dropout,
                self.norm,
            )
            for i in range(self.blocks)
        )

    def norm_act(self, channels: int) -> nn.Sequential:
        return nn.Sequential(group_norm(channels, self.norm), make_activation(self.activation))

    def upsample(self, cin: int, cout: int) -> nn.Sequential:
        """Double the resolution: nearest neighbour, then a convolution."""
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), periodic_conv(self.rank, cin, cout)
        )


class UNet(nn.Module):
    """Field -> field: ``levels`` strided halvings and nearest-neighbour doublings, one skip
    connection per resolution (Ronneberger et al. 2015; DDPM's blocks, Ho et al. 2020)."""

    def __init__(self, cfg: ConvConfig, in_ch: int, out_ch: int, zero_init: bool) -> None:
        super().__init__()
        w, r = cfg.widths, cfg.rank
        self.stem = periodic_conv(r, in_ch, w[0])
        self.down = nn.ModuleList(cfg.stage(w[max(i - 1, 0)], w[i]) for i in range(len(w)))
        self.pool = nn.ModuleList(periodic_conv(r, w[i], w[i], stride=2) for i in range(cfg.levels))
        self.mid = cfg.stage(w[-1], w[-1])
        self.up = nn.ModuleList(cfg.stage(2 * w[i], w[i]) for i in range(len(w)))
        self.unpool = nn.ModuleList(cfg.upsample(w[i + 1], w[i]) for i in range(cfg.levels))
        self.out = nn.Sequential(cfg.norm_act(w[0]), periodic_conv(r, w[0], out_ch))
        if zero_init:
            _zero(self.out[-1])

    def forward(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        h, skips = self.stem(x), []
        for i, stage in enumerate(self.down):
            h = stage(h, context)
            skips.append(h)
            if i < len(self.pool):
                h = self.pool[i](h)
        h = self.mid(h, context)
        for i in reversed(range(len(self.up))):
            if i < len(self.unpool):
                h = self.unpool[i](h)
            h = self.up[i](torch.cat([h, skips[i]], dim=1), context)
        return self.out(h)


class ConvEncoder(nn.Module):
    """Field -> vector: residual stages and strided convolutions halving the grid
    ``levels`` times, then a linear head on the flattened coarse grid and the context
    (a DCGAN discriminator's trunk, Radford et al. 2015, with residual blocks)."""

    def __init__(
        self, cfg: ConvConfig, in_ch: int, out_features: int, coarse: int, zero_init: bool
    ) -> None:
        super().__init__()
        w, r = cfg.widths, cfg.rank
        self.stem = periodic_conv(r, in_ch, w[0])
        self.stages = nn.ModuleList(cfg.stage(w[i], w[i]) for i in range(len(w)))
        self.pool = nn.ModuleList(
            nn.Sequential(
                periodic_conv(r, w[i], w[i + 1], stride=2), make_activation(cfg.activation)
            )
            for i in range(cfg.levels)
        )
        self.trunk_out = cfg.norm_act(w[-1])
        self.head = nn.Sequential(
            nn.Linear(w[-1] * coarse + cfg.context, w[-1]),
            make_activation(cfg.activation),
            nn.Linear(w[-1], out_features),
        )
        if zero_init:
            _zero(self.head[-1])

    def forward(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        h = self.stem(x)
        for i, stage in enumerate(self.stages):
            h = stage(h, context)
            if i < len(self.pool):
                h = self.pool[i](h)
        h = self.trunk_out(h).flatten(1)
        return self.head(h if context is None else torch.cat([h, context], dim=1))


class ConvDecoder(nn.Module):
    """Vector -> field: a linear layer (of the vector and the context) onto the coarse grid,
    then residual stages and nearest-neighbour doublings back to the full grid (a DCGAN
    generator, Radford et al. 2015, with residual blocks and no transposed convolutions)."""

    def __init__(
        self, cfg: ConvConfig, in_features: int, out_ch: int, grid: tuple[int, ...], zero_init: bool
    ) -> None:
        super().__init__()
        w, r = cfg.widths, cfg.rank
        self.coarse = tuple(s >> cfg.levels for s in grid)
        self.inp = nn.Linear(in_features + cfg.context, w[-1] * math.prod(self.coarse))
        self.stages = nn.ModuleList(cfg.stage(w[i], w[i]) for i in range(len(w)))
        self.unpool = nn.ModuleList(cfg.upsample(w[i + 1], w[i]) for i in range(cfg.levels))
        self.out = nn.Sequential(cfg.norm_act(w[0]), periodic_conv(r, w[0], out_ch))
        if zero_init:
            _zero(self.out[-1])

    def forward(self, z: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        h = self.inp(z if context is None else torch.cat([z, context], dim=1))
        h = h.view(len(z), -1, *self.coarse)
        for i in reversed(range(len(self.stages))):
            h = self.stages[i](h, context)
            if i > 0:
                h = self.unpool[i - 1](h)
        return self.out(h)


def field_grid(shape: Sequence[int] | None, levels: int) -> tuple[int, ...]:
    """``shape`` as a tuple, checked: 2-D or 3-D, every side divisible by ``2**levels``."""
    if shape is None:
        raise SurrogateError(
            "conv backbone needs the event's field shape (an event of one 2-D or 3-D field, "
            "or backbone_options shape)"
        )
    grid = tuple(int(s) for s in shape)
    if len(grid) not in CONVS or min(grid) < 1:
        raise SpecError(f"conv backbone: field shape {grid} is not a 2-D or 3-D grid")
    if any(s % 2**levels for s in grid):
        fit = min((s & -s).bit_length() - 1 for s in grid)  # the halvings every side allows
        raise SpecError(
            f"conv backbone: field shape {grid} has a side not divisible by 2**levels = "
            f"{2**levels}; use levels <= {fit} (backbone_options)"
        )
    return grid


def level_widths(
    hidden: int, levels: int | None, channels: Sequence[int] | None
) -> tuple[int, ...]:
    """Channels per resolution from ``hidden`` and the multipliers ``channels``."""
    if channels is None:
        levels = DEFAULT_LEVELS if levels is None else int(levels)
        channels = (1,) + (2,) * max(levels, 0)
    mult = tuple(int(m) for m in channels)
    if levels is not None and int(levels) != len(mult) - 1:
        raise SurrogateError(
            f"conv backbone: levels {levels} needs {int(levels) + 1} channel multipliers, "
            f"not {len(mult)} ({list(mult)})"
        )
    if not mult or min(mult) < 1 or hidden < 1:
        raise SurrogateError(
            f"conv backbone needs levels >= 0, hidden >= 1 and multipliers >= 1 "
            f"(hidden {hidden}, channels {list(mult)})"
        )
    return tuple(hidden * m for m in mult)


def _channels(features: int, size: int) -> int:
    """How many field channels ``features`` is (0: not field-shaped)."""
    return features // size if features >= size and features % size == 0 else 0


class ConvBackbone(nn.Module):
    """The ``conv`` backbone: ``(B, in_features)`` -> ``(B, out_features)`` through the
    body the module docstring's table picks from the two sizes and ``shape``."""

    #: the family's base passes ``shape``, the event's grid (see ``TorchSurrogate.backbone``)
    takes_field_shape: ClassVar[bool] = True

    def __init__(
        self,
        in_features: int,
        out_features: int,
        context_features: int = 0,
        *,
        shape: Sequence[int] | None = None,
        hidden: int = 128,
        blocks: int = 2,
        activation: str = "silu",
        dropout: float = 0.0,
        norm: bool = True,
        zero_init: bool = False,
        levels: int | None = None,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        widths = level_widths(int(hidden), levels, channels)
        self.shape = field_grid(shape, len(widths) - 1)
        if int(blocks) < 1:
            raise SurrogateError(f"conv backbone needs blocks >= 1, not {blocks}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.context_features = int(context_features)
        cfg = ConvConfig(
            len(self.shape),
            widths,
            int(blocks),
            self.context_features,
            activation,
            float(dropout),
            bool(norm),
        )
        self.body = self._body(cfg, bool(zero_init))

    def _body(self, cfg: ConvConfig, zero_init: bool) -> nn.Module:
        size = math.prod(self.shape)
        self.in_ch = _channels(self.in_features, size)
        out_ch = _channels(self.out_features, size)
        if self.in_ch and out_ch:
            return UNet(cfg, self.in_ch, out_ch, zero_init)
        if self.in_ch:
            coarse = size >> (cfg.rank * cfg.levels)
            return ConvEncoder(cfg, self.in_ch, self.out_features, coarse, zero_init)
        if out_ch:
            return ConvDecoder(cfg, self.in_features, out_ch, self.shape, zero_init)
        raise SurrogateError(
            f"conv backbone maps a field of shape {self.shape} ({size} numbers a channel) "
            f"to or from a vector, not {self.in_features} -> {self.out_features} numbers"
        )

    @property
    def role(self) -> str:
        """``unet``, ``encoder`` or ``decoder``: the body chosen."""
        return {UNet: "unet", ConvEncoder: "encoder", ConvDecoder: "decoder"}[type(self.body)]

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if not self.context_features:
            context = None
        elif context is None:
            raise ValueError("this backbone is conditional: pass a context")
        if self.in_ch:
            x = x.reshape(len(x), self.in_ch, *self.shape)
        return self.body(x, context).reshape(len(x), -1)


register_backbone("conv", ConvBackbone)
