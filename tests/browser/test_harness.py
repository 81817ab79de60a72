"""The browser harness itself: a widget notebook renders and a failing cell is caught."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.browser.conftest import screenshot
from tests.browser.notebook_runner import run_notebook

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import Lab


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
