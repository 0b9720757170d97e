"""ROOT files (uproot): events as a TTree, so analysis code in ROOT reads surrogate output.

uproot >= 5.7 writes an RNTuple on plain assignment (``file["x"] = {...}``); a TTree needs
``mktree`` + ``extend``, which writes one basket per branch per call, so events go in
large chunks.  Metadata is a JSON ``TObjString`` named ``surrogate_metadata``.
Foreign ntuples (Geant4 output) are read with a mapping of spec names to branch names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import EventFileError, SpecError, SurrogateError
from ..events import Events
from ..spec import EventSpec
from .atomic import atomic_path
from .metadata import check_metadata

TREE = "events"
ROOT_SUFFIXES = (".root",)
METADATA_KEY = "surrogate_metadata"
BASKET_EVENTS = 100_000
T = TypeVar("T")


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


#: the longest part of a library's message an error quotes
REASON_CHARS = 200


def _reason(exc: BaseException) -> str:
    """What uproot said, as a short line: its messages span lines (``expected Chunk of
    length 320,\\nreceived 0 bytes...``) and may hold unpaired surrogates from a garbled
    class name, which a terminal could not print."""
    text = _printable(" ".join(str(exc).split()) or type(exc).__name__)
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 3] + "..."


def _printable(text: str) -> str:
    """``text`` with unpaired surrogates (what uproot decodes a garbled name to) written
    as ``\\udc80``: a terminal could not print them."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def guarded(path: str | os.PathLike[str], what: str, call: Callable[[], T]) -> T:
    """``call()`` (an uproot read), with what a damaged file makes uproot raise as one
    :class:`EventFileError` naming ``path`` and ``what`` was read; the toolkit's own
    errors pass as they are.  uproot raises almost any type for a damaged file
    (``zlib.error``, ``OSError``, ``ValueError``, ``KeyError``, even ``AssertionError``
    and ``UnboundLocalError``), at opening or only when a basket is read."""
    try:
        return call()
    except SurrogateError:
        raise
    except Exception as exc:
        raise EventFileError(f"{path}: {what} ({_reason(exc)})") from exc


def object_names(path: str | os.PathLike[str], file: Any) -> set[str]:
    """The names of the objects in an open ROOT file (without their ``;cycle``), made
    printable: an error lists them, and a damaged file garbles them."""
    return guarded(
        path,
        "not a readable ROOT file",
        lambda: {_printable(k.split(";")[0]) for k in file.keys()},  # noqa: SIM118
    )


class RootEventFile:
    """Read a TTree as events, by slices like :class:`~surrogate.io.hdf5.EventFile`.

    ``branches`` maps spec names (fields and conditions) to branch names where they differ;
    a field may also map to a list of scalar branches, stacked in order (a Geant4 ntuple
    with one branch per voxel, say).  ``scale`` multiplies a named quantity on reading
    (GeV -> MeV).

    A damaged file makes uproot raise almost any exception type, at opening or only
    when a basket is read: every uproot call goes through :func:`guarded`, which turns
    them into one :class:`EventFileError` naming the file and what was being read.
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
        self._file = self._guarded("not a readable ROOT file", lambda: uproot.open(self.path))
        try:
            self._open(spec, tree, branches, scale)
        except BaseException:
            self._file.close()
            raise

    def _open(
        self,
        spec: EventSpec | None,
        tree: str,
        branches: Mapping[str, str | list[str]] | None,
        scale: Mapping[str, float] | None,
    ) -> None:
        keys = object_names(self.path, self._file)
        self.metadata: dict[str, Any] = self._read_metadata() if METADATA_KEY in keys else {}
        if self.metadata:
            own = self._own_spec()
            if spec is not None and not spec.compatible_with(own):
                raise SpecError(f"{self.path}: file spec differs from the one given")
            spec = spec or own
        elif spec is None:
            raise EventFileError(f"{self.path}: no surrogate metadata: give the event spec")
        self.spec: EventSpec = spec
        if tree not in keys:
            raise EventFileError(f"{self.path}: no tree {tree!r} (has {', '.join(sorted(keys))})")
        self._tree = self._read_tree(tree)
        self._map: dict[str, str | list[str]] = {
            name: name for name in (*spec.field_names, *spec.condition_names)
        }
        self._map |= dict(branches or {})
        self._scale = dict(scale or {})
        available = self._guarded(f"unreadable tree {tree!r}", lambda: set(self._tree.keys()))
        for name, branch in self._map.items():
            listed = [branch] if isinstance(branch, str) else list(branch)
            if not listed:
                raise SpecError(f"{self.path}: no branch given for {name!r}")
            for b in listed:
                if b not in available:
                    raise EventFileError(f"{self.path}: no branch {b!r} for {name!r}")
        if self.metadata and self.metadata["n_events"] != len(self):
            raise EventFileError(
                f"{self.path}: holds {len(self)} events, metadata says {self.metadata['n_events']}"
            )

    def _guarded(self, what: str, call: Callable[[], T]) -> T:
        return guarded(self.path, what, call)

    def _read_metadata(self) -> dict[str, Any]:
        """The ``surrogate_metadata`` string, decoded and checked against the schema."""
        what = f"unreadable {METADATA_KEY!r}"
        text = self._guarded(what, lambda: str(self._file[METADATA_KEY]))
        try:
            meta = json.loads(text)
        except (ValueError, RecursionError):
            raise EventFileError(f"{self.path}: {METADATA_KEY!r} is not valid JSON") from None
        if not isinstance(meta, dict):
            raise EventFileError(f"{self.path}: {METADATA_KEY!r} is not a JSON object")
        check_metadata(meta, str(self.path))
        return meta

    def _own_spec(self) -> EventSpec:
        """The spec the metadata records (already checked against the schema)."""
        try:
            return EventSpec.from_dict(self.metadata["spec"])
        except SurrogateError as exc:
            raise SpecError(f"{self.path}: {exc}") from None
        except (TypeError, ValueError) as exc:  # a dtype numpy does not take, say
            raise SpecError(f"{self.path}: malformed event spec ({_reason(exc)})") from None

    def _read_tree(self, name: str) -> Any:
        import uproot

        tree = self._guarded(f"unreadable tree {name!r}", lambda: self._file[name])
        if not isinstance(tree, uproot.behaviors.TTree.TTree):
            kind = _printable(str(getattr(tree, "classname", type(tree).__name__)))
            raise EventFileError(f"{self.path}: {name!r} is a {kind}, not a TTree")
        return tree

    @property
    def metadata_summary(self) -> dict[str, Any]:
        keys = ("producer", "producer_version", "seed", "options", "created")
        return {f"data_{k}": self.metadata[k] for k in keys if k in self.metadata}

    def __len__(self) -> int:
        return int(self._tree.num_entries)

    def _rectangular(self, branch: str, data: np.ndarray) -> np.ndarray:
        """A branch's entries as an ``(n, ...)`` array: a jagged branch (or one of
        strings) comes as an object array, whose events must all have one shape."""
        if data.dtype != object:
            return data
        shapes = {np.shape(x) for x in data}
        if len(shapes) > 1:
            raise EventFileError(f"{self.path}: branch {branch!r} varies in length between events")
        return np.stack(list(data)) if len(data) else np.zeros((0,))

    def _read(self, name: str, start: int, stop: int) -> np.ndarray:
        branch = self._map[name]
        names = [branch] if isinstance(branch, str) else branch
        arrays = self._guarded(
            f"cannot read the branches for {name!r}",
            lambda: self._tree.arrays(names, entry_start=start, entry_stop=stop, library="np"),
        )
        parts = [self._rectangular(b, arrays[b]) for b in names]
        if isinstance(branch, str):
            data = parts[0]
        elif len({p.shape for p in parts}) > 1:
            raise EventFileError(f"{self.path}: the branches for {name!r} differ in shape")
        else:
            data = np.stack(parts, 1)
        if name not in self._scale:
            return data
        if data.dtype.kind not in "biuf":
            raise EventFileError(f"{self.path}: the branch for {name!r} holds {data.dtype}")
        return data * self._scale[name]

    def __getitem__(self, key: slice) -> Events:
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise TypeError("event files are read by contiguous slices")
        fields = {f.name: self._read(f.name, start, stop) for f in self.spec.fields}
        conds = {c.name: self._read(c.name, start, stop) for c in self.spec.conditions}
        return Events.checked(fields, conds, self.spec, what=str(self.path), first_event=start)

    def read_conditions(self, key: slice) -> dict[str, np.ndarray]:
        """The conditions of ``self[key]``, checked, without reading the fields."""
        start, stop, _ = key.indices(len(self))
        conds = {c.name: self._read(c.name, start, stop) for c in self.spec.conditions}
        return self.spec.check_conditions(
            conds, stop - start, what=str(self.path), first_event=start
        )

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
