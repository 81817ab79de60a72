"""The package's layers point one way (GUIDE.md): config and auth below the HTTP session, the
resources above it, widgets above the resources and never on HTTP; the emulator is a room of
its own that imports nothing from the client side, and the client side only reaches it
through ``connection`` (the embedded default) and the command line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ci_toolkit

PACKAGE = Path(ci_toolkit.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (at any depth: lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def _reaches(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in _imports(path) if m.startswith(forbidden))


@pytest.mark.parametrize("path", _modules("auth"), ids=lambda p: p.name)
def test_auth_sits_below_the_http_session(path: Path) -> None:
    above = ("ci_toolkit.http", "ci_toolkit.bulk", "ci_toolkit.resources", "ci_toolkit.widgets",
             "ci_toolkit.client", "ci_toolkit.connection", "ci_toolkit.emulator")  # fmt: skip
    assert _reaches(path, above) == []


@pytest.mark.parametrize("path", _modules("emulator"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_emulator_imports_nothing_from_the_client_side(path: Path) -> None:
    imported = {m for m in _imports(path) if m.startswith("ci_toolkit")}
    assert {m for m in imported if not m.startswith("ci_toolkit.emulator")} == set()


def test_only_connection_and_the_command_line_start_the_emulator() -> None:
    users = {
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "emulator" not in p.relative_to(PACKAGE).parts[:1]
        and _reaches(p, ("ci_toolkit.emulator",))
    }
    assert users <= {"connection.py", "cli.py"}, users


@pytest.mark.parametrize("path", _modules("widgets"), ids=lambda p: p.name)
def test_widgets_never_speak_http(path: Path) -> None:
    assert _reaches(path, ("httpx", "ci_toolkit.http", "ci_toolkit.bulk")) == []
