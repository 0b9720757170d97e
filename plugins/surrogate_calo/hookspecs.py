"""The calorimeter plugin's own hooks: how a detector package adds geometries and materials.

Declared by :mod:`surrogate_calo.plugin` through ``add_hookspecs``, so a third-party
package describes its detector in a YAML file and registers it with the same
``register(name, factory)`` callback as the core's hooks; it imports no registry of this
plugin, and ``calo.gflash``, the file readers, the metrics and ``surrogate plugins`` all
see it::

    # my_detector/plugin.py
    from pathlib import Path

    from surrogate import hookimpl

    @hookimpl
    def register_calo_geometries(register):
        register("mydet", Path(__file__).with_name("mydet.yaml"))

    @hookimpl
    def register_calo_materials(register):
        register("Steel", "my_detector.materials:STEEL")   # a Material, imported on first use

This module imports nothing but the core's hook markers: it is read whenever plugins are
listed.
"""

from __future__ import annotations

from surrogate.hookspecs import Register, registration_hook

GEOMETRY_KIND = "calo.geometry"
MATERIAL_KIND = "calo.material"
#: Geometry names: lower-case letters, digits, ``-`` and ``_``, dotted parts allowed (the
#: CaloChallenge's ``1-photons`` and ``2``, ``calogan``, ``mydet.v2``).
GEOMETRY_NAMES = r"[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*"
#: Material names: as chemists and detector papers write them (``Pb``, ``PbWO4``, ``LAr``).
MATERIAL_NAMES = r"[A-Za-z][A-Za-z0-9_-]*"


@registration_hook(GEOMETRY_KIND, "calorimeter geometries", names=GEOMETRY_NAMES, example="mydet")
def register_calo_geometries(register: Register) -> None:
    """Register calorimeter geometries, found by name by ``get_geometry`` and every
    ``geometry=`` option (``calo.gflash``, ``read_challenge``, the metrics).

    Call ``register(name, factory)`` where ``factory`` is one of

    - a :class:`pathlib.Path` to a detector file (YAML, see
      :func:`surrogate_calo.geometry.load_geometry`), read on first use;
    - a :class:`surrogate_calo.Geometry`;
    - a callable taking no argument and returning a ``Geometry`` (called once);
    - an import path ``"package.module:attribute"`` to any of the above, imported on first
      use.  A plain string is always an import path: give file paths as ``Path`` objects.

    The geometry's own ``name`` must be ``name``: files written with it record the name
    (``geometry: mydet``) and are read back by it, so a mismatch is an error when the name
    is used.  The geometry is built on first use, once, and shared.

    Conflicts: the built-in names (``1-photons``, ``1-pions``, ``2``, ``3``, ``calogan``,
    ``test``) are registered by this plugin like any other, so registering one of them, or
    a name another package registers, makes that name an error naming both packages when
    it is used (block one with ``SURROGATE_DISABLED_PLUGINS``).  The spellings ``ds2``,
    ``dataset_2``... stand for the built-ins: registering one is an error when it is used.
    """


@registration_hook(MATERIAL_KIND, "calorimeter materials", names=MATERIAL_NAMES, example="PbWO4")
def register_calo_materials(register: Register) -> None:
    """Register materials, which detector files then name in their stacks
    (``absorber: {material: Steel, thickness_mm: 2}``).

    Call ``register(name, factory)`` where ``factory`` is a
    :class:`surrogate_calo.Material` (``compound(...)`` builds one from mass fractions), a
    callable taking no argument and returning one (called once), or the import path
    ``"package.module:attribute"`` of either.  The material's ``name`` must be ``name``,
    since stacks describe themselves by it.  A detector file may instead give a material
    inline as ``{name, z, a, density, x0}``, with nothing registered.

    Conflicts: the built-ins (``W``, ``Si``, ``Pb``, ``LAr``, ``Fe``, ``Cu``, ``PbWO4``,
    ``Scint``) are registered by this plugin; a name registered by two packages is an error
    naming both when a stack uses it.
    """
