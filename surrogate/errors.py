"""Exceptions raised by the toolkit.

Every error a user can cause derives from :class:`SurrogateError`, so the CLI can print
it as one line and exit with status 1 without a traceback, while genuine bugs (any other
exception) still show their traceback.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from typing import Any


class SurrogateError(Exception):
    """Base class of errors caused by input, files or configuration (not by bugs)."""

    def noted(self, note: str) -> SurrogateError:
        """The same error, of the same class, with ``note`` appended to its message (what
        a caller adds: which run, what is kept, how to go on)."""
        return type(self)(f"{self}{note}")


class SpecError(SurrogateError, ValueError):
    """Events or conditions do not match an :class:`~surrogate.spec.EventSpec`."""


class NonFiniteError(SpecError):
    """Events hold NaN or Inf: in ``where`` (``"what: field 'x'"``), ``count`` of ``total``
    events, the first being number ``event`` (``detail``: where in it, its value...).  A
    caller that knows where the events go (a file being written) or came from renumbers
    it with :meth:`noted`."""

    def __init__(
        self,
        where: str,
        *,
        name: str,
        event: int,
        count: int,
        total: int,
        detail: str = "",
        note: str = "",
    ) -> None:
        self.where, self.name, self.event, self.count, self.total = where, name, event, count, total
        self.detail, self.note = detail, note
        super().__init__(
            f"{where} has NaN or Inf in {count} of {total} events (the first: event {event}"
            f"{detail}){note}"
        )

    def noted(self, note: str, *, offset: int = 0, detail: str = "") -> NonFiniteError:
        """This error with ``note`` appended (and ``detail`` about the first event), its
        event counted ``offset`` further on (the events were a slice of something larger)."""
        return NonFiniteError(
            **{**self._fields(), "event": self.event + offset},
            detail=self.detail + detail,
            note=self.note + note,
        )

    def _fields(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("where", "name", "event", "count", "total")}

    def __reduce__(self) -> tuple[Any, ...]:  # keyword arguments survive a process pool
        state = {**self._fields(), "detail": self.detail, "note": self.note}
        return (functools.partial(type(self), **state), ())


class PluginError(SurrogateError):
    """A plugin is unknown, broken, blocked or conflicts with another one."""


class EventFileError(SurrogateError):
    """An event file is missing, truncated, not HDF5/ROOT or has invalid metadata."""


class CheckpointError(SurrogateError):
    """A model directory is incomplete, tampered with, or from another plugin/version."""


class TrainingError(SurrogateError):
    """Training cannot go on (for example the loss became NaN)."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x' or 'y'?)"`` for the choices close to ``name``, or ``""``."""
    close = difflib.get_close_matches(name, sorted(choices), n=3, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def check_known(
    given: Iterable[str],
    known: Iterable[str],
    what: str,
    *,
    noun: str = "option",
    error: type[Exception] = SurrogateError,
) -> None:
    """Raise ``error("{what}: unknown {noun} 'x' (did you mean 'y'?)")`` for the first name
    in ``given`` not in ``known``; with nothing close, the message lists what is known.

    One place for the check every option-taking object makes (models, metrics, plugin
    factories, preprocessing steps, conditions), so the messages read alike.
    """
    known = sorted(str(k) for k in known)
    unknown = sorted(str(g) for g in set(given) if str(g) not in known)
    if unknown:
        name = unknown[0]
        raise error(
            f"{what}: unknown {noun} {name!r}"
            + (suggest(name, known) or f" ({noun}s: {', '.join(known) or 'none'})")
        )
