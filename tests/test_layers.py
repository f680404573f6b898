"""The package's layer rule (README, "Code layout"): a module imports only from its own layer or the layers below,
and no modules import each other in a cycle, function-level imports included; inference and judging (render/,
eval/) stand beside training, not on it."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "vidgan"
# Bottom to top; modules of one layer may import each other (without cycles) and anything listed before them.
LAYERS = (
    ("vidgan.core",),
    ("vidgan.io", "vidgan.models"),
    ("vidgan.runs",),
    ("vidgan.training",),
    ("vidgan.render",),
    ("vidgan.eval",),
    ("vidgan.demo",),
    ("vidgan.cli", "vidgan.__main__"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    for level, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return None


def imports_of(path: Path) -> set[str]:
    """Every vidgan module `path` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {name for name in found if name in modules and name != "vidgan"}


def import_graph() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def test_every_module_belongs_to_a_layer():
    unplaced = [m for m in import_graph() if m != "vidgan" and layer_of(m) is None]
    assert unplaced == []


def test_imports_point_down_only():
    upward = [
        f"{module} imports {imported}"
        for module, imported_names in import_graph().items()
        if module != "vidgan"
        for imported in imported_names
        if layer_of(imported) > layer_of(module)
    ]
    assert upward == []


# Layers that sit above another in LAYERS's order yet must not use it: what they share lives lower down.
INDEPENDENT = {"vidgan.render": ("vidgan.training",), "vidgan.eval": ("vidgan.training",)}


def test_inference_and_judging_import_nothing_from_training():
    def within(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")

    crossing = [
        f"{module} imports {imported}"
        for module, imported_names in import_graph().items()
        for package, barred in INDEPENDENT.items()
        if within(module, package)
        for imported in imported_names
        if any(within(imported, other) for other in barred)
    ]
    assert crossing == []


def test_no_import_cycles():
    graph = import_graph()
    # Package __init__ modules only hold docstrings here, so an edge to a package is not a dependency on its modules.
    state: dict[str, str] = {}
    cycles = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                cycles.append(" -> ".join(trail[trail.index(imported):] + [imported]))
            elif imported not in state:
                visit(imported, trail + [imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
