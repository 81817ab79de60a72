"""The browser harness itself: a widget notebook renders and a failing cell is caught."""

from __future__ import annotations

import json
import threading
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import Lab, screenshot
from tests.browser.notebook_runner import _kernel_idle, run_notebook

if TYPE_CHECKING:
    from playwright.sync_api import Page


def _write_notebook(lab: Lab, name: str, *sources: str) -> None:
    cells = [
        {"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
        for s in sources
    ]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (lab.root / name).write_text(json.dumps(nb), encoding="utf-8")


def test_widgets_render_in_jupyterlab(page: Page, lab: Lab) -> None:
    _write_notebook(
        lab,
        "_harness_widgets.ipynb",
        "import ipywidgets as w\nw.Dropdown(options=['a', 'b'], description='pick')",
        "print('done', 6 * 7)",
    )
    result = run_notebook(page, lab, "_harness_widgets.ipynb")
    screenshot(page, "harness-widgets")
    assert result.failures() == []
    assert result.widget_views >= 1
    assert page.locator(".jp-OutputArea-output .widget-dropdown select").count() == 1
    assert any("done 42" in o for o in result.outputs)


def test_a_failing_cell_is_reported(page: Page, lab: Lab) -> None:
    _write_notebook(lab, "_harness_error.ipynb", "raise ValueError('boom')")
    result = run_notebook(page, lab, "_harness_error.ipynb")
    assert any("ValueError" in o and "boom" in o for o in result.failures()), result.outputs


@contextmanager
def _kernel_list_server(answers: list[tuple[int, object]]) -> Iterator[Lab]:
    """A server whose ``/api/kernels`` gives ``answers`` in turn (the last one repeats)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answers.pop(0) if len(answers) > 1 else answers[0]
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Lab(f"http://127.0.0.1:{server.server_port}", "t", Path("."), {})
    finally:
        server.shutdown()
        server.server_close()


def test_a_kernel_list_caught_mid_start_means_not_idle_yet() -> None:
    # jupyter_server answers 500 when the list catches a kernel without last_activity yet.
    idle = [{"execution_state": "idle", "connections": 1}]
    with _kernel_list_server([(500, {"message": "Unhandled error"}), (200, idle)]) as lab:
        assert _kernel_idle(lab, connected=True) is False
        assert _kernel_idle(lab, connected=True) is True
    # A wrong token is no race: it fails.
    with (
        _kernel_list_server([(403, {"message": "Forbidden"})]) as lab,
        pytest.raises(urllib.error.HTTPError),
    ):
        _kernel_idle(lab, connected=True)
