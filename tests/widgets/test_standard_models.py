"""Every widget is built from standard ipywidgets models, so it renders in any front end.

JupyterLab, Notebook 7, VS Code, Voilà and others ship the standard models
(``@jupyter-widgets/controls``, ``base`` and ``output``); a model from any other module would
need a front-end extension and shows "Error displaying widget" without it. Each widget is
built and driven into its fullest state (a segment picked, a customer opened, a job picked),
then every widget model created meanwhile is checked, layouts and styles included.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import ipywidgets
import pytest
import traitlets

from ci_toolkit.app import Dashboard
from ci_toolkit.client import CustomerInsights
from ci_toolkit.widgets import (
    CustomerLookup,
    DeviceCodePrompt,
    EntityBrowser,
    ExportMonitor,
    InstancePicker,
    JobMonitor,
    SegmentExplorer,
    SignInPanel,
)
from tests.widgets.conftest import settle

#: The model modules every Jupyter front end with ipywidgets 8 support knows.
STANDARD = {"@jupyter-widgets/controls", "@jupyter-widgets/base", "@jupyter-widgets/output"}


def _live() -> dict[str, ipywidgets.Widget]:
    """Every widget model alive in this process, by model id."""
    registry: dict[str, ipywidgets.Widget] = ipywidgets.widgets.widget._instances
    return dict(registry)


@pytest.fixture
def new_models() -> Callable[[], list[ipywidgets.Widget]]:
    """The widget models created since the test started."""
    before = set(_live())
    return lambda: [w for key, w in _live().items() if key not in before]


def _non_standard(models: list[ipywidgets.Widget]) -> list[str]:
    return [
        f"{type(w).__name__}: {w._model_module}/{w._model_name}, view {w._view_module}"
        for w in models
        if w._model_module not in STANDARD or (w._view_module or w._model_module) not in STANDARD
    ]


def test_every_widget_model_is_standard(
    make: Callable[..., Any],
    admin: CustomerInsights,
    new_models: Callable[[], list[ipywidgets.Widget]],
) -> None:
    built = [make(cls, admin) for cls in (SignInPanel, InstancePicker, EntityBrowser,
                                          SegmentExplorer, ExportMonitor, CustomerLookup,
                                          JobMonitor)]  # fmt: skip
    _, _, browser, explorer, monitor, lookup, jobs = built
    browser.picker.value = "UnifiedActivity"
    explorer.picker.value = "HighValueCustomers"
    monitor.picker.value = (monitor.picker.options[0][1],)
    lookup.search.value = "Smith"
    settle(lookup)
    lookup.picker.value = lookup.picker.options[0][1]
    jobs.picker.value = jobs.picker.options[0][1]
    for widget in built:
        settle(widget)
    assert lookup.customer is not None  # the fullest state really was reached
    prompt = DeviceCodePrompt(display=False)
    prompt("https://127.0.0.1/devicelogin", "ABCD1234", datetime.now(UTC))
    prompt.finished(success=True, message="Signed in.")

    models = new_models()
    names = {w._model_name for w in models}
    assert {"DropdownModel", "OutputModel", "HTMLModel", "LayoutModel"} <= names
    assert _non_standard(models) == []
    for widget in built:
        widget.close()


def test_the_dashboard_uses_standard_models_only(
    admin: CustomerInsights, new_models: Callable[[], list[ipywidgets.Widget]]
) -> None:
    dashboard = Dashboard(admin)
    try:
        settle(dashboard.panel)
        for title in dashboard.titles:
            explorer = dashboard.show(title)
            settle(explorer)
            assert explorer.last_error is None, explorer.message.value
        assert dashboard.tabs.selected_index == len(dashboard.titles) - 1
        assert _non_standard(new_models()) == []
    finally:
        dashboard.close()


def test_a_non_standard_model_is_caught(new_models: Callable[[], list[ipywidgets.Widget]]) -> None:
    """The check itself can fail: a widget from a front-end extension is reported."""

    class Custom(ipywidgets.DOMWidget):  # type: ignore[misc]
        _model_module = traitlets.Unicode("my-extension").tag(sync=True)
        _view_module = traitlets.Unicode("my-extension").tag(sync=True)

    widget = Custom()
    try:
        assert _non_standard(new_models()) == [
            "Custom: my-extension/DOMWidgetModel, view my-extension"
        ]
    finally:
        widget.close()
