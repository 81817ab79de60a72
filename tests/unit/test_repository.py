"""Repository rules that hold for every commit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tracked(pattern: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", pattern],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [ROOT / line for line in out.splitlines() if line]


def notebook_problems(path: Path) -> list[str]:
    """Why ``path`` may not be committed: outputs or execution counts left in code cells."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"{path.name} cell {index}: has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"{path.name} cell {index}: has an execution count")
    return problems


def test_committed_notebooks_hold_no_outputs_and_no_execution_counts() -> None:
    problems = [p for nb in _tracked("*.ipynb") for p in notebook_problems(nb)]
    assert not problems, (
        "strip them with `nbstripout` or Jupyter's Clear All Outputs:\n" + "\n".join(problems)
    )


def test_notebook_check_catches_outputs(tmp_path: Path) -> None:
    dirty = {
        "cells": [
            {"cell_type": "code", "source": "1", "execution_count": 3, "outputs": [{"x": 1}]},
            {"cell_type": "markdown", "source": "# ok"},
        ]
    }
    path = tmp_path / "dirty.ipynb"
    path.write_text(json.dumps(dirty), encoding="utf-8")
    assert notebook_problems(path) == [
        "dirty.ipynb cell 0: has outputs",
        "dirty.ipynb cell 0: has an execution count",
    ]


def test_no_tls_verification_is_ever_turned_off() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in _tracked("ci_toolkit/*.py")
        if "verify=False" in p.read_text(encoding="utf-8").replace(" ", "")
    ]
    assert not offenders
