"""The project's limit on a function's shape (issue 30): no function in vidgan/ over MAX_LINES lines (its def to
its last line, docstring included) or MAX_PARAMETERS parameters (self and cls not counted), unless ALLOWED names
it with the reason. A longer function is split into named steps; a longer parameter list is grouped into the
dataclass its values come from (the command's options, a task's TaskSettings)."""

from __future__ import annotations

import ast

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "vidgan"
MAX_LINES = 60
MAX_PARAMETERS = 12
# "module:qualified name" → why it may be larger. Empty: every function keeps the limit.
ALLOWED: dict[str, str] = {}


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    args = function.args
    named = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    starred = (args.vararg is not None) + (args.kwarg is not None)
    bound = 1 if named and named[0].arg in ("self", "cls") else 0
    return len(named) + starred - bound


def _functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, node) of every function and method, nested ones too."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield f"{prefix}{node.name}", node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def oversized() -> dict[str, str]:
    """Every function over a limit, as "module:name" → what it measures."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
        for name, node in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            lines, parameters = node.end_lineno - node.lineno + 1, _parameters(node)
            if lines > MAX_LINES or parameters > MAX_PARAMETERS:
                found[f"{module}:{name}"] = f"{lines} lines, {parameters} parameters"
    return found


def test_no_function_is_over_the_limits_without_a_stated_reason():
    over = {name: shape for name, shape in oversized().items() if name not in ALLOWED}
    assert not over, f"split these, or group their parameters (limits: {MAX_LINES} lines, {MAX_PARAMETERS} parameters): {over}"


def test_every_allowance_is_still_needed_and_says_why():
    found = oversized()
    assert all(name in found and reason.strip() for name, reason in ALLOWED.items()), ALLOWED


def test_the_measure_counts_a_methods_lines_and_parameters():
    source = "class A:\n    def f(self, a, b=1, *c, d, **e):\n" + "        x = 1\n" * 70
    ((name, node),) = _functions(ast.parse(source))
    assert (name, _parameters(node), node.end_lineno - node.lineno + 1) == ("A.f", 5, 71)
