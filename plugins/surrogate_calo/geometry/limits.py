"""What a binning or detector file may claim, and how such a file is read: a damaged or
hostile file must not make the plugin allocate what it merely claims (a binning of
10^12 bins, a detector of 10^9 cells) nor read a file without end (``/dev/zero``, a
FIFO, a multi-gigabyte file named by mistake)."""

from __future__ import annotations

from pathlib import Path

from .layers import GeometryError

#: the most voxels a geometry may have: 400 times dataset 3's 40 500, and still under
#: 1 GiB for the per-voxel coordinates (five float64 arrays) a geometry computes
MAX_VOXELS = 2**24
#: the largest binning or detector file read: some 150 times dataset 3's binning XML
MAX_FILE_BYTES = 2**20
#: the longest quotation of a file's value in an error message
SHOWN_CHARS = 60


def read_limited(path: Path, where: str) -> bytes:
    """The bytes of the regular file ``path``, refused beyond :data:`MAX_FILE_BYTES`
    (at most that many plus one are read)."""
    try:
        if not path.exists():
            raise GeometryError(f"{where}: cannot be read (no such file)")
        if not path.is_file():  # a folder, /dev/zero, a FIFO that would never end
            raise GeometryError(f"{where}: not a regular file")
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise GeometryError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise GeometryError(
            f"{where}: more than {MAX_FILE_BYTES} bytes, larger than a binning or detector file is"
        )
    return data


def check_voxel_count(n_voxels: int, where: str) -> None:
    """Refuse a geometry of more than :data:`MAX_VOXELS` voxels, from the count alone."""
    if n_voxels > MAX_VOXELS:
        raise GeometryError(
            f"{where}: {n_voxels} voxels, more than the {MAX_VOXELS} a geometry may have"
        )


def shown(value: object) -> str:
    """``repr(value)``, cut to :data:`SHOWN_CHARS` for an error message: a file's value
    may be a megabyte long."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."
