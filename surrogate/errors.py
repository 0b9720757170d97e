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
