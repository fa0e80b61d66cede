"""No function outside tests/ is longer than 80 lines (issue 11): a function should fit on a
screen. Lines are counted from ``def`` to the last line of the body, docstring included."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 80
SKIP_DIRS = {"tests", ".venv", "build", "dist", ".git", ".nox", "node_modules"}

# Functions over the limit, with the reason each is allowed: none. Keep it so: split a long
# function instead of listing it here.
KNOWN_LONG: dict[str, int] = {}


def python_files() -> list[Path]:
    return sorted(
        p
        for p in ROOT.rglob("*.py")
        if not SKIP_DIRS & set(p.relative_to(ROOT).parts[:-1])
        and not p.relative_to(ROOT).parts[0].startswith(".")
    )


def long_functions(max_lines: int = MAX_LINES) -> dict[str, int]:
    """``path::Class.function`` -> its length in lines, for every function over ``max_lines``."""
    found: dict[str, int] = {}
    for path in python_files():
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(), filename=rel)
        _walk(tree, rel, "", max_lines, found)
    return found


def _walk(node: ast.AST, rel: str, prefix: str, max_lines: int, found: dict[str, int]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{child.name}"
            if not isinstance(child, ast.ClassDef):
                length = child.end_lineno - child.lineno + 1
                if length > max_lines:
                    found[f"{rel}::{name}"] = length
            _walk(child, rel, f"{name}.", max_lines, found)
        else:
            _walk(child, rel, prefix, max_lines, found)


def test_the_counter_measures_def_to_last_line():
    body = "\n".join(f"    x{i} = {i}" for i in range(80))
    tree = ast.parse(f"def long():\n{body}\n\ndef short():\n    pass\n")
    found: dict[str, int] = {}
    _walk(tree, "m.py", "", MAX_LINES, found)
    assert found == {"m.py::long": 81}


def test_no_function_over_80_lines():
    found = long_functions()
    new = {k: v for k, v in found.items() if k not in KNOWN_LONG}
    assert not new, f"functions over {MAX_LINES} lines (split them): {new}"
