"""The hyper-parameters every torch family shares, and the checks family settings use.

Each family declares its hyper-parameters as a frozen dataclass extending
:class:`TorchSettings` (see :mod:`surrogate.settings`): the fields are the names and
defaults written to ``config.json``, and ``__post_init__`` checks the values once, when the
model is built, so a bad value is a one-line error naming the model rather than a failure
deep inside network construction or an epoch into training.

Values read back from an old ``config.json`` or given on the command line arrive as JSON
types (a list for a tuple, ``8.0`` for an integer): the helpers below coerce those, and
leave values of the right kind as they are, so the hyper-parameters a checkpoint recorded
compare equal to the ones a resumed run rebuilds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from surrogate.settings import require

#: The hyper-parameters a backbone is built from (with ``backbone_options``).
BACKBONE_SETTINGS = ("hidden", "blocks", "activation", "dropout")
#: What ``sample_precision`` may be: the networks' precision when sampling.
PRECISIONS = ("float32", "bfloat16")


@dataclass(frozen=True)
class TorchSettings:
    """Preprocessing and backbone: what every torch family is built from."""

    #: list of step dicts (:mod:`surrogate.preprocessing`) or its JSON text; None: standardise
    preprocessing: list[dict[str, Any]] | str | None = None
    backbone: str = "mlp"
    hidden: int = 128
    blocks: int = 2
    activation: str = "silu"
    dropout: float = 0.0
    #: anything a specific body needs (its input shape...), passed to the backbone as is
    backbone_options: Mapping[str, Any] | None = field(default_factory=dict)
    #: ``bfloat16``: sample with the networks under autocast (1.3-2.5x faster on this
    #: project's AVX512-BF16 CPU; what it costs in quality is the model's to check)
    sample_precision: str = "float32"

    def __post_init__(self) -> None:
        integer(self, "hidden", low=1)
        integer(self, "blocks", low=0)
        real(self, "dropout", low=0.0, high=1.0, high_open=True)
        one_of(self, "sample_precision", PRECISIONS)

    def backbone_kwargs(self) -> dict[str, Any]:
        """The options of :func:`~surrogate_generators.backbones.make_backbone`."""
        return {
            **{k: getattr(self, k) for k in BACKBONE_SETTINGS},
            **(self.backbone_options or {}),
        }


def integer(settings: Any, name: str, *, low: int | None = None, optional: bool = False) -> None:
    """Make the field ``name`` an ``int`` (``8.0`` and ``"8"`` are 8; ``8.5`` and
    ``True`` are refused), at least ``low``; ``optional``: ``None`` is kept."""
    value = getattr(settings, name)
    if optional and value is None:
        return
    try:
        number = int(value)
        whole = not isinstance(value, bool) and float(value) == number
    except (TypeError, ValueError):
        whole = False
    what = "an integer" if low is None else f">= {low} (an integer)"
    require(
        whole and (low is None or number >= low),
        f"{name} must be {what}{' or None' if optional else ''}, not {value!r}",
    )
    object.__setattr__(settings, name, number)


def real(
    settings: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
) -> None:
    """Check that the field ``name`` is a finite number in the range; a number given as
    text (``"0.5"``) becomes a float, an ``int`` or ``float`` stays as it is."""
    value = getattr(settings, name)
    if optional and value is None:
        return
    try:
        number = value if type(value) in (int, float) else float(value)
        ok = not isinstance(value, bool) and math.isfinite(number)
    except (TypeError, ValueError):
        ok = False
    if ok:
        ok = (low is None or (number > low if low_open else number >= low)) and (
            high is None or (number < high if high_open else number <= high)
        )
    what = " ".join(filter(None, ("a number", _interval(low, high, low_open, high_open))))
    require(ok, f"{name} must be {what}{' or None' if optional else ''}, not {value!r}")
    object.__setattr__(settings, name, number)


def one_of(settings: Any, name: str, choices: tuple[str, ...]) -> None:
    """Check that the field ``name`` is one of ``choices``."""
    value = getattr(settings, name)
    require(value in choices, f"{name} must be one of {choices}, not {value!r}")


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"{'<' if high_open else '<='} {high:g}" if high is not None else ""
