"""A parallel bulk pull inside a real Jupyter kernel, whose event loop is already running.

The pull's worker threads must not need an event loop of their own (no ``asyncio.run``),
and the cell shows exactly one progress bar. The executed notebook is kept in
``test-artifacts/`` for inspection.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from ci_toolkit.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "test-artifacts" / "kernel_bulk.ipynb"

CELLS = [
    "import asyncio\nprint('loop running:', asyncio.get_running_loop().is_running())",
    "import ci_toolkit\n"
    "ci = ci_toolkit.connect()\n"
    "ci.attributes('Customer')  # sign in before the pull\n"
    "df = ci.query('Customer', count=True, max_concurrency=6)\n"
    "ids = df['CustomerId']\n"
    "print('rows:', len(df), ids.is_unique, ids.is_monotonic_increasing)\n"
    "print('count:', df.attrs['odata']['count'])",
    "batches = [len(b) for b in ci.iter_batches('Customer', batch_rows=300, progress=False)]\n"
    "print('batches:', batches)\n"
    "ci.close()",
]


def _stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def test_parallel_pull_inside_a_running_kernel(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = emulator.settings
    environment = {
        "CI_TENANT_ID": s.tenant_id,
        "CI_CLIENT_ID": s.client_id,
        "CI_SUBSCRIPTION_KEY": s.subscription_key,
        "CI_AUTHORITY": s.authority,
        "CI_BASE_URL": s.base_url,
        "CI_CA_FILE": str(s.ca_file),
        "CI_INSTANCE_ID": s.instance_id,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    monkeypatch.delenv("CI_CLIENT_SECRET", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)  # the kernel inherits this process's environment

    notebook = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    notebook.cells = [
        nbformat.v4.new_code_cell(source)  # type: ignore[no-untyped-call]
        for source in CELLS
    ]
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(ROOT)}}
    )
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"a cell failed (see {ARTIFACT}): {error}")
    finally:
        ARTIFACT.parent.mkdir(exist_ok=True)
        nbformat.write(notebook, ARTIFACT)  # type: ignore[no-untyped-call]

    loop, pull, batches = (_stdout(cell) for cell in notebook.cells)
    assert "loop running: True" in loop
    assert "rows: 1000 True True" in pull
    assert "count: 1000" in pull
    assert "batches: [300, 300, 300, 100]" in batches
    data = [o.get("data", {}) for o in notebook.cells[1].outputs]
    bars = [d for d in data if "application/vnd.jupyter.widget-view+json" in d]
    sign_in = [d for d in bars if "Signed in" in str(d) or "devicelogin" in str(d)]
    assert len(bars) - len(sign_in) >= 1  # the progress bar, shown as a widget
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    progress = [m for m in state.values() if m.get("model_name") == "FloatProgressModel"]
    assert len(progress) == 1  # exactly one bar for the whole pull
    assert progress[0]["state"].get("max") == 1000
