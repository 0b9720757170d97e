"""Event files: HDF5 (the default, CaloChallenge-compatible) and ROOT TTrees."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import EventFileError
from ..events import Events
from ..spec import EventSpec
from .hdf5 import EventFile, EventWriter, write_events, write_virtual
from .metadata import make_metadata
from .root import ROOT_SUFFIXES, RootEventFile, write_root

__all__ = [
    "ROOT_SUFFIXES",
    "EventFile",
    "EventWriter",
    "RootEventFile",
    "make_metadata",
    "open_events",
    "read_events",
    "write_events",
    "write_root",
    "write_virtual",
]


def open_events(
    path: str | os.PathLike[str], spec: EventSpec | None = None, **options: Any
) -> EventFile | RootEventFile:
    """A lazy reader for an event file, by suffix: ``.root`` is ROOT, anything else HDF5."""
    path = Path(path)
    if not path.exists():
        raise EventFileError(f"{path}: no such file")
    if path.suffix.lower() in ROOT_SUFFIXES:
        return RootEventFile(path, spec, **options)
    return EventFile(path, spec, **options)


def read_events(
    path: str | os.PathLike[str], spec: EventSpec | None = None, **options: Any
) -> Events:
    """Read a whole event file into memory."""
    with open_events(path, spec, **options) as f:
        return f.read()
