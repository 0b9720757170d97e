"""The hooks a plugin implements: the plugin author's manual.

A plugin is a module (or object) with functions marked ``@surrogate.hookimpl``, found
through the entry-point group ``surrogate``::

    # my_detector/plugin.py
    from surrogate import hookimpl

    @hookimpl
    def register_simulators(register):
        register("mydet.showers", "my_detector.simulator:MySimulator")

    # pyproject.toml
    [project.entry-points.surrogate]
    mydet = "my_detector.plugin"

Every registration hook receives one argument, a ``register(name, factory)`` callback (the
llm pattern): plugins only call ``register``; the toolkit owns validation, name conflicts
and laziness, and plugins never see the registry.  A ``factory`` may be the object itself
or an import path ``"package.module:attribute"`` resolved on first use, so listing
plugins never imports torch.  Names are dotted and lower-case (``toy.gmm2d``,
``calo.gflash``, ``flow``); a domain hook may declare its own naming rule.  Two plugins
registering one name is an error naming both packages, raised when the name is used.

Errors: a factory or hook that gets bad input raises a :class:`surrogate.SurrogateError`
subclass (``SpecError`` for bad options or data, ``PluginError`` for plugin trouble); the
command line prints those as one line naming the plugin.  Any other exception is treated
as a bug and shown with its traceback.

A plugin may declare hooks of its own for its domain (the pytest pattern): implement
:func:`add_hookspecs` and call ``add(module)`` with a module of functions decorated with
:func:`registration_hook`.  Other plugins then implement those hooks like the core ones,
and the declaring plugin reads what was registered with
``surrogate.registry.get_registry().get(kind, name)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

import pluggy

hookspec = pluggy.HookspecMarker("surrogate")
hookimpl = pluggy.HookimplMarker("surrogate")

Register = Callable[[str, Any], None]
AddHookspecs = Callable[[ModuleType | type], None]
F = TypeVar("F", bound=Callable[..., Any])

#: Core names: dotted, lower-case, starting with a letter.
NAME_PATTERN = r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*"


def registration_hook(
    kind: str, label: str, *, names: str = NAME_PATTERN, example: str = ""
) -> Callable[[F], F]:
    """Mark ``fn(register)`` as a hookspec that registers things of ``kind``.

    ``label`` is the plural shown by ``surrogate plugins`` ("simulators"); ``names`` is
    the regular expression a registered name must match in full and ``example`` a valid
    name quoted in the error when one does not.
    """

    def mark(fn: F) -> F:
        fn.surrogate_kind = (kind, label, re.compile(names), example)  # type: ignore[attr-defined]
        return hookspec(fn)

    return mark


@hookspec
def add_hookspecs(add: AddHookspecs) -> None:
    """Declare hooks of a domain, before any registration hook runs.

    Call ``add(module)`` with a module (or class) whose functions are decorated with
    :func:`registration_hook`.  The calorimeter plugin declares
    ``register_calo_geometries`` and ``register_calo_materials`` this way, so a
    third-party detector package registers a geometry without importing private
    registries.  A plugin implementing a hook that no installed plugin declares is
    reported as broken by ``surrogate plugins``.
    """


@registration_hook("simulator", "simulators", example="mydet.showers")
def register_simulators(register: Register) -> None:
    """Register reference simulators.

    Call ``register(name, factory)`` once per simulator, where ``factory(**options)``
    returns a :class:`surrogate.Simulator`.  Options come from ``--option KEY=VALUE`` on the
    command line (a geometry, a particle); the toolkit refuses options the factory's
    signature does not take, naming them, and ``surrogate info NAME`` lists them.
    """


@registration_hook("surrogate", "surrogates", example="flow")
def register_surrogates(register: Register) -> None:
    """Register generator families.

    Call ``register(name, cls)`` where ``cls`` is a :class:`surrogate.Surrogate` subclass
    (or its import path) whose ``name`` attribute equals ``name``; ``cls(**options)`` builds
    an untrained model and ``surrogate.load(path)`` a trained one.  A family marked
    ``baseline = True`` is included by comparisons as the floor learned models must beat.
    """


@registration_hook("metric", "metrics", example="wasserstein1")
def register_metrics(register: Register) -> None:
    """Register validation metrics for the validation harness.

    Call ``register(name, metric)`` where ``metric`` follows
    :class:`surrogate.metrics.Metric` (or is its import path).  ``Metric.inputs`` says what
    the metric reads (``"observables"``: one histogram per observable; ``"features"``: a
    feature matrix; ``"events"``: the raw events); its results are keyed ``name`` or, for a
    metric returning several, ``name.key``.
    """


@registration_hook("observables", "observable sets", example="mydet.observables")
def register_observables(register: Register) -> None:
    """Register observable sets: the physics quantities metrics are computed on.

    Call ``register(name, cls)`` with a :class:`surrogate.metrics.ObservableSet` subclass.
    The harness binds every set to the data (``bind(spec, context)`` returns ``None`` when
    the set does not apply); a bound set with ``replaces_generic = True`` replaces the
    core's generic observables (field components or per-field summaries), because the
    domain knows better which quantities matter.
    """


@registration_hook("preprocessing", "preprocessing steps", example="mydet.layer_sums")
def register_preprocessing_steps(register: Register) -> None:
    """Register preprocessing step types for the chains saved inside models.

    Call ``register(type, cls)`` with a :class:`surrogate.preprocessing.Step` subclass whose
    ``type`` attribute equals ``type``.  A saved model names its steps by type, so the step
    is found in a fresh interpreter through this hook, with no import of the plugin.
    """


@registration_hook("split", "event splits", example="mydet.layers")
def register_splits(register: Register) -> None:
    """Register event splits for two-stage models.

    Call ``register(type, cls)`` with a :class:`surrogate.splits.Split` subclass whose
    ``type`` attribute equals ``type``.  A split maps an event invertibly onto a
    low-dimensional summary (a calorimeter's layer energies) and the rest (the voxels
    normalised by them), with the exact log-determinant of the map, so that a two-stage
    model learns the summary first and the rest given it (CaloFlow, arXiv:2106.05285);
    a split with ``bijective = False`` keeps the whole event as the rest and its inverse
    imposes the summary on it (such a model has no density).  A simulator recommends
    one through ``Simulator.split()``; a saved model names its split by type, so it is
    found in a fresh interpreter through this hook.
    """


@registration_hook("layout", "file layouts", example="mydet.columns")
def register_layouts(register: Register) -> None:
    """Register HDF5 file layouts: how an event spec's arrays are stored as datasets.

    Call ``register(name, layout)`` with a :class:`surrogate.layouts.Layout`.  A spec names its
    layout (``EventSpec(layout=...)``); ``default`` (one dataset per field and per
    condition) is the core's.  A domain registers the layout its community's tools read.
    """


@registration_hook("command", "commands", example="compare")
def register_commands(register: Register) -> None:
    """Register command-line subcommands.

    Call ``register(name, add_parser)`` where ``add_parser(subparsers)`` adds the
    subcommand to ``surrogate``'s argparse subparsers and sets ``run=function(args)``.  The
    function should parse arguments and call one library function, nothing more.
    """


def kind_of(spec: Callable[..., Any]) -> tuple[str, str, re.Pattern[str], str] | None:
    """``(kind, label, name pattern, example)`` of a registration hookspec, else ``None``."""
    return getattr(spec, "surrogate_kind", None)
