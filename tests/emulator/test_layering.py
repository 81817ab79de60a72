"""The emulator is a room of its own: it imports nothing from the client side."""

from __future__ import annotations

import ast
from pathlib import Path

import ci_toolkit.emulator

EMULATOR = Path(ci_toolkit.emulator.__file__).parent


def _client_imports(source: str) -> list[str]:
    """Modules of ``ci_toolkit`` outside ``ci_toolkit.emulator`` that ``source`` imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [
            n for n in names
            if n.split(".")[0] == "ci_toolkit" and not n.startswith("ci_toolkit.emulator")
        ]  # fmt: skip
    return found


def test_the_emulator_imports_nothing_from_the_client_side() -> None:
    modules = sorted(EMULATOR.rglob("*.py"))
    assert len(modules) > 20
    offending = {
        str(path.relative_to(EMULATOR)): imports
        for path in modules
        if (imports := _client_imports(path.read_text(encoding="utf-8")))
    }
    assert offending == {}


def test_the_check_sees_a_client_import() -> None:
    assert _client_imports("from ci_toolkit.resources import data\nimport ci_toolkit.client") == [
        "ci_toolkit.resources",
        "ci_toolkit.client",
    ]
    assert _client_imports("from ci_toolkit.emulator.data import store\nfrom . import x") == []
