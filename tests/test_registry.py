"""Plugin discovery: entry points loaded one by one, broken plugins reported, conflicts
named with both packages, environment switches, and lazy imports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import surrogate
from surrogate.errors import PluginError
from surrogate.registry import Registry, get_registry, reset_registry


def make_dist(root: Path, dist: str, ep_name: str, module: str, source: str) -> None:
    """An installed distribution as pip leaves it: a module and its dist-info."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[surrogate]\n{ep_name} = {module}\n")


GOOD = """
    from surrogate import hookimpl
    from surrogate_toy.gmm2d import GaussianRing

    @hookimpl
    def register_simulators(register):
        register("thirdparty.ring", GaussianRing)
"""
BROKEN = """
    import this_module_does_not_exist_anywhere
"""
CONFLICT = """
    from surrogate import hookimpl

    @hookimpl
    def register_simulators(register):
        register("thirdparty.ring", "surrogate_toy.gmm2d:GaussianRing")
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("tp_good", "tp_broken", "tp_conflict"):
        sys.modules.pop(name, None)


def test_builtins_register_through_entry_points():
    registry = Registry()
    registry.load_core()  # as build_registry: the core declares hooks plugins use
    registry.load_entrypoints()
    assert {"toy", "baseline"} <= set(registry.plugins)
    assert registry.plugins["toy"].package == "surrogate"
    assert "toy.gmm2d" in registry.names("simulator")
    assert "gaussian" in registry.names("surrogate")


def test_broken_plugin_is_reported_and_others_work(site):
    make_dist(site, "tp-broken", "tp_broken", "tp_broken", BROKEN)
    make_dist(site, "tp-good", "tp_good", "tp_good", GOOD)
    registry = Registry()
    registry.load_core()  # as build_registry: the core declares hooks plugins use
    registry.load_entrypoints()
    broken = registry.plugins["tp_broken"]
    assert broken.status == "broken"
    assert broken.package == "tp-broken"
    assert "this_module_does_not_exist_anywhere" in broken.error
    assert registry.plugins["tp_good"].status == "ok"
    assert registry.get("simulator", "thirdparty.ring").__name__ == "GaussianRing"
    assert registry.get("simulator", "toy.gmm2d").__name__ == "GaussianRing"


def test_name_conflict_names_both_packages(site):
    make_dist(site, "tp-good", "tp_good", "tp_good", GOOD)
    make_dist(site, "tp-conflict", "tp_conflict", "tp_conflict", CONFLICT)
    registry = Registry()
    registry.load_core()  # as build_registry: the core declares hooks plugins use
    registry.load_entrypoints()
    with pytest.raises(PluginError) as err:
        registry.get("simulator", "thirdparty.ring")
    assert "tp-good" in str(err.value) and "tp-conflict" in str(err.value)
    assert registry.get("simulator", "toy.gmm2d")  # the rest still works


def test_blocked_and_autoload_switches(site):
    make_dist(site, "tp-good", "tp_good", "tp_good", GOOD)
    blocked = Registry()
    blocked.load_entrypoints(blocked=frozenset({"tp-good"}))
    assert blocked.plugins["tp_good"].status == "blocked"
    assert "thirdparty.ring" not in blocked.names("simulator")
    no_auto = Registry()
    no_auto.load_core()
    no_auto.load_entrypoints(autoload=False)
    assert "tp_good" not in no_auto.plugins
    assert "toy.gmm2d" in no_auto.names("simulator")  # built-ins still load


def test_environment_variables_reach_the_registry(site, monkeypatch):
    make_dist(site, "tp-good", "tp_good", "tp_good", GOOD)
    monkeypatch.setenv("SURROGATE_DISABLED_PLUGINS", "toy, tp_good")
    reset_registry()
    try:
        registry = get_registry()
        assert registry.plugins["toy"].status == "blocked"
        assert registry.plugins["tp_good"].status == "blocked"
        monkeypatch.delenv("SURROGATE_DISABLED_PLUGINS")
        monkeypatch.setenv("SURROGATE_DISABLE_PLUGIN_AUTOLOAD", "1")
        reset_registry()
        assert "tp_good" not in get_registry().plugins
    finally:
        reset_registry()


def test_unknown_name_suggests_close_ones():
    with pytest.raises(PluginError, match="did you mean 'toy.gmm2d'"):
        surrogate.simulator("toy.gmm")
    with pytest.raises(PluginError, match="unknown surrogate 'gausian'.*'gaussian'"):
        surrogate.surrogate("gausian")


def test_unknown_factory_option_is_named():
    with pytest.raises(PluginError, match="unknown option 'radiuss'.*'radius'"):
        surrogate.simulator("toy.gmm2d", radiuss=3)


def test_invalid_name_marks_plugin_broken(fresh_registry):
    from surrogate import hookimpl

    class Plugin:
        @hookimpl
        def register_simulators(self, register):
            register("Not A Name", object)

    fresh_registry.add_plugin(Plugin(), name="bad", package="bad-pkg")
    assert fresh_registry.plugins["bad"].status == "broken"
    assert "invalid simulator name" in fresh_registry.plugins["bad"].error


def test_lazy_factory_import_error_is_a_plugin_error(fresh_registry):
    from surrogate import hookimpl

    class Plugin:
        @hookimpl
        def register_surrogates(self, register):
            register("lazy", "no_such_package_xyz.models:Model")

    fresh_registry.add_plugin(Plugin(), name="lazy", package="lazy-pkg")
    assert fresh_registry.names("surrogate") == ["lazy"]
    with pytest.raises(PluginError, match="lazy-pkg.*failed to import"):
        surrogate.surrogate("lazy")


@pytest.mark.parametrize(
    "code",
    [
        "import surrogate",
        "import surrogate; surrogate.plugins()",
        "from surrogate.cli import main; import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "    main(['plugins'])",
    ],
)
def test_listing_plugins_does_not_import_torch(code):
    check = code + "\nimport sys; assert 'torch' not in sys.modules, 'torch imported'"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    subprocess.run([sys.executable, "-c", check], check=True, env=env)


DOMAIN_SPECS = """
    from surrogate.hookspecs import registration_hook

    @registration_hook("tpdom.widget", "widgets", names=r"[A-Za-z0-9-]+", example="W-1")
    def register_tpdom_widgets(register):
        '''Register widgets: ``register(name, widget)``.'''
"""
DOMAIN = """
    import tpdom_specs
    from surrogate import hookimpl

    @hookimpl
    def add_hookspecs(add):
        add(tpdom_specs)

    @hookimpl
    def register_tpdom_widgets(register):
        register("W-1", ("builtin", "widget"))
"""
USES_DOMAIN = """
    from surrogate import hookimpl

    @hookimpl
    def register_tpdom_widgets(register):
        register("Alpha", ("third-party", "widget"))
"""
TYPO = """
    from surrogate import hookimpl

    @hookimpl
    def register_simulatorz(register):
        register("typo.sim", object)
"""


def test_a_plugin_declares_hooks_that_others_implement_in_any_order(site):
    (site / "tpdom_specs.py").write_text(textwrap.dedent(DOMAIN_SPECS))
    # "aaa" sorts (and so loads) before the plugin that declares the hook
    make_dist(site, "tp-aaa", "aaa_user", "aaa_user", USES_DOMAIN)
    make_dist(site, "tp-domain", "tpdom", "tpdom", DOMAIN)
    try:
        registry = Registry()
        registry.load_core()  # as build_registry: the core declares hooks plugins use
        registry.load_entrypoints()
        assert registry.plugins["aaa_user"].status == "ok", registry.plugins["aaa_user"].error
        assert registry.names("tpdom.widget") == ["Alpha", "W-1"]
        assert registry.get("tpdom.widget", "Alpha") == ("third-party", "widget")
        assert registry.label("tpdom.widget") == "widgets"
        assert registry.plugins["aaa_user"].names == {"tpdom.widget": ["Alpha"]}
    finally:
        for name in ("tpdom_specs", "tpdom", "aaa_user"):
            sys.modules.pop(name, None)


def test_a_hook_nobody_declares_marks_the_plugin_broken(site):
    make_dist(site, "tp-typo", "tp_typo", "tp_typo", TYPO)
    try:
        registry = Registry()
        registry.load_core()  # as build_registry: the core declares hooks plugins use
        registry.load_entrypoints()
        info = registry.plugins["tp_typo"]
        assert info.status == "broken"
        assert "unknown hook 'register_simulatorz'" in info.error
        assert "typo.sim" not in registry.names("simulator")
    finally:
        sys.modules.pop("tp_typo", None)


def test_unknown_name_says_when_a_plugin_is_blocked():
    registry = Registry()
    registry.load_core()  # as build_registry: the core declares hooks plugins use
    registry.load_entrypoints(blocked=frozenset({"toy"}))
    with pytest.raises(PluginError, match="blocked by SURROGATE_DISABLED_PLUGINS: toy"):
        registry.entry("simulator", "toy.gmm2d")


def test_every_kind_is_listed_under_its_own_label():
    from surrogate.registry import build_registry

    registry = build_registry()
    assert registry.plugins["core"].status == "ok"
    assert "default" in registry.names("layout")
    assert "standardise" in registry.names("preprocessing")
    assert registry.label("preprocessing") == "preprocessing steps"
    assert "compare" in registry.names("command")


def test_entry_build_runs_once_per_entry(fresh_registry):
    from surrogate import hookimpl

    class Plugin:
        @hookimpl
        def register_layouts(self, register):
            register("test.once", "surrogate.layouts:DEFAULT")

    fresh_registry.add_plugin(Plugin(), name="once")
    calls = []
    entry = fresh_registry.entry("layout", "test.once")
    for _ in range(3):
        built = entry.build(lambda factory: calls.append(factory) or factory.name)
    assert built == "default" and len(calls) == 1


def test_a_plugins_own_value_error_is_one_line_naming_the_plugin(fresh_registry, capsys):
    from surrogate import hookimpl
    from surrogate.cli import main
    from surrogate_toy.gmm2d import GaussianRing

    def picky(width: float = 1.0):
        if width <= 0:
            raise ValueError("width must be positive")
        return GaussianRing()

    class Plugin:
        @hookimpl
        def register_simulators(self, register):
            register("picky.ring", picky)

    fresh_registry.add_plugin(Plugin(), name="picky", package="picky-pkg")
    with pytest.raises(PluginError, match="simulator 'picky.ring' .plugin 'picky'.: width must"):
        surrogate.simulator("picky.ring", width=-1)
    code = main(["simulate", "picky.ring", "-n", "5", "-o", "x.h5", "--option", "width=-1"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "width must be positive" in err
