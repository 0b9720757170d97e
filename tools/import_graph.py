"""Print the import graph of the ``surrogate`` package and check it.

Every import that runs is counted, at module level or inside a function, since a deferred
import is still a dependency; imports under ``if TYPE_CHECKING:`` are not.  The check
fails (exit status 1) on an import cycle between modules, or on an upward import: a module
of the package importing the package root ``surrogate`` (whose ``__init__`` re-exports
the public API and so depends on everything).

    python tools/import_graph.py            # edges, one module a line, then the verdict
    python tools/import_graph.py --dot      # Graphviz
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "surrogate"
PACKAGE = "surrogate"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(node: ast.ImportFrom, current: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def imports_of(path: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """The package's modules that ``path`` imports at run time (``from . import x``
    counts ``x``; imports for type checking only do not count)."""
    current = module_name(path, root)
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, current, path.name == "__init__.py")
            subs = {f"{target}.{alias.name}" for alias in node.names} & modules
            found |= subs or {target}  # ``from . import x`` imports the module x
    return {m for m in found if m in modules and m != current}


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    paths = sorted(root.rglob("*.py"))
    modules = {module_name(p, root) for p in paths}
    return {module_name(p, root): imports_of(p, modules, root) for p in paths}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Modules that import the package root."""
    return sorted(m for m, deps in edges.items() if PACKAGE in deps and m != PACKAGE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dot", action="store_true", help="print Graphviz instead")
    args = parser.parse_args()
    edges = graph()
    if args.dot:
        print("digraph surrogate {")
        for m, deps in sorted(edges.items()):
            for d in sorted(deps):
                print(f'  "{m}" -> "{d}";')
        print("}")
    else:
        for m, deps in sorted(edges.items()):
            print(f"{m}: {', '.join(sorted(deps)) or '-'}")
    bad = cycles(edges)
    up = upward(edges)
    for component in bad:
        print(f"cycle: {' <-> '.join(component)}", file=sys.stderr)
    for m in up:
        print(f"upward import of the package root: {m}", file=sys.stderr)
    print(
        f"{len(edges)} modules, {sum(map(len, edges.values()))} imports, "
        f"{len(bad)} cycles, {len(up)} upward imports",
        file=sys.stderr,
    )
    return 1 if bad or up else 0


if __name__ == "__main__":
    sys.exit(main())
