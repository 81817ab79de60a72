"""Run code cells in a real IPython kernel (nbclient) connected to an emulator by CI_* settings.

The kernel inherits this process's environment, so the settings are set with ``monkeypatch``;
config and token cache folders point under ``tmp_path``. The executed notebook is written to
``test-artifacts/<name>.ipynb`` whatever happens, for inspection.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from ci_toolkit.emulator import Emulator
from tests.support import emulator_env

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def run_cells(
    cells: Sequence[str],
    *,
    name: str,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> nbformat.NotebookNode:
    """Execute ``cells`` in a new kernel pointed at ``emulator``; fail the test on an error."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CI_CLIENT_SECRET", raising=False)
    for key, value in emulator_env(emulator).items():
        monkeypatch.setenv(key, value)

    notebook = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    notebook.cells = [
        nbformat.v4.new_code_cell(source)  # type: ignore[no-untyped-call]
        for source in cells
    ]
    execute(notebook, artifact=ARTIFACTS / f"{name}.ipynb")
    return notebook


def execute(notebook: nbformat.NotebookNode, *, artifact: Path, cwd: Path = ROOT) -> None:
    """Run every cell of ``notebook`` in a new kernel started in ``cwd``; keep it at ``artifact``.

    A failing cell fails the test, naming where the executed notebook was saved.
    """
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(cwd)}}
    )
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{artifact.name}: a cell failed (see {artifact}): {error}")
    finally:
        artifact.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, artifact)  # type: ignore[no-untyped-call]


def stdout(cell: nbformat.NotebookNode) -> str:
    """What a cell printed."""
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def widget_state(notebook: nbformat.NotebookNode) -> dict[str, Any]:
    """The saved widget models of an executed notebook, by model id."""
    state: dict[str, Any] = notebook.metadata["widgets"][
        "application/vnd.jupyter.widget-state+json"
    ]["state"]
    return state
