"""Write-then-rename, so an interrupted write never leaves a file that looks complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; on success rename it onto ``path``.

    On any exception (including KeyboardInterrupt) the temporary file or directory is
    removed and ``path`` is left as it was.  The temporary name starts with ``.`` and
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

    from ..errors import SurrogateError

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
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}")
        fh.flush()
        _remove_stale_temporaries(path)
        yield lock
    finally:
        lock.unlink(missing_ok=True)  # before unlocking: no one can take a lock on it after
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
