"""Write-then-rename, so an interrupted write never leaves a file that looks complete.

A write that fails because the disk is full (``ENOSPC``), a quota is reached (``EDQUOT``)
or the process's file size limit is (``EFBIG``, ``ulimit -f``) becomes one
:class:`DiskFullError` naming the output, whichever library was writing: h5py puts the
errno in its message, torch's zip writer loses it (then the file system is asked).
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import SurrogateError

#: errno -> what the message says
NO_SPACE = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file size limit reached (ulimit -f)",
}
#: a file system with less free than this after a failed write is taken to be full
FULL_BELOW = 1 << 20


class DiskFullError(SurrogateError):
    """Writing ``path`` failed for want of space (``why``); the partial output was
    removed.  ``note``: what a caller adds (:meth:`noted`: the shards that are kept)."""

    def __init__(self, path: str | os.PathLike[str], why: str, note: str = "") -> None:
        super().__init__(path, why, note)  # the arguments again: it pickles to a pool
        self.path, self.why, self.note = Path(path), why, note

    def __str__(self) -> str:
        return (
            f"{self.path}: cannot write it: {self.why} (nothing is left under that name; "
            f"run the command again when there is room){self.note}"
        )

    def noted(self, note: str) -> DiskFullError:
        return DiskFullError(self.path, self.why, self.note + note)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _errno_of(exc: BaseException) -> int | None:
    """The space errno of ``exc``: its own, or in its message (h5py writes HDF5's
    ``errno = 28, error message = 'No space left on device'``, safetensors
    ``(os error 28)``)."""
    own = getattr(exc, "errno", None)
    if own in NO_SPACE:
        return int(own)
    text = str(exc)
    for code in NO_SPACE:
        if f"errno = {code}," in text or f"os error {code})" in text:
            return code
        if os.strerror(code).lower() in text.lower():
            return code
    return None


def _space_left(where: Path) -> tuple[float, float]:
    """(bytes free on the file system of ``where``, bytes the file ``where`` may still grow
    under ``RLIMIT_FSIZE``); ``inf`` where unknown."""
    free = size_left = float("inf")
    folder = where if where.is_dir() else where.parent
    with contextlib.suppress(OSError):
        st = os.statvfs(folder)
        free = st.f_bavail * st.f_frsize
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if soft != resource.RLIM_INFINITY:
        with contextlib.suppress(OSError):
            size_left = soft - max((p.stat().st_size for p in _files(where)), default=0)
    return free, size_left


def _files(where: Path) -> Iterator[Path]:
    if where.is_dir():
        yield from (p for p in where.rglob("*") if p.is_file())
    elif where.is_file():
        yield where


def space_problem(exc: BaseException, written: str | os.PathLike[str]) -> str | None:
    """Why the write of ``written`` (a file or a folder being filled) failed, when it is
    for want of space, else ``None``.  A writer that loses the errno (torch's zip writer:
    "unexpected pos") is judged by the file system: full, or the file at its size limit.
    """
    if isinstance(exc, SurrogateError):
        return None
    for e in _chain(exc):
        code = _errno_of(e)
        if code is not None:
            return NO_SPACE[code]
    if not isinstance(exc, (OSError, RuntimeError)) or getattr(exc, "errno", None):
        return None  # another errno (EACCES...) says what it is
    free, size_left = _space_left(Path(written))
    if free < FULL_BELOW:
        return NO_SPACE[errno.ENOSPC]
    if size_left <= 0:
        return NO_SPACE[errno.EFBIG]
    return None


@contextlib.contextmanager
def space_errors(path: str | os.PathLike[str], written: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a failure for want of space while ``written`` is filled into one
    :class:`DiskFullError` naming ``path``, the output (a DiskFullError about a file
    inside ``written``, a temporary folder, is renamed to the same file under ``path``)."""
    try:
        yield
    except DiskFullError as exc:
        if not exc.path.is_relative_to(written):
            raise
        inner = exc.path.relative_to(written)
        raise DiskFullError(Path(path) / inner, exc.why, exc.note) from None
    except Exception as exc:
        why = space_problem(exc, written)
        if why is None:
            raise
        raise DiskFullError(path, why) from exc


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; on success rename it onto ``path``.

    On any exception (including KeyboardInterrupt) the temporary file or directory is
    removed and ``path`` is left as it was; a failure for want of space becomes a
    :class:`DiskFullError` naming ``path``.  The temporary name starts with ``.`` and
    contains ``.tmp-`` so it is recognisable and never mistaken for output.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        with space_errors(path, tmp):
            yield tmp
        # mkstemp/mkdtemp make private (0600/0700) entries, and some writers recreate the
        # file: give the output the permissions any newly created file would have.
        tmp.chmod((0o777 if directory else 0o666) & ~_umask())
        if directory and path.exists():
            raise FileExistsError(f"{path} appeared while it was being written")
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _remove_stale_temporaries(path: Path) -> None:
    """The temporary files of earlier writes of ``path`` that were killed before they
    could clean up (only the lock's holder can know that no one is writing them)."""
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def _take(lock: Path, path: Path) -> Any:
    """The open, ``flock``-ed lock file, or a one-line error naming the holder.

    The lock file is removed on release, so a run that opened it just before could lock
    a file no longer in the directory: it checks that the file it locked is still the
    one at ``lock`` and tries again otherwise."""
    import fcntl

    while True:
        fh = open(lock, "a+", encoding="utf-8")  # noqa: SIM115 - held for the caller's block
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise SurrogateError(
                f"{path} is being written by another run ({holder}); wait for it to end "
                "or choose another output"
            ) from None
        try:
            if os.stat(lock).st_ino == os.fstat(fh.fileno()).st_ino:
                return fh
        except FileNotFoundError:
            pass
        fh.close()


@contextlib.contextmanager
def output_lock(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold an exclusive lock on writing ``path`` for the block, or fail at once.

    Two runs writing one output would otherwise race: each renames a complete file onto
    the path, or mixes its shards with the other's.  The lock is an advisory ``flock`` on
    the hidden sibling ``.NAME.lock`` (removed when the block ends), which the kernel
    releases when the process ends, however it ends, so a run killed with ``kill -9``
    leaves at most an unlocked, hidden file the next run reuses.  (Where ``fcntl`` does
    not exist, on Windows, no lock is taken.  ``flock`` on NFS is only as good as the
    server's lock manager.)  Holding the lock, it removes the temporary files that killed
    writes of ``path`` left behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.parent / f".{path.name}.lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield lock
        return
    fh = _take(lock, path)
    try:
        _remove_stale_temporaries(path)  # first: what they hold is room for the lock
        fh.seek(0)
        fh.truncate()
        with space_errors(path, lock):
            fh.write(f"pid {os.getpid()} on {socket.gethostname()}")
            fh.flush()
        yield lock
    finally:
        lock.unlink(missing_ok=True)  # before unlocking: no one can take a lock on it after
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
