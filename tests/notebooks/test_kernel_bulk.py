"""A parallel bulk pull inside a real Jupyter kernel, whose event loop is already running.

The pull's worker threads must not need an event loop of their own (no ``asyncio.run``),
and the cell shows exactly one progress bar. The executed notebook is kept in
``test-artifacts/`` for inspection.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_toolkit.emulator import Emulator
from tests.notebooks.kernel import run_cells, stdout, widget_state

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


def test_parallel_pull_inside_a_running_kernel(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = run_cells(
        CELLS, name="kernel_bulk", emulator=emulator, tmp_path=tmp_path, monkeypatch=monkeypatch
    )

    loop, pull, batches = (stdout(cell) for cell in notebook.cells)
    assert "loop running: True" in loop
    assert "rows: 1000 True True" in pull
    assert "count: 1000" in pull
    assert "batches: [300, 300, 300, 100]" in batches
    data = [o.get("data", {}) for o in notebook.cells[1].outputs]
    bars = [d for d in data if "application/vnd.jupyter.widget-view+json" in d]
    sign_in = [d for d in bars if "Signed in" in str(d) or "devicelogin" in str(d)]
    assert len(bars) - len(sign_in) >= 1  # the progress bar, shown as a widget
    state = widget_state(notebook)
    progress = [m for m in state.values() if m.get("model_name") == "FloatProgressModel"]
    assert len(progress) == 1  # exactly one bar for the whole pull
    assert progress[0]["state"].get("max") == 1000
