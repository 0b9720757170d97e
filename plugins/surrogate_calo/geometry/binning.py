"""The CaloChallenge binning XML (``<Bins><Bin name pid><Layer id r_edges n_bin_alpha/>``),
read with the checks the challenge's own reader does not make.

The stdlib parser resolves no external entity but expands internal ones (expat caps the
amplification since 2.4; older ones do not): a binning has no DOCTYPE, so one is refused
where it starts, before any entity is declared.  Files are read up to a size
(:mod:`.limits`), and a binning of more voxels than a geometry may have is refused from
its counts, before anything of that size is built.
"""

from __future__ import annotations

import itertools
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from .layers import GeometryError, PolarLayer
from .limits import check_voxel_count, read_limited, shown


@dataclass(frozen=True)
class Binning:
    """What a CaloChallenge binning XML holds for one particle."""

    particle: str
    pid: int | None
    layers: tuple[PolarLayer, ...]
    eta_min: float | None = None
    eta_max: float | None = None
    source: str = ""


def _floats(text: str, what: str) -> list[float]:
    try:
        values = [float(s) for s in text.split(",") if s.strip() != ""]
    except ValueError:
        raise GeometryError(
            f"{what}: not a comma-separated list of numbers: {shown(text)}"
        ) from None
    if not values:
        raise GeometryError(f"{what}: empty list")
    if not all(math.isfinite(v) for v in values):
        raise GeometryError(f"{what}: non-finite value in {shown(text)}")
    return values


def parse_binning(
    source: str | os.PathLike[str], particle: str | None = None, *, text: str | None = None
) -> Binning:
    """Read a CaloChallenge binning XML (from ``source``, or from ``text`` with ``source``
    naming it in errors).

    ``particle`` picks the ``<Bin name=...>`` (the only one when ``None``).  Layer ids must
    be 0, 1, 2... in file order: the challenge's code indexes layers by position, so a
    file that numbers them otherwise would be read inconsistently.
    """
    where = f"binning file {source}"
    chosen = _chosen_bin(_root(source, text, where), particle, where)
    name = chosen.attrib.get("name", "")
    pid = _pid(chosen, where)
    elements = [e for e in chosen if e.tag == "Layer"]
    layers = [_layer(pos, elem, where) for pos, elem in enumerate(elements)]
    if not layers:
        raise GeometryError(f"{where}: <Bin name={shown(name)}> has no <Layer>")
    n_voxels = sum(layer.n_voxels for layer in layers)
    if n_voxels == 0:
        raise GeometryError(f"{where}: every layer is empty (r_edges='0')")
    check_voxel_count(n_voxels, where)
    eta = [_optional_float(chosen, key, where) for key in ("etaMin", "etaMax")]
    return Binning(name, pid, tuple(layers), *eta, str(source))


def _optional_float(elem: ET.Element, key: str, where: str) -> float | None:
    if key not in elem.attrib:
        return None
    values = _floats(elem.attrib[key], f"{where}, {key}")
    if len(values) != 1:
        raise GeometryError(f"{where}, {key}: one number expected, not {shown(elem.attrib[key])}")
    return values[0]


class _RefuseDoctype(ET.TreeBuilder):
    """A tree builder that raises at the start of a DOCTYPE: that is where entities are
    declared (a "billion laughs" expansion, an external entity naming a local file or
    URL), and a binning needs none."""

    def __init__(self, where: str) -> None:
        super().__init__()
        self._where = where

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise GeometryError(f"{self._where}: a DOCTYPE (entity declarations) is refused")


def _root(source: str | os.PathLike[str], text: str | None, where: str) -> ET.Element:
    """The ``<Bins>`` element of the file (or ``text``)."""
    data = text if text is not None else read_limited(Path(source), where)
    parser = ET.XMLParser(target=_RefuseDoctype(where))
    try:
        parser.feed(data)
        root = parser.close()
    except GeometryError:
        raise
    except (ET.ParseError, ValueError) as exc:  # ValueError: a str declaring UTF-16
        raise GeometryError(f"{where}: not valid XML ({exc})") from None
    if root.tag != "Bins":
        raise GeometryError(f"{where}: root element is <{shown(root.tag)}>, expected <Bins>")
    return root


def _chosen_bin(root: ET.Element, particle: str | None, where: str) -> ET.Element:
    """The ``<Bin>`` of ``particle``, or the only one."""
    bins = [b for b in root if b.tag == "Bin"]
    if not bins:
        raise GeometryError(f"{where}: no <Bin> element")
    names = [b.attrib.get("name", "") for b in bins]
    if particle is None:
        if len(bins) > 1:
            raise GeometryError(f"{where}: several particles ({', '.join(names)}): name one")
        return bins[0]
    matches = [b for b in bins if b.attrib.get("name") == particle]
    if not matches:
        raise GeometryError(
            f"{where}: no <Bin name={particle!r}> (has {', '.join(map(repr, names))})"
        )
    return matches[0]


def _pid(chosen: ET.Element, where: str) -> int | None:
    pid = chosen.attrib.get("pid")
    try:
        return None if pid is None else int(pid)
    except ValueError:  # also a number of more digits than int() takes
        raise GeometryError(f"{where}: pid {shown(pid)} is not an integer") from None


def _layer(pos: int, elem: ET.Element, where: str) -> PolarLayer:
    """The ``pos``-th ``<Layer>`` of a ``<Bin>``, checked."""
    missing = [k for k in ("id", "r_edges", "n_bin_alpha") if k not in elem.attrib]
    if missing:
        raise GeometryError(f"{where}: layer #{pos} lacks attribute {missing[0]!r}")
    what = f"{where}, layer id={shown(elem.attrib['id'])}"
    try:
        lid = int(elem.attrib["id"])
        n_alpha = int(elem.attrib["n_bin_alpha"])
    except ValueError:
        raise GeometryError(f"{what}: id and n_bin_alpha must be integers") from None
    if lid != pos:
        raise GeometryError(
            f"{where}: layer #{pos} has id {lid}; ids must be 0, 1, 2... in file order "
            "(the challenge indexes layers by position)"
        )
    if n_alpha < 1:
        raise GeometryError(f"{what}: n_bin_alpha must be >= 1, not {shown(n_alpha)}")
    check_voxel_count(n_alpha, f"{what}: n_bin_alpha")
    edges = _floats(elem.attrib["r_edges"], f"{what} r_edges")
    if edges[0] != 0.0:
        raise GeometryError(f"{what}: r_edges must start at 0, not {edges[0]:g}")
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise GeometryError(f"{what}: r_edges must increase strictly: {shown(edges)}")
    return PolarLayer(lid, tuple(edges) if len(edges) > 1 else (), n_alpha)
