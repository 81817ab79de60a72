"""The sync API inside a real Jupyter kernel, whose event loop is already running.

nbclient starts an IPython kernel and runs cells that connect to an emulator (over HTTPS,
with MSAL's device code flow auto-approved) and pull data. The executed notebook is kept in
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
ARTIFACT = ROOT / "test-artifacts" / "kernel_connect.ipynb"

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


def _stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def test_connect_and_query_inside_a_running_kernel(
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

    loop, pull, failure = (_stdout(cell) for cell in notebook.cells)
    assert "loop running: True" in loop
    assert "rows: 250" in pull
    assert "prompt: DeviceCodePrompt" in pull  # the widget, chosen by kernel detection
    widgets = [
        o
        for o in notebook.cells[1].outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widgets, "the device code widget was displayed"
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    values = [str(model["state"].get("value", "")) for model in state.values()]
    assert any("Signed in as" in value for value in values)  # updated on success
    assert not any("Waiting for sign-in" in value for value in values)
    assert "error: NotFoundError True" in failure
