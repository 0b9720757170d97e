"""ROOT files (uproot): events as a TTree, so analysis code in ROOT reads surrogate output.

uproot >= 5.7 writes an RNTuple on plain assignment (``file["x"] = {...}``); a TTree needs
``mktree`` + ``extend``, which writes one basket per branch per call, so events go in
large chunks.  Metadata is a JSON ``TObjString`` named ``surrogate_metadata``.
Foreign ntuples (Geant4 output) are read with a mapping of spec names to branch names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EventFileError, SpecError
from ..events import Events
from ..spec import EventSpec
from .atomic import atomic_path
from .metadata import check_metadata

TREE = "events"
ROOT_SUFFIXES = (".root",)
METADATA_KEY = "surrogate_metadata"
BASKET_EVENTS = 100_000


def write_root(
    path: str | os.PathLike[str],
    events: Events | Iterator[Events],
    spec: EventSpec,
    metadata: Mapping[str, Any],
) -> Path:
    """Write events (one ``Events`` or an iterator of batches) to a TTree ``events``."""
    import uproot

    path = Path(path)
    batches = events.batches(BASKET_EVENTS) if isinstance(events, Events) else events
    branches = {
        f.name: (np.dtype(f.dtype), f.shape) if f.shape else np.dtype(f.dtype) for f in spec.fields
    }
    branches |= {c.name: np.dtype("float64") for c in spec.conditions}
    meta = dict(metadata)
    with atomic_path(path) as tmp, uproot.recreate(tmp) as f:
        tree = f.mktree(TREE, branches, title="surrogate events")
        n = 0
        for batch in batches:
            batch = batch.check(spec, what=f"events for {path.name}")
            tree.extend({**batch.fields, **batch.conditions})
            n += len(batch)
        meta["n_events"] = n
        check_metadata(meta, "metadata to write")
        f[METADATA_KEY] = json.dumps(meta)
    return path


class RootEventFile:
    """Read a TTree as events, by slices like :class:`~surrogate.io.hdf5.EventFile`.

    ``branches`` maps spec names (fields and conditions) to branch names where they differ;
    a field may also map to a list of scalar branches, stacked in order (a Geant4 ntuple
    with one branch per voxel, say).  ``scale`` multiplies a named quantity on reading
    (GeV -> MeV).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        spec: EventSpec | None = None,
        *,
        tree: str = TREE,
        branches: Mapping[str, str | list[str]] | None = None,
        scale: Mapping[str, float] | None = None,
    ):
        import uproot

        self.path = Path(path)
        if not self.path.is_file():
            raise EventFileError(f"{self.path}: no such file")
        try:
            self._file = uproot.open(self.path)
            keys = {k.split(";")[0] for k in self._file.keys()}  # noqa: SIM118
        except Exception as exc:  # uproot raises many types for a corrupt file
            raise EventFileError(f"{self.path}: not a readable ROOT file ({exc})") from exc
        self.metadata: dict[str, Any] = {}
        if METADATA_KEY in keys:
            self.metadata = json.loads(str(self._file[METADATA_KEY]))
            own = EventSpec.from_dict(self.metadata["spec"])
            if spec is not None and not spec.compatible_with(own):
                raise SpecError(f"{self.path}: file spec differs from the one given")
            spec = spec or own
        elif spec is None:
            raise EventFileError(f"{self.path}: no surrogate metadata: give the event spec")
        self.spec: EventSpec = spec
        if tree not in keys:
            raise EventFileError(f"{self.path}: no tree {tree!r} (has {', '.join(sorted(keys))})")
        self._tree = self._file[tree]
        self._map: dict[str, str | list[str]] = {
            name: name for name in (*spec.field_names, *spec.condition_names)
        }
        self._map |= dict(branches or {})
        self._scale = dict(scale or {})
        available = set(self._tree.keys())
        for name, branch in self._map.items():
            for b in [branch] if isinstance(branch, str) else branch:
                if b not in available:
                    raise EventFileError(f"{self.path}: no branch {b!r} for {name!r}")

    @property
    def metadata_summary(self) -> dict[str, Any]:
        keys = ("producer", "producer_version", "seed", "options", "created")
        return {f"data_{k}": self.metadata[k] for k in keys if k in self.metadata}

    def __len__(self) -> int:
        return int(self._tree.num_entries)

    def _read(self, name: str, start: int, stop: int) -> np.ndarray:
        branch = self._map[name]
        names = [branch] if isinstance(branch, str) else branch
        arrays = self._tree.arrays(names, entry_start=start, entry_stop=stop, library="np")
        data = (
            arrays[branch] if isinstance(branch, str) else np.stack([arrays[b] for b in names], 1)
        )
        if data.dtype == object:  # jagged branch: every event must have the same length
            data = np.stack(list(data))
        return data * self._scale[name] if name in self._scale else data

    def __getitem__(self, key: slice) -> Events:
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise TypeError("event files are read by contiguous slices")
        fields = {f.name: self._read(f.name, start, stop) for f in self.spec.fields}
        conds = {c.name: self._read(c.name, start, stop) for c in self.spec.conditions}
        return Events.checked(fields, conds, self.spec, what=str(self.path))

    def read_conditions(self, key: slice) -> dict[str, np.ndarray]:
        """The conditions of ``self[key]``, checked, without reading the fields."""
        start, stop, _ = key.indices(len(self))
        conds = {c.name: self._read(c.name, start, stop) for c in self.spec.conditions}
        return self.spec.check_conditions(conds, stop - start, what=str(self.path))

    def batches(self, size: int) -> Iterator[Events]:
        for start in range(0, len(self), size):
            yield self[start : start + size]

    def read(self) -> Events:
        return self[:]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RootEventFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
