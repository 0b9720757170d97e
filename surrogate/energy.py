"""How a simulator whose distribution is known up to a constant exposes it: its energy.

A target of a Boltzmann generator (or any unnormalised density) is a :class:`Simulator`
that implements ``_energy``: the *reduced* energy ``u(x | c)`` with

    p(x | c) = exp(-u(x | c)) / Z(c),

so for a system at temperature ``T`` a plugin returns ``U(x) / kT``.  The core does not
know what a temperature is: a condition of the spec is just an argument of ``u``.  Where
``ln Z(c)`` is known in closed form the plugin implements ``_log_normalizer`` and the
simulator gets an exact ``log_prob``.

The public calls (``Simulator.energy``, ``.force``, ``.log_prob``) accept numpy arrays
(and return float64 numpy arrays) or torch tensors (and return tensors, differentiable
with respect to the fields: what reverse-KL training back-propagates through).  The
plugin writes one torch implementation; this module does the conversions and the checks,
so every target refuses a bad condition or a misshapen configuration with the same
one-line :class:`~surrogate.errors.SpecError`.  Torch is imported only when an energy is
evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import SpecError
from .spec import EventSpec

if TYPE_CHECKING:  # pragma: no cover
    import torch

Fields = Mapping[str, Any]


def is_tensor(value: Any) -> bool:
    """Whether ``value`` is a torch tensor, without importing torch for numpy callers."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def event_count(fields: Fields, spec: EventSpec, what: str) -> int:
    """The number of events in ``fields``, after checking names and per-event shapes."""
    missing = [f.name for f in spec.fields if f.name not in fields]
    if missing:
        raise SpecError(f"{what}: missing field {missing[0]!r}")
    n = None
    for f in spec.fields:
        shape = tuple(fields[f.name].shape)
        if shape[1:] != f.shape:
            raise SpecError(f"{what}: field {f.name!r} has shape {shape}, expected {f.batch_shape}")
        if n is not None and shape[0] != n:
            raise SpecError(f"{what}: field {f.name!r} has {shape[0]} events, others {n}")
        n = shape[0]
    return int(n or 0)


def as_tensors(
    fields: Fields, conditions: Mapping[str, Any] | None, spec: EventSpec, what: str
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], int, bool]:
    """``(fields, conditions, n, numpy_in)``: the inputs of a plugin's ``_energy`` as
    torch tensors, the number of events and whether the caller passed numpy.

    Numpy fields become float64 tensors (an energy summed over many particles needs the
    precision); tensors are passed as they are, so gradients flow.  Conditions are checked
    against the spec's ranges (a temperature outside the range is refused) and put on the
    fields' device and floating dtype.
    """
    import torch

    n = event_count(fields, spec, what)
    numpy_in = not any(is_tensor(v) for v in fields.values())
    if numpy_in:
        tensors = {
            f.name: torch.as_tensor(np.asarray(fields[f.name], np.float64)) for f in spec.fields
        }
    else:
        tensors = {f.name: torch.as_tensor(fields[f.name]) for f in spec.fields}
    ref = next(iter(tensors.values()), torch.zeros(0, dtype=torch.float64))
    dtype = ref.dtype if ref.dtype.is_floating_point else torch.float64
    plain = {
        k: v.detach().cpu().numpy() if is_tensor(v) else v for k, v in (conditions or {}).items()
    }
    checked = spec.check_conditions(plain, n, what=what)
    conds = {k: torch.as_tensor(v, dtype=dtype, device=ref.device) for k, v in checked.items()}
    return tensors, conds, n, numpy_in


def check_energy(u: torch.Tensor, n: int, what: str) -> torch.Tensor:
    """The plugin's energy, checked to be one value per event."""
    if tuple(u.shape) != (n,):
        raise SpecError(f"{what}: the energy has shape {tuple(u.shape)}, expected ({n},)")
    return u


def to_output(value: torch.Tensor, numpy_in: bool) -> Any:
    """A float64 numpy array for numpy callers; the tensor itself otherwise."""
    return value.detach().cpu().double().numpy() if numpy_in else value


def autograd_force(
    energy: Any, fields: dict[str, torch.Tensor], conds: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``-grad_x u`` of every field by automatic differentiation of ``energy``."""
    import torch

    with torch.enable_grad():
        leaves = {
            k: (v.detach().requires_grad_(True) if v.dtype.is_floating_point else v)
            for k, v in fields.items()
        }
        u = energy(leaves, conds)
        grads = torch.autograd.grad(
            u.sum(), [v for v in leaves.values() if v.requires_grad], allow_unused=True
        )
    out, it = {}, iter(grads)
    for k, v in leaves.items():
        g = next(it) if v.requires_grad else None
        out[k] = -g if g is not None else torch.zeros_like(v)
    return out
