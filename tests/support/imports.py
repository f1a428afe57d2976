"""What a module imports, read from its source: for the tests that keep the import graph."""

from __future__ import annotations

import ast
from pathlib import Path


def imported_roots(source: Path) -> set[str]:
    """Every top-level package the module imports, lazily inside functions too."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots
