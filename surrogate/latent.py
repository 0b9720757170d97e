"""Latent spaces: events to latent points and back, and paths between two events.

A model has a latent space when it implements :class:`LatentModel`:

``latent_dim``
    the dimension ``d`` of its latent points;
``to_latent(events) -> (n, d)``
    the point each event is mapped to, at the event's conditions: a VAE's posterior mean
    (a summary: decoding it gives a reconstruction, not the event), a flow's base point
    ``z = f(x; c)`` (its exact inverse: decoding gives the event back);
``from_latent(z, conditions=None, *, noise=False, seed=None) -> Events``
    the events ``z`` decodes to at ``conditions`` (scalars broadcast; ``None``: drawn as
    the model's ``sample`` draws them, seeded by ``seed``); ``noise=True`` decodes as
    ``sample`` does (a VAE adds its decoder noise), ``False`` deterministically (the
    decoder mean), as a path between two events needs.

Every latent space here has the standard normal prior ``N(0, I_d)``: ``from_latent`` of
prior draws with ``noise=True`` is distributed as the model's ``sample``, which is what
property-guided generation (:mod:`surrogate.guided`) relies on.

The protocol says ``to_latent``/``from_latent`` rather than ``encode``/``decode`` because
a VAE's ``encode`` already returns its whole posterior (``{"mean", "std"}``); the
functions :func:`encode` and :func:`decode` here give every family one spelling, with
the spec checks.

:func:`interpolate` walks a straight line (``path="linear"``) or a great circle
(``"slerp"``, White 2016, arXiv:1609.04468) between the latent points of two events,
the conditions linear in between.  Slerp matters for a Gaussian latent of many
dimensions: prior draws have norms near ``sqrt(d)``, and the midpoint of the straight
line between two of them has norm ``sqrt(d / 2)`` on average, a region the decoder was
hardly trained on; slerp moves along the sphere, its norm interpolated linearly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from .errors import SpecError, SurrogateError
from .events import Events
from .interfaces import Seed, make_rng

PathKind = Literal["linear", "slerp"]
PATHS: tuple[str, ...] = ("linear", "slerp")
#: Below this angle (radians) between two latent points slerp is the straight line.
MIN_ANGLE = 1e-6


@runtime_checkable
class LatentModel(Protocol):
    """A model with a latent space (see the module docstring)."""

    @property
    def latent_dim(self) -> int: ...

    def to_latent(self, events: Events) -> np.ndarray: ...

    def from_latent(
        self,
        z: np.ndarray,
        conditions: Mapping[str, Any] | None = None,
        *,
        noise: bool = False,
        seed: Seed = None,
    ) -> Events: ...


def has_latent(model: Any) -> bool:
    """Whether ``model`` (an instance or a family's class) has a latent space."""
    return callable(getattr(model, "to_latent", None)) and callable(
        getattr(model, "from_latent", None)
    )


def latent_families() -> list[str]:
    """The registered generator families with a latent space."""
    from .factories import surrogate_class
    from .registry import get_registry

    out = []
    for name in get_registry().names("surrogate"):
        try:
            if has_latent(surrogate_class(name)):
                out.append(name)
        except SurrogateError:  # a broken plugin is another error, reported elsewhere
            continue
    return sorted(out)


def require_latent(model: Any) -> LatentModel:
    """``model`` itself when it has a latent space, else a one-line error naming the
    families that have one."""
    if not has_latent(model):
        name = getattr(model, "name", "") or type(model).__name__
        raise SurrogateError(
            f"model {name!r} has no latent space (families with one: "
            f"{', '.join(latent_families()) or 'none installed'})"
        )
    return model


def model_spec(model: Any) -> Any:
    """The spec of a trained model (an error for one not trained)."""
    spec = getattr(model, "spec", None)
    if spec is None:
        raise SurrogateError(f"model {getattr(model, 'name', '')!r} is not trained yet")
    return spec


def checked_events(model: Any, events: Events, what: str = "events") -> Events:
    """``events`` checked against the model's spec: events of another spec are refused
    with what differs, rather than failing somewhere inside the networks."""
    spec = model_spec(model)
    if events.spec is not None and not spec.compatible_with(events.spec):
        raise SpecError(
            f"{what} do not match the model's spec: " + "; ".join(events.spec.difference(spec))
        )
    return Events.checked(events.fields, events.conditions, spec, what=what)


def encode(model: Any, events: Events) -> np.ndarray:
    """The latent points ``(n, latent_dim)`` of ``events`` (float64)."""
    m = require_latent(model)
    z = np.asarray(m.to_latent(checked_events(m, events, "encoded events")), np.float64)
    return z.reshape(len(events), m.latent_dim)


def check_latent(model: LatentModel, z: Any) -> np.ndarray:
    """``z`` as a finite float64 ``(n, latent_dim)`` array (one point may be 1-D)."""
    arr = np.asarray(z, dtype=np.float64)
    arr = arr[None, :] if arr.ndim == 1 else arr
    d = model.latent_dim
    if arr.ndim != 2 or arr.shape[1] != d:
        raise SpecError(f"latent points must be (n, {d}), not shape {np.shape(z)}")
    if not np.isfinite(arr).all():
        raise SpecError("latent points must be finite")
    return arr


def decode(
    model: Any,
    z: Any,
    conditions: Mapping[str, Any] | None = None,
    *,
    noise: bool = False,
    seed: Seed = None,
) -> Events:
    """The events the latent points ``z`` decode to (see :class:`LatentModel`)."""
    m = require_latent(model)
    return m.from_latent(check_latent(m, z), conditions, noise=noise, seed=seed)


# -- the prior ------------------------------------------------------------------------------
def prior_sample(dim: int, n: int, seed: Seed | np.random.Generator = None) -> np.ndarray:
    """``n`` draws of the standard normal prior in ``dim`` dimensions, ``(n, dim)``."""
    rng = seed if isinstance(seed, np.random.Generator) else make_rng(seed)
    return rng.standard_normal((int(n), int(dim)))


def prior_log_prob(z: np.ndarray) -> np.ndarray:
    """``log N(z; 0, I)`` of each row of ``z``."""
    z = np.asarray(z, dtype=np.float64)
    return -0.5 * (np.einsum("ij,ij->i", z, z) + z.shape[1] * np.log(2 * np.pi))


# -- paths ----------------------------------------------------------------------------------
def check_steps(steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise SpecError(f"a path needs an integer number of steps >= 2, not {steps!r}")
    return int(steps)


def check_path(path: Any) -> str:
    if path not in PATHS:
        raise SpecError(f"path must be one of {', '.join(PATHS)}, not {path!r}")
    return str(path)


def latent_path(za: np.ndarray, zb: np.ndarray, steps: int, path: str = "linear") -> np.ndarray:
    """``steps`` points from ``za`` to ``zb`` (both included), ``(steps, d)``: the straight
    line, or slerp (the angle and the norm both linear in the step)."""
    check_path(path)
    t = np.linspace(0.0, 1.0, check_steps(steps))[:, None]
    za, zb = np.asarray(za, np.float64), np.asarray(zb, np.float64)
    na, nb = np.linalg.norm(za), np.linalg.norm(zb)
    if path == "linear" or min(na, nb) == 0.0:
        return (1 - t) * za + t * zb
    ua, ub = za / na, zb / nb
    omega = float(np.arccos(np.clip(ua @ ub, -1.0, 1.0)))
    if omega < MIN_ANGLE or np.pi - omega < MIN_ANGLE:  # one direction, or no unique circle
        return (1 - t) * za + t * zb
    unit = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / np.sin(omega)
    return unit * ((1 - t) * na + t * nb)


def condition_path(spec: Any, a: Events, b: Events, steps: int) -> dict[str, np.ndarray]:
    """Each condition linear from the first event of ``a`` to that of ``b``."""
    t = np.linspace(0.0, 1.0, steps)
    return {
        k: (1 - t) * float(a.conditions[k][0]) + t * float(b.conditions[k][0])
        for k in spec.condition_names
    }


def interpolate(
    model: Any, a: Events, b: Events, steps: int = 8, *, path: PathKind = "linear"
) -> Events:
    """``steps`` events decoded (deterministically) along the latent path from the first
    event of ``a`` to the first of ``b``, the conditions linear in between.  For a flow
    the end points are the two events themselves, to float precision."""
    m = require_latent(model)
    steps, path = check_steps(steps), check_path(path)  # type: ignore[assignment]
    if not len(a) or not len(b):
        raise SpecError("interpolate needs an event at each end")
    a = checked_events(m, a[:1], "interpolation start")
    b = checked_events(m, b[:1], "interpolation end")
    za, zb = encode(m, a)[0], encode(m, b)[0]
    conds = condition_path(model_spec(m), a, b, steps)
    return m.from_latent(latent_path(za, zb, steps, path), conds or None, noise=False)
