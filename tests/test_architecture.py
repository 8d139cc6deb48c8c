"""The engine's rooms and the arrows between them: imports point down only, and never in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

MODELS = ROOT / "models"
#: Each room's rank: a module may import its own room and the rooms below it.
RANK = {"contract": 0, "solver": 1, "formulation": 2, "heuristics": 3, "pipeline": 4}
#: The package root: the front door above every room, the one module that joins the engine
#: and the tools (it hands the engine's ``solve`` to the tools' ``solve_many``).
ROOT_MODULE = "models"
#: The one engine module the tools may use besides the contract: the executor abstraction,
#: which knows nothing of the engine and is shared by batches and the checks inside a solve.
TOOLS_MAY_USE = {"models.solver.executor"}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every module of ``models`` and the ``models``/``app`` modules it imports (anywhere in it)."""
    modules = {_module(p): p for p in MODELS.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules or m.split(".")[0] == "app"}
    return graph


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_engine_never_imports_the_service():
    offenders = {m: sorted(i for i in imported if i.startswith("app")) for m, imported in _imports().items()}
    assert {m: i for m, i in offenders.items() if i} == {}


def test_no_module_imports_a_room_above_its_own():
    upward = []
    for module, imported in _imports().items():
        room = _room(module)
        for other in imported:
            there = _room(other)
            if room in RANK and there in RANK and RANK[there] > RANK[room]:
                upward.append(f"{module} -> {other}")
            if there == "tools" and room != "tools" and module != ROOT_MODULE:
                upward.append(f"{module} -> {other} (the engine does not use the tools)")
            if room == "tools" and there not in ("contract", "tools") and other not in TOOLS_MAY_USE:
                upward.append(f"{module} -> {other} (the tools read and write problems only)")
    assert upward == []


def test_only_the_package_root_joins_the_engine_and_the_tools_and_nothing_imports_the_root():
    imports = _imports()
    assert "models.tools.batch" in imports[ROOT_MODULE], "models.solve_many is the tools' solve_many with the engine's solve"
    assert sorted(m for m, imported in imports.items() if ROOT_MODULE in imported) == []


def test_the_executor_abstraction_knows_nothing_of_the_engine():
    imports = _imports()
    for module in TOOLS_MAY_USE:
        assert {i for i in imports[module] if i.startswith("models")} == set(), module


def test_no_import_cycle_in_models():
    imports = _imports()
    graph = {m: {i for i in imported if i in imports} for m, imported in imports.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            # A package's __init__ re-exporting one of its own modules is not a cycle of ideas.
            if len(component) > 1 and not all(m == node or m.startswith(node + ".") for m in component):
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def test_every_room_says_what_it_is_for():
    for room in [*RANK, "tools"]:
        init = MODELS / room / "__init__.py"
        assert init.exists(), room
        assert ast.get_docstring(ast.parse(init.read_text())), room
