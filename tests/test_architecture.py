"""The one-way house (issue 12): the package's imports run down, never in a circle; modules stay small.

Every module of `bantar_sim` is parsed with `ast` (no import is executed) and EVERY import statement is
read — at module level, inside functions, under `if TYPE_CHECKING:` — so a function-level import cannot
hide a circle. Imports inside the package are resolved to the module they load.

Rooms and ranks (a module may import only from its own room or a room of lower rank):

    model 0  <-  engine 1, reporting 1  <-  studies 2  <-  cli 3, app 3

Rooms of equal rank do not import each other (engine/reporting, cli/app). `bantar_sim/__init__.py` is
not a room (it re-exports lazily) and is exempt from the rank rule, not from the circle rule. The CLI
starts the app by its module NAME (a string handed to Solara): a string is not an import.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "bantar_sim"
RANKS = {"model": 0, "engine": 1, "reporting": 1, "studies": 2, "cli": 3, "app": 3}
MAX_LINES = 600


def module_name(path: Path, package_dir: Path) -> str:
    """Dotted module name of a file of the package (`pkg/a/__init__.py` -> `pkg.a`)."""
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    return {module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))}


def imported_names(module: str, path: Path) -> list[tuple[str, int]]:
    """Every absolute dotted name one module's import statements load, with the line of each.

    `from X import a` yields both `X.a` and `X` (the caller keeps whichever is a module of the package);
    relative imports are made absolute.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    own_package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own_package[: len(own_package) - node.level + 1]
                base_name = ".".join(base + ([node.module] if node.module else []))
            else:
                base_name = node.module or ""
            for alias in node.names:
                found.append((f"{base_name}.{alias.name}", node.lineno))
            found.append((base_name, node.lineno))
    return found


def import_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, dict[str, int]]:
    """Module -> {module of the package it imports: line of the first such import}."""
    modules = package_modules(package_dir)
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges: dict[str, int] = {}
        for name, line in imported_names(module, path):
            parts = name.split(".")
            # The longest prefix that is a module of the package: `pkg.a.b.func` -> `pkg.a.b`.
            target = next((".".join(parts[:k]) for k in range(len(parts), 0, -1)
                           if ".".join(parts[:k]) in modules), None)
            if target and target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def import_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One concrete circle (a -> b -> ... -> a) per strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)

    cycles = []
    for group in groups:
        members, start = set(group), group[0]
        # Shortest way back to the start inside the group (breadth-first).
        previous: dict[str, str] = {}
        frontier, end = [start], None
        while frontier and end is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v]):
                    if w == start:
                        end = v
                        break
                    if w in members and w not in previous and w != start:
                        previous[w] = v
                        nxt.append(w)
                if end is not None:
                    break
            frontier = nxt
        path = [end]
        while path[-1] != start:
            path.append(previous[path[-1]])
        cycles.append([*reversed(path), start])
    return cycles


def room(module: str) -> str | None:
    """The room of a module (`bantar_sim.engine.batch` -> `engine`); None for the package root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def upward_imports(graph: dict[str, dict[str, int]], modules: dict[str, Path]) -> list[str]:
    """Every import that goes up, or sideways into another room of the same rank, as a readable line."""
    problems = []
    for importer, edges in sorted(graph.items()):
        src = room(importer)
        if src is None:     # the root re-exports lazily; it is not a room
            continue
        if src not in RANKS:
            problems.append(f"{importer} ({modules[importer].name}) is in no room: rooms are {sorted(RANKS)}")
            continue
        for target, line in sorted(edges.items()):
            dst = room(target)
            if dst == src:
                continue
            where = f"{modules[importer].relative_to(modules[importer].parents[len(importer.split('.')) - 1])}:{line}"
            if dst is None:
                problems.append(f"{where}: {importer} imports the package root {target} (import from the room instead)")
            elif dst not in RANKS:
                continue    # reported as "in no room" above
            elif RANKS[dst] >= RANKS[src]:
                kind = "up" if RANKS[dst] > RANKS[src] else "sideways"
                problems.append(f"{where}: {importer} (room {src}, rank {RANKS[src]}) imports {target} "
                                f"(room {dst}, rank {RANKS[dst]}): {kind}")
    return problems


def oversized(modules: dict[str, Path], limit: int = MAX_LINES) -> list[str]:
    """Modules longer than `limit` lines, longest first."""
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in modules.items()}
    return [f"{m}: {n} lines" for m, n in sorted(sizes.items(), key=lambda kv: -kv[1]) if n > limit]


# --- the package ---------------------------------------------------------------------------------------

def test_no_import_circle():
    cycles = import_cycles(import_graph())
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_imports_run_down():
    problems = upward_imports(import_graph(), package_modules())
    assert not problems, "imports against the house's direction:\n" + "\n".join(problems)


def test_no_module_over_600_lines():
    big = oversized(package_modules())
    assert not big, f"modules over {MAX_LINES} lines:\n" + "\n".join(big)


def test_every_room_exists():
    missing = [r for r in RANKS if not (PACKAGE_DIR / r / "__init__.py").is_file()]
    assert not missing, f"rooms without a package: {missing}"


# --- the checker itself, on a small made-up package ------------------------------------------------------

@pytest.fixture
def toy(tmp_path):
    """A package with one circle hidden in a function, one upward import and one sideways import."""
    files = {
        "__init__.py": "from toy.model import a\n",
        "model/__init__.py": "",
        "model/a.py": "from toy.model.b import B\n",
        "model/b.py": "def f():\n    from toy.model import a   # function-level: still an import\nB = 1\n",
        "engine/__init__.py": "",
        "engine/run.py": "from ..model.a import *\nimport toy.studies.sim\n",
        "reporting/__init__.py": "",
        "reporting/fig.py": "from toy.engine import run\n",
        "studies/__init__.py": "",
        "studies/sim.py": "from toy.engine.run import x\nimport toy.model.b as b\n",
        "cli/__init__.py": "",
        "cli/viz.py": "APP = 'toy.app.page'\n",
        "app/__init__.py": "",
        "app/page.py": "from toy.model.a import A\n",
    }
    for name, text in files.items():
        path = tmp_path / "toy" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "toy"


def test_checker_finds_function_level_circle(toy):
    cycles = import_cycles(import_graph(toy))
    assert ["toy.model.a", "toy.model.b", "toy.model.a"] in cycles
    # engine.run -> studies.sim -> engine.run is a circle too (and an upward import)
    assert ["toy.engine.run", "toy.studies.sim", "toy.engine.run"] in cycles


def test_checker_finds_upward_and_sideways_imports(toy):
    problems = "\n".join(upward_imports(import_graph(toy), package_modules(toy)))
    assert "toy.engine.run (room engine, rank 1) imports toy.studies.sim (room studies, rank 2): up" in problems
    assert ("toy.reporting.fig (room reporting, rank 1) imports toy.engine.run (room engine, rank 1): sideways"
            in problems)
    assert "cli.viz" not in problems            # a module name in a string is not an import
    assert "toy.app.page" not in problems       # app -> model is down
    assert "toy/__init__.py" not in problems    # the root is exempt


def test_checker_counts_lines(toy):
    (toy / "model" / "big.py").write_text("x = 1\n" * 601)
    assert oversized(package_modules(toy)) == ["toy.model.big: 601 lines"]
