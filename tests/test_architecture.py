"""The core/plugin boundary, checked on the source: the core names no plugin and no
domain, and its modules import one another without cycles or upward imports."""

from __future__ import annotations

import ast
import importlib.util
import tomllib
from pathlib import Path

import pytest

import surrogate

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "surrogate"
#: Plugins' names the core must not rely on, inside a string or an identifier...
FORBIDDEN = (
    "calochallenge",
    "incident_energies",
    "gmm2d",
    "mode_of",
    "gflash",
    "calo.",
    "surrogate_calo",
    "surrogate_toy",
    "surrogate_baseline",
    "surrogate_generators",
    "cosmo.",
    "surrogate_cosmo",
    "omega_m",
    "sigma8",
)
#: ... or as a whole word (``gaussian_kernel`` is a kernel, not the baseline).
FORBIDDEN_WORDS = ("gaussian", "showers")
#: Keyword arguments and attributes whose strings are prose for a person, not code.
PROSE_KEYWORDS = {"help", "description", "epilog"}


def forbidden(word: str) -> bool:
    return any(f in word for f in FORBIDDEN) or word in FORBIDDEN_WORDS


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings (prose may cite a convention)."""
    out = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                out.add(id(value))
    return out


def _prose(tree: ast.AST) -> set[int]:
    """ids of the nodes of help texts and descriptions (``help=...``, ``description = ...``)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in PROSE_KEYWORDS:
            out |= {id(n) for n in ast.walk(node.value)}
        targets = getattr(node, "targets", None) or [getattr(node, "target", None)]
        assigns_prose = any(getattr(t, "id", None) in PROSE_KEYWORDS for t in targets)
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value and assigns_prose:
            out |= {id(n) for n in ast.walk(node.value)}
    return out


def code_words(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every identifier and non-prose string constant in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree) | _prose(tree)
    words = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            words.append((node.lineno, node.value))
        elif isinstance(node, ast.Name):
            words.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            words.append((node.lineno, node.attr))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.arg)):
            words.append((node.lineno, getattr(node, "name", None) or node.arg))
        elif isinstance(node, ast.alias):
            words.append((getattr(node, "lineno", 0), node.name))
    return words


def test_the_checker_sees_code_and_skips_prose(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text(
        '"""Cites the calochallenge convention."""\n'
        'def f(x):\n    """mode_of in prose."""\n    return x["showers"]\n'
        'p.add_argument("-x", help="e.g. toy.gmm2d")\n'
    )
    found = [w for _, w in code_words(sample) if forbidden(w)]
    assert found == ["showers"]


def test_the_core_names_no_plugin_and_no_domain():
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {word!r}"
        for path in sorted(CORE.rglob("*.py"))
        for line, word in code_words(path)
        if forbidden(word)
    ]
    assert not offences, "the core relies on plugin names:\n" + "\n".join(offences)


def _import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "tools/import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles_and_no_upward_imports():
    tool = _import_graph()
    edges = tool.graph(CORE)
    assert "surrogate.spec" in edges and "surrogate.errors" in edges["surrogate.spec"]
    assert tool.cycles(edges) == []
    assert tool.upward(edges) == []


def test_the_cycle_finder_finds_cycles():
    tool = _import_graph()
    assert tool.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert tool.upward({"surrogate": set(), "surrogate.x": {"surrogate"}}) == ["surrogate.x"]


def test_the_version_is_written_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    namespace: dict = {}
    exec((CORE / "_version.py").read_text(), namespace)
    assert namespace["__version__"] == surrogate.__version__


@pytest.mark.parametrize("module", ["surrogate.registry", "surrogate.spec", "surrogate.api"])
def test_core_modules_import_on_their_own(module):
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
