"""Typed settings: frozen dataclasses checked once, written to JSON as they are declared.

Hyper-parameters and training options are declared once, as the fields of a frozen
dataclass with their defaults (the diffusers habit of writing ``config.json`` from the
constructor's arguments).  :func:`build` refuses unknown names with a suggestion, and the
dataclass's own ``__post_init__`` checks the values, so a typo or a bad value fails before
any work starts rather than as a ``KeyError`` deep inside a loop::

    @dataclass(frozen=True)
    class FlowSettings:
        hidden: int = 128
        transforms: int = 6

        def __post_init__(self) -> None:
            require(self.hidden >= 1, "hidden must be >= 1")

    settings = build(FlowSettings, {"hidden": 64}, where="model 'flow'")
    as_dict(settings)   # {"hidden": 64, "transforms": 6}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from .errors import SpecError, SurrogateError, check_known

T = TypeVar("T")


def field_defaults(cls: type) -> dict[str, Any]:
    """Every field of the settings class ``cls`` with its default value."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
        else:
            raise TypeError(f"settings field {cls.__name__}.{f.name} needs a default")
    return out


def build(
    cls: type[T],
    options: Mapping[str, Any],
    *,
    where: str,
    error: type[SurrogateError] = SpecError,
) -> T:
    """``cls(**options)`` with unknown names refused and value errors as one line.

    ``where`` names what is being configured (``"model 'flow'"``, ``"training"``) in the
    message; ``error`` is the exception type raised.
    """
    check_known(options, [f.name for f in dataclasses.fields(cls)], where, error=error)  # type: ignore[arg-type]
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise error(f"{where}: {exc}") from exc


def as_dict(settings: Any) -> dict[str, Any]:
    """The settings as a plain dict (shallow: values are kept as they are)."""
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}


def require(condition: bool, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``condition``: the check a ``__post_init__`` makes."""
    if not condition:
        raise ValueError(message)
