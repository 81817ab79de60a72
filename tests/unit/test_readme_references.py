"""Every test the README names as backing a promise exists (file and test function)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")

#: `tests/x.py`, `tests/x.py::test_name` and, after one of those in the same table cell,
#: `::test_other` for another test in that file.
_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`")


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def references(text: str) -> list[tuple[str, str | None]]:
    """(file, test or None) for every test named in ``text``, continuations resolved."""
    found: list[tuple[str, str | None]] = []
    for line in text.splitlines():
        current: str | None = None
        for match in _REFERENCE.finditer(line):
            path, name = match.groups()
            if path:
                current = path
            if current is None or (path is None and name is None):
                continue
            found.append((current, name))
    return found


def test_every_test_the_readme_names_exists() -> None:
    named = references(README)
    assert len(named) > 40  # the promise tables are there
    missing = []
    for path, name in named:
        file = ROOT / path
        if not file.is_file():
            missing.append(path)
        elif name is not None and name not in functions_in(file):
            missing.append(f"{path}::{name}")
    assert missing == []


def test_a_missing_test_is_noticed() -> None:
    named = references("| promise | `tests/unit/test_readme_references.py::test_nothing` |")
    assert named == [("tests/unit/test_readme_references.py", "test_nothing")]
    assert "test_nothing" not in functions_in(Path(__file__))
    assert references("`tests/a.py::test_x`, `::test_y`") == [
        ("tests/a.py", "test_x"),
        ("tests/a.py", "test_y"),
    ]
