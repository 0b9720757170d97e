"""Plugin discovery and the (kind, name) -> factory registry.

Entry points of the group ``surrogate`` are loaded one by one (conda's pattern): a plugin
whose import or hook fails is recorded with its package and error and every other plugin
keeps working.  Loading runs in phases, so that the order of plugins does not matter:

1. import and register every entry point;
2. let each plugin declare hooks of its own (``add_hookspecs``);
3. report plugins that implement a hook nobody declares (and drop them);
4. run every registration hook of every plugin.

The kinds of things registered are the registration hooks' kinds
(:func:`surrogate.hookspecs.registration_hook`): the core's (``simulator``, ``surrogate``,
``metric``, ``observables``, ``preprocessing``, ``layout``, ``split``, ``command``, and the
presets), and any a plugin declares (``calo.geometry``).  Two plugins registering one
name is an error that names both packages, raised when that name is used.  Factories
given as ``"module:attr"`` strings are imported on first use, so ``surrogate plugins``
stays cheap (no torch).

Environment:
  ``SURROGATE_DISABLE_PLUGIN_AUTOLOAD=1``  load only the built-in plugins (those of the
                                          ``surrogate`` distribution), no third-party ones;
  ``SURROGATE_DISABLED_PLUGINS=a,b``       block plugins by entry-point or package name.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pluggy

from . import hookspecs
from ._version import __version__
from .errors import PluginError, suggest

Kind = str
GROUP = "surrogate"
BUILTIN_DISTRIBUTION = "surrogate"
#: Modules of the core registered before any entry point and never blocked: the generic
#: layout and preprocessing steps every spec and model relies on.
CORE_PLUGINS = {"core": "surrogate.builtins"}
_UNSET = object()


@dataclass(frozen=True)
class KindInfo:
    """A kind of registered thing, as its registration hook declares it."""

    kind: Kind
    hook: str
    label: str
    names: re.Pattern[str]
    example: str
    declared_by: str


@dataclass(eq=False)
class Entry:
    """One registered name: what it is, where it came from, and its (lazy) factory."""

    kind: Kind
    name: str
    factory: Any
    plugin: str
    package: str
    _built: Any = field(default=_UNSET, repr=False)

    def resolve(self) -> Any:
        """The factory, imported on first use when registered as ``"module:attr"``."""
        if isinstance(self.factory, str):
            module, _, attr = self.factory.partition(":")
            try:
                obj = importlib.import_module(module)
                for part in attr.split(".") if attr else ():
                    obj = getattr(obj, part)
            except Exception as exc:  # a broken plugin must not take the caller down
                raise PluginError(
                    f"{self.kind} {self.name!r} from package {self.package!r} failed to "
                    f"import {self.factory!r}: {type(exc).__name__}: {exc}"
                ) from exc
            self.factory = obj
        return self.factory

    def build(self, make: Callable[[Any], Any]) -> Any:
        """``make(factory)``, computed once per entry (a parsed geometry file, say)."""
        if self._built is _UNSET:
            self._built = make(self.resolve())
        return self._built


@dataclass
class PluginInfo:
    """What ``surrogate plugins`` shows for one plugin."""

    name: str
    package: str
    version: str
    status: Literal["ok", "broken", "blocked"]
    error: str = ""
    names: dict[Kind, list[str]] = field(default_factory=dict)


class Registry:
    """Registered things of every kind, with the plugins they came from."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(GROUP)
        self.kinds: dict[Kind, KindInfo] = {}
        self.plugins: dict[str, PluginInfo] = {}
        self.entries: dict[Kind, dict[str, Entry]] = {}
        self.conflicts: dict[tuple[Kind, str], list[Entry]] = {}
        self._objects: dict[str, Any] = {}
        self._add_hookspecs(hookspecs, declared_by="surrogate")

    # -- loading --------------------------------------------------------------------------
    def load_core(self) -> None:
        """Register the core's own plugin modules (never blocked)."""
        for name, module in CORE_PLUGINS.items():
            self.add_plugin(
                importlib.import_module(module),
                name=name,
                package=BUILTIN_DISTRIBUTION,
                version=__version__,
            )

    def load_entrypoints(
        self, *, autoload: bool = True, blocked: frozenset[str] = frozenset()
    ) -> None:
        """Load the group's entry points (each in its own try/except), then run the phases."""
        loaded = []
        for ep in sorted(importlib.metadata.entry_points(group=GROUP), key=lambda e: e.name):
            info = self._import(ep, autoload=autoload, blocked=blocked)
            if info is not None:
                loaded.append(info)
        self._activate(loaded)

    def add_plugin(self, plugin: Any, *, name: str, package: str = "?", version: str = "?") -> None:
        """Register one plugin object (module or instance with hookimpls) and run its hooks."""
        info = PluginInfo(name, package, version, "ok")
        self.plugins[name] = info
        if self._register(plugin, info):
            self._activate([info])

    def _import(
        self, ep: importlib.metadata.EntryPoint, *, autoload: bool, blocked: frozenset[str]
    ) -> PluginInfo | None:
        dist = ep.dist
        package = dist.name if dist is not None else "?"
        version = dist.version if dist is not None else "?"
        if (not autoload and package != BUILTIN_DISTRIBUTION) or ep.name in self.plugins:
            return None  # autoload off, or the same distribution seen twice on sys.path
        info = PluginInfo(ep.name, package, version, "ok")
        self.plugins[ep.name] = info
        if ep.name in blocked or package in blocked:
            info.status = "blocked"
            return None
        try:
            plugin = ep.load()
        except Exception as exc:
            self._broken(info, f"{type(exc).__name__}: {exc}")
            return None
        return info if self._register(plugin, info) else None

    def _register(self, plugin: Any, info: PluginInfo) -> bool:
        try:
            self.pm.register(plugin, name=info.name)
        except Exception as exc:
            self._broken(info, f"{type(exc).__name__}: {exc}")
            return False
        self._objects[info.name] = plugin
        return True

    def _activate(self, infos: list[PluginInfo]) -> None:
        """Phases 2-4 of the module docstring for the given, already registered plugins."""
        for info in infos:
            self._call(info, "add_hookspecs", add=self._adder(info))
        for info in infos:
            self._check_hooks(info)
        for info in infos:
            for kind in list(self.kinds.values()):
                if info.status == "ok":
                    self._call(info, kind.hook, register=self._register_callback(kind, info))

    def _adder(self, info: PluginInfo) -> Callable[[Any], None]:
        def add(module: Any) -> None:
            self._add_hookspecs(module, declared_by=info.name)

        return add

    def _add_hookspecs(self, module: Any, *, declared_by: str) -> None:
        self.pm.add_hookspecs(module)
        for attr in dir(module):
            spec = hookspecs.kind_of(getattr(module, attr))
            if spec is not None:
                kind, label, names, example = spec
                self.kinds[kind] = KindInfo(kind, attr, label, names, example, declared_by)
                self.entries.setdefault(kind, {})

    def _call(self, info: PluginInfo, hook: str, **kwargs: Any) -> None:
        if info.status != "ok":
            return
        plugin = self._objects[info.name]
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            if impl.plugin is not plugin:
                continue
            try:
                impl.function(**kwargs)
            except Exception as exc:
                self._broken(info, f"{hook} failed: {type(exc).__name__}: {exc}")

    def _check_hooks(self, info: PluginInfo) -> None:
        """A hook no installed plugin declares is a typo or a missing dependency: report it."""
        if info.status != "ok":
            return
        plugin = self._objects[info.name]
        for hook in self.pm.get_hookcallers(plugin) or []:
            if not hook.has_spec():
                self._broken(
                    info,
                    f"implements unknown hook {hook.name!r} (a typo, or the plugin that "
                    "declares it is not installed or is blocked)",
                )
                return

    def _broken(self, info: PluginInfo, error: str) -> None:
        info.status, info.error = "broken", error
        plugin = self._objects.pop(info.name, None)
        if plugin is not None and self.pm.is_registered(plugin):
            self.pm.unregister(plugin)

    def _register_callback(self, kind: KindInfo, info: PluginInfo) -> Callable[[str, Any], None]:
        def register(name: str, factory: Any) -> None:
            if not isinstance(name, str) or not kind.names.fullmatch(name):
                raise PluginError(
                    f"invalid {kind.kind} name {name!r}"
                    + (f": use names like {kind.example!r}" if kind.example else "")
                )
            entry = Entry(kind.kind, name, factory, info.name, info.package)
            existing = self.entries[kind.kind].get(name)
            if existing is not None:
                self.conflicts.setdefault((kind.kind, name), [existing]).append(entry)
            else:
                self.entries[kind.kind][name] = entry
            info.names.setdefault(kind.kind, []).append(name)

        return register

    # -- lookup ---------------------------------------------------------------------------
    def names(self, kind: Kind) -> list[str]:
        """Every name registered for ``kind`` (none when no plugin declares the kind)."""
        return sorted(self.entries.get(kind, {}))

    def label(self, kind: Kind) -> str:
        """The plural a listing shows for ``kind``."""
        info = self.kinds.get(kind)
        return info.label if info is not None else f"{kind}s"

    def entry(self, kind: Kind, name: str) -> Entry:
        if (kind, name) in self.conflicts:
            owners = " and ".join(
                f"package {e.package!r} (plugin {e.plugin!r})" for e in self.conflicts[kind, name]
            )
            raise PluginError(
                f"{kind} name {name!r} is registered by both {owners}; "
                "block one with SURROGATE_DISABLED_PLUGINS"
            )
        try:
            return self.entries[kind][name]
        except KeyError:
            raise PluginError(f"unknown {kind} {name!r}{self._hint(kind, name)}") from None

    def _hint(self, kind: Kind, name: str) -> str:
        """Why a name may be missing: a typo, a broken plugin, a blocked one."""
        known = self.entries.get(kind, {})
        hint = suggest(name, known)
        broken = sorted(p.name for p in self.plugins.values() if p.status == "broken")
        blocked = sorted(p.name for p in self.plugins.values() if p.status == "blocked")
        if broken:
            hint += f" ({len(broken)} plugin(s) failed to load: see `surrogate plugins`)"
        if blocked:
            hint += f" (blocked by SURROGATE_DISABLED_PLUGINS: {', '.join(blocked)})"
        if not hint:
            hint = f" (known: {', '.join(sorted(known)) or 'none'})"
        return hint

    def get(self, kind: Kind, name: str) -> Any:
        """The factory registered as ``name`` for ``kind`` (imported on first use)."""
        return self.entry(kind, name).resolve()


_REGISTRY: Registry | None = None


def _env_list(var: str) -> frozenset[str]:
    return frozenset(x.strip() for x in os.environ.get(var, "").split(",") if x.strip())


def build_registry(*extra: tuple[str, Any]) -> Registry:
    """A new registry from the core, the installed entry points (as the environment
    allows) and ``extra`` ``(name, plugin)`` pairs, such as a test's plugin object."""
    registry = Registry()
    registry.load_core()
    registry.load_entrypoints(
        autoload=os.environ.get("SURROGATE_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0"),
        blocked=_env_list("SURROGATE_DISABLED_PLUGINS"),
    )
    for name, plugin in extra:
        registry.add_plugin(plugin, name=name, package=name)
    return registry


def get_registry() -> Registry:
    """The process-wide registry, built on first use from the installed entry points."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = build_registry()
    return _REGISTRY


def reset_registry(registry: Registry | None = None) -> None:
    """Forget the cached registry (tests, or after installing a plugin at run time)."""
    global _REGISTRY
    _REGISTRY = registry


@contextlib.contextmanager
def using_registry(registry: Registry) -> Iterator[Registry]:
    """Make ``registry`` the process-wide one inside the block, then restore the previous."""
    global _REGISTRY
    previous, _REGISTRY = _REGISTRY, registry
    try:
        yield registry
    finally:
        _REGISTRY = previous
