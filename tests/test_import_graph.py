"""Layering of the package: no import cycles, no private names across modules, no CLI below the CLI.

Every import is counted, at module level or deferred inside a function: a deferred import
hides a cycle from the interpreter but not from the design.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = "scalefit"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# Cycles that need a redesign rather than a move; each names why it stays. Empty is the goal.
KNOWN_CYCLES: set[frozenset[str]] = set()

# `python -m scalefit` is the entry point above the command line, not a module under it.
CLI_ENTRY_POINTS = {f"{PACKAGE}.__main__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache  # the package is parsed once per test session
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str | None:
    """The absolute module named by a `from ... import` (relative imports resolved)."""
    if node.level == 0:
        return node.module
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(modules: dict[str, Path]) -> list[tuple[str, str, str | None, int]]:
    if modules is _modules():
        return _package_imports()
    return _parse_imports(modules)


@functools.cache
def _package_imports() -> list[tuple[str, str, str | None, int]]:
    return _parse_imports(_modules())


def _parse_imports(modules: dict[str, Path]) -> list[tuple[str, str, str | None, int]]:
    """(importer, imported module, imported name or None, line) for every in-package import."""
    found: list[tuple[str, str, str | None, int]] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                        found.append((module, alias.name, None, node.lineno))
            elif isinstance(node, ast.ImportFrom):
                target = _resolve_from(module, is_package, node)
                if target is None or not (target == PACKAGE or target.startswith(PACKAGE + ".")):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:  # `from scalefit.x import y` where y is a module
                        found.append((module, sub, None, node.lineno))
                    else:
                        found.append((module, target, alias.name, node.lineno))
    return found


def _packages_run_first(importer: str, imported: str) -> list[str]:
    """The packages whose ``__init__`` runs when ``importer`` imports ``imported``: every
    package above ``imported`` that does not also hold ``importer`` (those already run)."""
    parts = imported.split(".")
    above = [".".join(parts[:i]) for i in range(1, len(parts))]
    return [p for p in above if not (importer == p or importer.startswith(p + "."))]


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for importer, imported, _name, _line in _imports(modules):
        if imported != importer and imported in modules:
            graph[importer].add(imported)
            # `import scalefit.fitting.x` runs scalefit/fitting/__init__.py first: a cycle
            # through a package's re-exports is a cycle too
            graph[importer].update(p for p in _packages_run_first(importer, imported)
                                   if p in modules)
    return graph


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; returns the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            if children:
                child = children.pop(0)
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def _is_parent_package(importer: str, imported: str) -> bool:
    """A package re-exporting from its own submodules (or a submodule using its package's names)."""
    return imported.startswith(importer + ".") or importer.startswith(imported + ".")


def test_graph_is_built_from_the_package() -> None:
    modules = _modules()
    graph = _graph(modules)
    # Guards against a walker that silently finds nothing: the CLI must reach the fitting code.
    assert "scalefit.cli.fit" in modules and "scalefit.fitting.api" in modules
    assert sum(len(edges) for edges in graph.values()) > 50


def test_a_known_cycle_is_detected() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _strongly_connected(graph) == [["a", "b", "c"]]


def test_importing_a_submodule_runs_its_package_first() -> None:
    assert _packages_run_first("pkg.result", "pkg.fitting.backtest") == ["pkg.fitting"]
    assert _packages_run_first("other", "pkg.fitting.backtest") == ["pkg", "pkg.fitting"]
    # a module inside the package does not run its own package's __init__ again
    assert _packages_run_first("pkg.fitting.api", "pkg.fitting.backtest") == []


def test_no_import_cycles() -> None:
    found = _strongly_connected(_graph(_modules()))
    cycles = [c for c in found if frozenset(c) not in KNOWN_CYCLES]
    assert not cycles, "import cycles:\n" + "\n".join("  " + " <-> ".join(c) for c in cycles)
    # a known exception that is fixed comes off the list, so it cannot come back unnoticed
    stale = KNOWN_CYCLES - {frozenset(c) for c in found}
    assert not stale, f"known cycles no longer present, remove them from KNOWN_CYCLES: {stale}"


def test_no_private_names_across_modules() -> None:
    modules = _modules()
    bad = [
        f"  {importer}:{line} imports {name} from {imported}"
        for importer, imported, name, line in _imports(modules)
        if name is not None
        and name.startswith("_")
        and not name.startswith("__")
        and imported != importer
        and not _is_parent_package(importer, imported)
    ]
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_only_the_cli_imports_the_cli() -> None:
    cli = f"{PACKAGE}.cli"
    bad = [
        f"  {importer}:{line} imports {imported}"
        for importer, imported, _name, line in _imports(_modules())
        if (imported == cli or imported.startswith(cli + "."))
        and not (importer == cli or importer.startswith(cli + "."))
        and importer not in CLI_ENTRY_POINTS
    ]
    assert not bad, "modules outside the CLI import it:\n" + "\n".join(bad)
