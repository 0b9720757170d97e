"""HDF5 event files (h5py).

The datasets are those of the spec's layout (:mod:`surrogate.layouts`, registered by plugins):
the core's ``default`` is one dataset per field ``(N, *shape)`` and one per condition
``(N,)``; a domain's layout makes files its community's tools open as they are.

Datasets are chunked (event axis first, ~256 KiB chunks), gzip-4 with shuffle, and
appendable, so a file larger than memory is written batch by batch and read back in
batches.  Writing goes to a temporary name renamed on ``close``: an interrupted run never
leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EventFileError, SpecError, SurrogateError
from ..events import Events
from ..layouts import get_layout
from ..memory import out_of_memory
from ..spec import EventSpec
from .atomic import atomic_path
from .metadata import decode, encode

CHUNK_BYTES = 256 * 1024
#: what h5py raises on a damaged file (a broken object header is a KeyError, a bad
#: datatype a ValueError or TypeError): a reader turns each into one EventFileError
H5_DAMAGE = (OSError, KeyError, RuntimeError, ValueError, TypeError)
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


def _datasets(spec: EventSpec) -> dict[str, tuple[tuple[int, ...], str]]:
    """Dataset name -> (per-event shape, dtype) for the spec's layout."""
    return get_layout(spec).datasets(spec)


def chunk_rows(shape: tuple[int, ...], dtype: str, align: int | None = None) -> int:
    """Events per HDF5 chunk: ~``CHUNK_BYTES`` of them (at most 65536); with ``align``,
    the largest number near that which divides ``align``, so files of ``align`` events
    each have whole chunks and can be joined chunk by chunk, without recompressing
    (:meth:`EventWriter.append_file`).  A divisor much smaller than the ideal would make
    tiny chunks: then alignment is given up."""
    per_event = max(1, int(np.prod(shape)) * np.dtype(dtype).itemsize)
    ideal = max(1, min(65536, CHUNK_BYTES // per_event))
    if align is None:
        return ideal
    best = next(d for d in range(min(ideal, int(align)), 0, -1) if align % d == 0)
    return best if 4 * best >= ideal else ideal


class EventWriter:
    """Append events to a new HDF5 file; the file appears under its name on ``close``.

    Use as a context manager: an exception inside the block removes the temporary file.
    ``align``: see :func:`chunk_rows`.

    The datasets stay open while the file is written: a dataset closed after each batch
    flushes its chunks from its destructor, where h5py only prints a failure (a full
    disk), so the batch would seem written.  Open, a failed write raises where it
    happens, or at the latest on ``close``; the disk's being full becomes one
    :class:`~surrogate.io.atomic.DiskFullError` naming the output.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        spec: EventSpec,
        metadata: Mapping[str, Any],
        *,
        align: int | None = None,
    ):
        import h5py

        self.path = Path(path)
        self.spec = spec
        self.metadata = dict(metadata)
        self.n = 0
        self._file: Any = None
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        try:
            self._file = h5py.File(tmp, "w")
            self._ds = {
                name: self._file.create_dataset(
                    name,
                    shape=(0, *shape),
                    maxshape=(None, *shape),
                    dtype=dtype,
                    chunks=(chunk_rows(shape, dtype, align), *shape),
                    **COMPRESSION,
                )
                for name, (shape, dtype) in _datasets(spec).items()
            }
        except BaseException:
            self.abort(sys.exc_info())
            raise

    def write(self, events: Events) -> None:
        """Append a batch (checked against the spec first, so a bad batch writes nothing)."""
        events = events.check(self.spec, what=f"events for {self.path.name}")
        m = len(events)
        for name, (shape, _) in _datasets(self.spec).items():
            data = events[name]
            ds = self._ds[name]
            ds.resize(self.n + m, axis=0)
            ds[self.n :] = data.reshape(m, *shape)
        self.n += m

    def append_file(self, path: str | os.PathLike[str], batch: int = 65536) -> None:
        """Append every event of the event file ``path`` (of this spec).

        Where the two files' chunks line up (same chunk shape, filters and this file's
        length a whole number of chunks: files written with the same ``align``), the
        compressed chunks are copied as they are, which costs what reading the bytes
        costs; otherwise the events are read and written again.
        """
        with EventFile(path, self.spec) as source:
            if not self._chunks_line_up(source):
                for events in source.batches(batch):
                    self.write(events)
                return
            m = len(source)
            for name in _datasets(self.spec):
                src, dst = source._h5()[name], self._ds[name]
                dst.resize(self.n + m, axis=0)
                for chunk in range(src.id.get_num_chunks()):
                    info = src.id.get_chunk_info(chunk)
                    _, data = src.id.read_direct_chunk(info.chunk_offset)
                    offset = (self.n + info.chunk_offset[0], *info.chunk_offset[1:])
                    dst.id.write_direct_chunk(offset, data, info.filter_mask)
            self.n += m

    def _chunks_line_up(self, source: EventFile) -> bool:
        for name in _datasets(self.spec):
            src, dst = source._h5()[name], self._ds[name]
            same = src.chunks == dst.chunks and src.dtype == dst.dtype
            same = same and src.compression == dst.compression and src.shuffle == dst.shuffle
            if not same or self.n % dst.chunks[0]:
                return False
        return True

    def close(self) -> Path:
        """Write the metadata, close the file and give it its name (on a failure the
        temporary file is removed, as :meth:`abort` does)."""
        try:
            self.metadata["n_events"] = self.n
            for key, value in encode(self.metadata).items():
                self._file.attrs[key] = value
            self._file.flush()  # what can fail, while the handles are whole
            self._ds = {}
            file, self._file = self._file, None  # a failed close leaves nothing to discard
            file.close()
        except BaseException:
            self.abort(sys.exc_info())
            raise
        self._atomic.__exit__(None, None, None)
        return self.path

    def abort(self, exc_info: tuple[Any, Any, Any]) -> None:
        """Close and delete the temporary file; the target path is left untouched.  A
        failure for want of space is raised as a DiskFullError instead of ``exc_info``."""
        self._discard()
        self._atomic.__exit__(*exc_info)

    def _discard(self) -> None:
        """Close the file without writing what HDF5 still holds: its descriptor is
        pointed at ``/dev/null`` first.  After a failed write (a full disk) HDF5 would
        try those writes again on close, fail again and leave handles that crash the
        interpreter when they are freed; the file is being deleted anyway."""
        if self._file is None or not self._file.id.valid:
            return
        with contextlib.suppress(Exception):
            fd = self._file.id.get_vfd_handle()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
        self._ds = {}
        with contextlib.suppress(Exception):
            self._file.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if exc_info[0] is None:
            self.close()
        else:
            self.abort(exc_info)


def write_virtual(
    path: str | os.PathLike[str],
    spec: EventSpec,
    metadata: Mapping[str, Any],
    parts: list[str | os.PathLike[str]],
) -> Path:
    """A file of HDF5 virtual datasets that concatenate the event files ``parts`` (each
    checked against ``spec``): no event is copied, but the output reads its events from
    the parts, so it is only readable where they are.  The parts are named by paths
    relative to the output's directory (HDF5 looks there), so the two move together.
    """
    import h5py

    path = Path(path)
    lengths = []
    for part in parts:
        with EventFile(part, spec) as reader:
            lengths.append(len(reader))
    n = sum(lengths)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, (shape, dtype) in _datasets(spec).items():
            layout = h5py.VirtualLayout(shape=(n, *shape), dtype=dtype)
            at = 0
            for part, m in zip(parts, lengths, strict=True):
                rel = os.path.relpath(Path(part).resolve(), path.resolve().parent)
                layout[at : at + m] = h5py.VirtualSource(rel, name, shape=(m, *shape))
                at += m
            f.create_virtual_dataset(name, layout)
        for key, value in encode({**metadata, "n_events": n}).items():
            f.attrs[key] = value
    return path


def write_events(path: str | os.PathLike[str], events: Events, metadata: Mapping[str, Any]) -> Path:
    """Write ``events`` in one go (see :class:`EventWriter`)."""
    if events.spec is None:
        raise SpecError("events without a spec cannot be written")
    with EventWriter(path, events.spec, metadata) as writer:
        for batch in events.batches(65536):
            writer.write(batch)
    return Path(path)


def _read_failed(path: Path, exc: BaseException) -> SurrogateError:
    """The error of a read that failed: HDF5 could not allocate a chunk (the process is
    out of memory, which no damage explains), or the file is damaged."""
    return out_of_memory(exc) or EventFileError(f"{path}: read failed, file truncated? ({exc})")


def numeric_dataset(f: Any, name: str, path: Path) -> Any:
    """``f[name]``, refused unless it is a dataset of numbers whose data the file holds.

    A chunked dataset stores only the chunks written to it: one with fewer than its
    shape needs was never filled (an interrupted write, or a header claiming 2**40
    events), and reading it would make up events from the fill value, or take forever.
    """
    import h5py

    ds = f[name]
    if not isinstance(ds, h5py.Dataset):
        raise EventFileError(f"{path}: {name!r} is a group, not a dataset")
    if ds.shape is None:
        raise EventFileError(f"{path}: dataset {name!r} is empty (it has no shape)")
    if ds.dtype.kind not in "biuf":
        raise EventFileError(f"{path}: dataset {name!r} holds {ds.dtype}, not numbers")
    if ds.chunks is not None and ds.size and not ds.is_virtual:
        needed = math.prod(-(-s // c) for s, c in zip(ds.shape, ds.chunks, strict=True))
        stored = ds.id.get_num_chunks()
        if stored < needed:
            raise EventFileError(
                f"{path}: dataset {name!r} of shape {ds.shape} stores {stored} of its "
                f"{needed} chunks: the file is incomplete"
            )
    return ds


class EventFile:
    """Read an HDF5 event file lazily: ``len``, slicing (``f[a:b]`` -> Events), ``batches``.

    Files written by this toolkit carry their spec; foreign files (the CaloChallenge's,
    Geant4 exports) need ``spec``.  The HDF5 handle is opened on demand, so the reader can
    be pickled into data-loader workers.
    """

    def __init__(self, path: str | os.PathLike[str], spec: EventSpec | None = None):
        import h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise EventFileError(f"{self.path}: no such file")
        if not h5py.is_hdf5(self.path):
            raise EventFileError(f"{self.path}: not an HDF5 file")
        self._file: Any = None
        try:
            f = self._h5()
            attrs = dict(f.attrs)
        except H5_DAMAGE as exc:
            raise EventFileError(f"{self.path}: unreadable HDF5 file, truncated? ({exc})") from exc
        self.metadata: dict[str, Any] = {}
        if "surrogate_format_version" in attrs:
            self.metadata = decode(attrs, str(self.path))
            own = EventSpec.from_dict(self.metadata["spec"])
            if spec is not None and not spec.compatible_with(own):
                raise SpecError(
                    f"{self.path}: file spec differs from the one given:\n"
                    f"{own.describe()}\nexpected:\n{spec.describe()}"
                )
            spec = spec or own
        elif spec is None:
            raise EventFileError(
                f"{self.path}: not written by surrogate (no metadata): give the event spec, "
                "e.g. --simulator NAME"
            )
        self.spec: EventSpec = spec
        try:
            self._n = self._check_layout()
        except SurrogateError:
            raise
        except H5_DAMAGE as exc:
            raise EventFileError(f"{self.path}: damaged HDF5 file ({exc})") from exc

    def _h5(self) -> Any:
        import h5py

        if self._file is None:
            self._file = h5py.File(self.path, "r")
        return self._file

    def _check_layout(self) -> int:
        f = self._h5()
        lengths = set()
        for name, (shape, _) in _datasets(self.spec).items():
            if name not in f:
                raise EventFileError(
                    f"{self.path}: missing dataset {name!r} "
                    f"(has {', '.join(sorted(f.keys())) or 'none'})"
                )
            ds = numeric_dataset(f, name, self.path)
            ok = ds.shape[1:] == shape or (shape == () and ds.shape[1:] == (1,))
            if not ok:
                raise EventFileError(
                    f"{self.path}: dataset {name!r} has shape {ds.shape}, "
                    f"expected (N, {', '.join(map(str, shape))})"
                )
            lengths.add(ds.shape[0])
        if len(lengths) != 1:
            raise EventFileError(f"{self.path}: datasets differ in length {sorted(lengths)}")
        n = lengths.pop()
        if self.metadata and self.metadata["n_events"] != n:
            raise EventFileError(
                f"{self.path}: holds {n} events, metadata says {self.metadata['n_events']}"
            )
        return n

    @property
    def metadata_summary(self) -> dict[str, Any]:
        """The provenance a model records about its training file."""
        keys = ("producer", "producer_version", "seed", "options", "created")
        return {f"data_{k}": self.metadata[k] for k in keys if k in self.metadata}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, key: slice) -> Events:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("event files are read by contiguous slices: f[start:stop]")
        f = self._h5()
        try:
            fields = {fl.name: f[fl.name][key] for fl in self.spec.fields}
            conds = {c.name: f[c.name][key].reshape(-1) for c in self.spec.conditions}
        except H5_DAMAGE as exc:
            raise _read_failed(self.path, exc) from exc
        start = key.indices(self._n)[0]
        return Events.checked(fields, conds, self.spec, what=str(self.path), first_event=start)

    def read_conditions(self, key: slice) -> dict[str, np.ndarray]:
        """The conditions of ``self[key]``, checked, without reading the fields (what
        recording a model's training conditions or ``--conditions-from`` needs)."""
        start, stop, _ = key.indices(self._n)
        try:
            conds = {
                c.name: self._h5()[c.name][start:stop].reshape(-1) for c in self.spec.conditions
            }
        except H5_DAMAGE as exc:
            raise _read_failed(self.path, exc) from exc
        return self.spec.check_conditions(
            conds, stop - start, what=str(self.path), first_event=start
        )

    def batches(self, size: int) -> Iterator[Events]:
        for start in range(0, self._n, size):
            yield self[start : start + size]

    def read(self) -> Events:
        return self[:]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> EventFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None}
