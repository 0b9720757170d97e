"""Exceptions raised by the toolkit.

Every error a user can cause derives from :class:`SurrogateError`, so the CLI can print
it as one line and exit with status 1 without a traceback, while genuine bugs (any other
exception) still show their traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SurrogateError(Exception):
    """Base class of errors caused by input, files or configuration (not by bugs)."""


class SpecError(SurrogateError, ValueError):
    """Events or conditions do not match an :class:`~surrogate.spec.EventSpec`."""


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
    known = sorted(known)
    unknown = sorted(set(given) - set(known))
    if unknown:
        name = unknown[0]
        raise error(
            f"{what}: unknown {noun} {name!r}"
            + (suggest(name, known) or f" ({noun}s: {', '.join(known) or 'none'})")
        )
