"""Plugin discovery and the name -> factory registry.

Entry points of the group ``surrogate`` are loaded one by one (conda's pattern): a plugin
whose import or hook fails is recorded with its package and error and every other plugin
keeps working.  Two plugins registering one name is an error that names both packages,
raised when that name is used.  Factories given as ``"module:attr"`` strings are imported
on first use, so ``surrogate plugins`` stays cheap (no torch).

Environment:
  ``SURROGATE_DISABLE_PLUGIN_AUTOLOAD=1``  load only the built-in plugins (those of the
                                          ``surrogate`` distribution), no third-party ones;
  ``SURROGATE_DISABLED_PLUGINS=a,b``       block plugins by entry-point or package name.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import pluggy

from . import hookspecs
from .errors import PluginError, suggest

Kind = Literal["simulator", "surrogate", "metric"]
KINDS: tuple[Kind, ...] = ("simulator", "surrogate", "metric")
GROUP = "surrogate"
BUILTIN_DISTRIBUTION = "surrogate"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_HOOKS: dict[Kind, str] = {
    "simulator": "register_simulators",
    "surrogate": "register_surrogates",
    "metric": "register_metrics",
}


@dataclass
class Entry:
    """One registered name: what it is, where it came from, and its (lazy) factory."""

    kind: Kind
    name: str
    factory: Any
    plugin: str
    package: str

    def resolve(self) -> Any:
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
    """Registered simulators, surrogates and metrics, with the plugins they came from."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.entries: dict[Kind, dict[str, Entry]] = {k: {} for k in KINDS}
        self.conflicts: dict[tuple[Kind, str], list[Entry]] = {}

    # -- loading --------------------------------------------------------------------------
    def load_entrypoints(
        self, *, autoload: bool = True, blocked: frozenset[str] = frozenset()
    ) -> None:
        """Load the group's entry points, each in its own try/except."""
        for ep in sorted(importlib.metadata.entry_points(group=GROUP), key=lambda e: e.name):
            dist = ep.dist
            package = dist.name if dist is not None else "?"
            version = dist.version if dist is not None else "?"
            if not autoload and package != BUILTIN_DISTRIBUTION:
                continue
            if ep.name in blocked or package in blocked:
                self.plugins[ep.name] = PluginInfo(ep.name, package, version, "blocked")
                continue
            if ep.name in self.plugins:
                continue  # the same distribution seen twice on sys.path
            try:
                module = ep.load()
            except Exception as exc:
                self.plugins[ep.name] = PluginInfo(
                    ep.name, package, version, "broken", f"{type(exc).__name__}: {exc}"
                )
                continue
            self.add_plugin(module, name=ep.name, package=package, version=version)

    def add_plugin(self, plugin: Any, *, name: str, package: str = "?", version: str = "?") -> None:
        """Register a plugin object (module or instance with hookimpls) and run its hooks."""
        info = PluginInfo(name, package, version, "ok")
        self.plugins[name] = info
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception as exc:
            info.status, info.error = "broken", f"{type(exc).__name__}: {exc}"
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            return
        for kind, hook in _HOOKS.items():
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                try:
                    impl.function(register=self._register_callback(kind, info))
                except Exception as exc:
                    info.status = "broken"
                    info.error = f"{hook} failed: {type(exc).__name__}: {exc}"

    def _register_callback(self, kind: Kind, info: PluginInfo):
        def register(name: str, factory: Any) -> None:
            if not isinstance(name, str) or not NAME_RE.match(name):
                raise PluginError(
                    f"invalid {kind} name {name!r}: use dotted lower-case names like 'calo.gflash'"
                )
            entry = Entry(kind, name, factory, info.name, info.package)
            existing = self.entries[kind].get(name)
            if existing is not None:
                self.conflicts.setdefault((kind, name), [existing]).append(entry)
            else:
                self.entries[kind][name] = entry
            info.names.setdefault(kind, []).append(name)

        return register

    # -- lookup ---------------------------------------------------------------------------
    def names(self, kind: Kind) -> list[str]:
        return sorted(self.entries[kind])

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
            hint = suggest(name, self.entries[kind])
            broken = [p for p in self.plugins.values() if p.status == "broken"]
            if broken:
                hint += f" ({len(broken)} plugin(s) failed to load: see `surrogate plugins`)"
            elif not hint:
                hint = f" (known: {', '.join(self.names(kind)) or 'none'})"
            raise PluginError(f"unknown {kind} {name!r}{hint}") from None

    def get(self, kind: Kind, name: str) -> Any:
        return self.entry(kind, name).resolve()


_REGISTRY: Registry | None = None


def _env_list(var: str) -> frozenset[str]:
    return frozenset(x.strip() for x in os.environ.get(var, "").split(",") if x.strip())


def get_registry() -> Registry:
    """The process-wide registry, built on first use from the installed entry points."""
    global _REGISTRY
    if _REGISTRY is None:
        registry = Registry()
        registry.load_entrypoints(
            autoload=os.environ.get("SURROGATE_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0"),
            blocked=_env_list("SURROGATE_DISABLED_PLUGINS"),
        )
        _REGISTRY = registry
    return _REGISTRY


def reset_registry(registry: Registry | None = None) -> None:
    """Forget the cached registry (tests, or after installing a plugin at run time)."""
    global _REGISTRY
    _REGISTRY = registry
