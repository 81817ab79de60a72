"""The sync API inside a real Jupyter kernel, whose event loop is already running.

nbclient starts an IPython kernel and runs cells that connect to an emulator (over HTTPS,
with MSAL's device code flow auto-approved) and pull data. The executed notebook is kept in
``test-artifacts/`` for inspection.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_toolkit.emulator import Emulator
from tests.notebooks.kernel import run_cells, stdout, widget_state

CELLS = [
    # 1. a loop is running while the cell executes: asyncio.run() would fail here
    "import asyncio\nloop = asyncio.get_running_loop()\nprint('loop running:', loop.is_running())",
    # 2. connect (device code, auto-approved) and pull several pages
    "import ci_toolkit\n"
    "ci = ci_toolkit.connect()\n"
    "frame = ci.query('Customer', top=250, progress=False)\n"
    "print('rows:', len(frame))\n"
    "print('prompt:', type(ci.session.credential.prompt).__name__)",
    # 3. an error is a typed exception with the service's request id
    "from ci_toolkit.exceptions import NotFoundError\n"
    "try:\n"
    "    ci.session.request_json('GET', 'instances/00000000-0000-0000-0000-000000000001')\n"
    "except NotFoundError as error:\n"
    "    print('error:', type(error).__name__, bool(error.request_id))\n"
    "ci.close()",
]


def test_connect_and_query_inside_a_running_kernel(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = run_cells(
        CELLS, name="kernel_connect", emulator=emulator, tmp_path=tmp_path, monkeypatch=monkeypatch
    )

    loop, pull, failure = (stdout(cell) for cell in notebook.cells)
    assert "loop running: True" in loop
    assert "rows: 250" in pull
    assert "prompt: DeviceCodePrompt" in pull  # the widget, chosen by kernel detection
    widgets = [
        o
        for o in notebook.cells[1].outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widgets, "the device code widget was displayed"
    state = widget_state(notebook)
    values = [str(model["state"].get("value", "")) for model in state.values()]
    assert any("Signed in as" in value for value in values)  # updated on success
    assert not any("Waiting for sign-in" in value for value in values)
    assert "error: NotFoundError True" in failure
