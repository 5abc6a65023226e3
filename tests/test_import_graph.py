"""The import graph of the installed packages (rlcore and rlcore.envs) has no circles.

Every module's imports are read with ``ast``, those inside functions, methods and
``if TYPE_CHECKING`` blocks included (an import deferred into a function hides a circle from
Python at import time, not from a reader). An edge goes from a module to the project module it
names: ``from rlcore.tabular import batched`` reaches the submodule ``rlcore.tabular.batched``,
``from rlcore.tabular import FiniteMDP`` the package ``rlcore.tabular`` (its ``__init__.py``).
A package's parents, imported by Python on the way, are not edges: ``rlcore/__init__.py``
importing ``rlcore.loop`` while ``rlcore.loop`` imports ``rlcore.types`` is layering, not a circle.
Names loaded by string (the registry's ``importlib.import_module`` of its providers) are not
imports of the loading module and are not followed.

A circle fails the test with the modules on it and the lines that tie them; untangle it by
moving what both sides need into a module below both.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def project_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every package folder pyproject maps (rlcore, envs)."""
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ]
    modules: dict[str, Path] = {}
    for package, folder in package_dir.items():
        base = ROOT / folder
        for file in base.rglob("*.py"):
            rel = file.relative_to(base).with_suffix("").parts
            if rel[-1] == "__init__":
                rel = rel[:-1]
            name = ".".join((package, *rel))
            # a sub-folder mapped elsewhere (rlcore.envs) is read from its own folder
            if name not in modules or file.is_relative_to(ROOT / package_dir.get(name, folder)):
                modules[name] = file
    return modules


def _is_package(file: Path) -> bool:
    return file.name == "__init__.py"


def imports_of(name: str, file: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported project module, line) for every import statement in the file, at any depth."""
    package = name if _is_package(file) else name.rpartition(".")[0]
    found: list[tuple[str, int]] = []

    def resolve(dotted: str) -> str | None:
        """The longest project-module prefix of ``dotted`` (None: not a project module)."""
        parts = dotted.split(".")
        while parts:
            candidate = ".".join(parts)
            if candidate in modules:
                return candidate
            parts.pop()
        return None

    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = resolve(alias.name)
                if target is not None:
                    found.append((target, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in modules else resolve(base)
                if target is not None:
                    found.append((target, node.lineno))
    return found


def import_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], int]]:
    """(module -> imported project modules, (module, imported) -> first line)."""
    modules = project_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    lines: dict[tuple[str, str], int] = {}
    for name, file in modules.items():
        for target, line in imports_of(name, file, modules):
            if target != name:
                graph[name].add(target)
                lines.setdefault((name, target), line)
    return graph, lines


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
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
                    found.append(sorted(component))
    return found


def test_the_graph_reads_every_module_and_sees_deferred_imports():
    graph, _ = import_graph()
    assert {"rlcore", "rlcore.loop", "rlcore.tabular.batched", "rlcore.envs"} <= set(graph)
    assert "rlcore.envs.maximization_bias" in graph
    # imports inside functions count: rlcore.loop imports the logger only when asked to log
    assert "rlcore.logger" in graph["rlcore.loop"]
    # ``from package import submodule`` reaches the submodule, not only the package
    assert "rlcore.tabular.batched_control" in graph["rlcore.tabular.batched"]


def test_circles_are_found():
    toy = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(toy) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_has_no_circles():
    graph, lines = import_graph()
    found = circles(graph)
    report = []
    for component in found:
        members = set(component)
        ties = [
            f"    {a} -> {b} (line {lines[(a, b)]})"
            for a in component
            for b in sorted(graph[a] & members)
        ]
        report.append(f"circle of {len(component)} modules:\n" + "\n".join(ties))
    assert not found, (
        "import circles (imports inside functions count too); move what both sides need into "
        "a module below both:\n" + "\n".join(report)
    )
