"""The explorers as one dashboard app, served by Voilà: no code cells, one kernel per viewer.

:class:`Dashboard` puts the widgets of :mod:`ci_toolkit.widgets` together: the sign-in
panel (with the device code while a sign-in is pending) and the instance picker on top, and
one tab per explorer (entities, segments, exports, customers, jobs). A tab's explorer is
built the first time it is opened, after the sign-in, and built again for another instance.

:func:`serve` (``ci-toolkit app``, ``./dev app``) writes a one-cell notebook that shows a
:class:`Dashboard` and runs Voilà on it. Voilà starts a dedicated kernel for each page a
viewer opens, strips the code, refuses code sent from the page, and shows no tracebacks. Each
kernel connects with the same settings as a notebook (``CI_*`` variables, the config file,
else the embedded emulator with demo data), signs in with a device code inside the page, and
keeps its tokens in that kernel's memory only (``token_cache=False``): a second viewer never
inherits the first one's sign-in.

Example
-------
>>> from ci_toolkit.app import app_notebook
>>> "Dashboard.start()" in app_notebook()
True
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ci_toolkit._defaults import APP_PORT
from ci_toolkit.widgets import (
    CustomerLookup,
    EntityBrowser,
    ExportMonitor,
    InstancePicker,
    JobMonitor,
    SegmentExplorer,
    SignInPanel,
)

if TYPE_CHECKING:
    from ci_toolkit.client import CustomerInsights

__all__ = ["Dashboard", "app_notebook", "serve"]

logger = logging.getLogger(__name__)

#: The tabs: title and the explorer shown in it.
TABS: tuple[tuple[str, Callable[[CustomerInsights], widgets.Widget]], ...] = (
    ("Entities", EntityBrowser),
    ("Segments", SegmentExplorer),
    ("Exports", ExportMonitor),
    ("Customers", CustomerLookup),
    ("Jobs", JobMonitor),
)


class Dashboard(widgets.VBox):  # type: ignore[misc]
    """Sign-in, instance picker and the explorers in tabs, for one signed-in client.

    Parameters
    ----------
    ci
        The client (``ci_toolkit.connect(sign_in=False)``: the panel signs in).

    Attributes
    ----------
    panel : SignInPanel
        Who is signed in; the device code while a sign-in is pending.
    picker : InstancePicker
        The instance every tab works on.
    tabs : ipywidgets.Tab
        One tab per explorer.
    explorers : dict[str, ipywidgets.Widget]
        The explorers built so far, by tab title.

    Example
    -------
    >>> dashboard = Dashboard(ci_toolkit.connect(sign_in=False))  # doctest: +SKIP
    >>> dashboard.show("Segments").wait_idle()  # doctest: +SKIP
    True
    """

    def __init__(self, ci: CustomerInsights, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ci = ci
        self.explorers: dict[str, widgets.Widget] = {}
        self.titles = [title for title, _ in TABS]
        self.panel = SignInPanel(ci)
        self.picker: InstancePicker | None = None
        self.top = widgets.VBox()
        self.tabs = widgets.Tab(
            children=[widgets.HTML("<i>Waiting for the sign-in...</i>") for _ in TABS],
            titles=self.titles,
        )
        self.tabs.observe(self._selected, names="selected_index")
        self.children = [
            widgets.HTML("<h2 style='margin:.2em 0'>Customer Insights explorer</h2>"),
            self.panel,
            self.top,
            self.tabs,
        ]
        # queued behind the panel's sign-in check: the explorers load once signed in
        self.panel.submit(self._signed_in)

    @classmethod
    def start(cls) -> Dashboard:
        """Connect by the usual settings (no token cache: this viewer's sign-in is its own).

        Example
        -------
        >>> Dashboard.start()  # doctest: +SKIP
        """
        import ci_toolkit

        return cls(ci_toolkit.connect(sign_in=False, token_cache=False))

    def _signed_in(self) -> None:
        self.picker = InstancePicker(self.ci)
        self.picker.on_change(lambda _: self._rebuild())
        self.top.children = [self.picker]
        self.show(self.titles[self.tabs.selected_index or 0])

    def _selected(self, change: dict[str, Any]) -> None:
        if change["new"] is not None and self.picker is not None:
            self.show(self.titles[change["new"]])

    def show(self, title: str) -> widgets.Widget:
        """Show the tab ``title``, building its explorer on first use.

        Example
        -------
        >>> dashboard.show("Customers")  # doctest: +SKIP
        """
        index = self.titles.index(title)
        explorer = self.explorers.get(title)
        if explorer is None:
            explorer = dict(TABS)[title](self.ci)
            self.explorers[title] = explorer
            children = list(self.tabs.children)
            children[index] = explorer
            self.tabs.children = children
        if self.tabs.selected_index != index:
            self.tabs.selected_index = index
        return explorer

    def _rebuild(self) -> None:
        """Another instance: close the explorers; the open tab builds its explorer again."""
        for explorer in self.explorers.values():
            explorer.close()
        self.explorers.clear()
        self.tabs.children = [widgets.HTML("<i>Loading...</i>") for _ in TABS]
        self.show(self.titles[self.tabs.selected_index or 0])

    def close(self) -> None:
        """Close the explorers, the picker and the panel."""
        for explorer in getattr(self, "explorers", {}).values():
            explorer.close()
        for part in (getattr(self, "picker", None), getattr(self, "panel", None)):
            if part is not None:
                part.close()
        super().close()


def app_notebook() -> str:
    """The notebook Voilà serves: one code cell showing a :class:`Dashboard`.

    Example
    -------
    >>> import json
    >>> json.loads(app_notebook())["cells"][0]["cell_type"]
    'code'
    """
    cell: dict[str, object] = {
        "cell_type": "code",
        "id": "dashboard",
        "metadata": {},
        "execution_count": None,
        "outputs": [],
        "source": "from ci_toolkit.app import Dashboard\n\nDashboard.start()",
    }
    notebook = {
        "cells": [cell],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1)


def serve(
    *,
    port: int = APP_PORT,
    ip: str = "127.0.0.1",
    open_browser: bool = True,
    extra_args: Sequence[str] = (),
) -> int:
    """Serve the dashboard with Voilà until Ctrl-C; return Voilà's exit code.

    Parameters
    ----------
    port, ip
        Where to listen (only this machine by default).
    open_browser
        Open the app in the default browser.
    extra_args
        More Voilà options, e.g. ``["--Voila.tornado_settings={...}"]``.

    Raises
    ------
    RuntimeError
        Voilà is not installed (``pip install 'ci-toolkit[app]'``).

    Example
    -------
    >>> serve(port=8866)  # doctest: +SKIP
    """
    import importlib.util

    if importlib.util.find_spec("voila") is None:
        raise RuntimeError("the app needs Voilà: pip install 'ci-toolkit[app]' (or run ./dev app)")
    with tempfile.TemporaryDirectory(prefix="ci-toolkit-app-") as folder:
        notebook = Path(folder) / "Customer Insights.ipynb"
        notebook.write_text(app_notebook(), encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "voila",
            str(notebook),
            f"--port={port}",
            f"--Voila.ip={ip}",
            "--Voila.port_retries=0",
            "--strip_sources=True",
            "--show_tracebacks=False",
            "--theme=light",
            *([] if open_browser else ["--no-browser"]),
            *extra_args,
        ]
        logger.info("Serving the dashboard on http://%s:%s/", ip, port)
        try:
            return subprocess.call(command, env=os.environ.copy())
        except KeyboardInterrupt:
            return 0
