"""Open a notebook in JupyterLab or Notebook 7, run every cell and read back what it shows.

Both front ends are served by the same Jupyter server (Notebook 7 is a server extension next
to JupyterLab's), share the Run menu's *Run All Cells* command and JupyterLab's DOM classes.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import Lab

#: What an output area shows when a widget or a cell failed.
FAILURE_MARKERS = ("Error displaying widget", "Traceback (most recent call last)", "Error:")


@dataclass
class RunResult:
    """The texts of all output areas and how many widget views rendered."""

    outputs: list[str]
    widget_views: int

    def failures(self) -> list[str]:
        """Outputs that show a traceback or a widget that could not render."""
        return [o for o in self.outputs if any(marker in o for marker in FAILURE_MARKERS)]


def _kernel_idle(lab: Lab, *, connected: bool) -> bool:
    try:
        kernels = lab.api("/api/kernels")
    except urllib.error.HTTPError as error:
        # jupyter_server answers 500 to a kernel list that catches a kernel in the first
        # milliseconds of its start (no ``last_activity`` yet, a TraitError): not idle yet.
        if error.code != 500:
            raise
        return False
    return bool(kernels) and all(
        k["execution_state"] == "idle" and (not connected or k["connections"] >= 1) for k in kernels
    )


def wait_for(condition: object, *, timeout: float, what: str, interval: float = 0.25) -> None:
    """Poll ``condition()`` until it is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


#: Where each front end opens a notebook (``?reset``: JupyterLab starts from an empty
#: workspace, so only this notebook is open).
FRONT_ENDS = {
    "lab": "/lab/tree/{name}?reset&token={token}",
    "notebook": "/notebooks/{name}?token={token}",
}


def run_notebook(
    page: Page, lab: Lab, name: str, *, timeout: float = 240, front_end: str = "lab"
) -> RunResult:
    """Open ``name`` (relative to the server's root) in ``front_end`` (``lab`` or
    ``notebook``), run all cells, wait until the kernel rests."""
    for kernel in lab.api("/api/kernels"):
        # one notebook at a time: a fresh kernel per notebook
        request = urllib.request.Request(
            f"{lab.url}/api/kernels/{kernel['id']}?token={lab.token}", method="DELETE"
        )
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as error:
            if error.code != 404:  # 404: that kernel was already shutting down
                raise
    page.goto(lab.url + FRONT_ENDS[front_end].format(name=name, token=lab.token))
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    wait_for(lambda: _kernel_idle(lab, connected=True), timeout=60, what="the kernel to start")
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()

    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")

    def started() -> bool:
        return any(t.strip()[1:-2].isdigit() for t in prompts.all_inner_texts())

    def finished() -> bool:
        busy = page.locator(".jp-InputPrompt", has_text="[*]").count()
        return busy == 0 and _kernel_idle(lab, connected=True)

    wait_for(started, timeout=timeout, what=f"the first cell of {name} to run")
    wait_for(finished, timeout=timeout, what=f"{name} to finish running")
    time.sleep(1.0)  # let the last widget views render
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    views = page.locator(".jp-OutputArea-output .jupyter-widgets").count()
    return RunResult(outputs=outputs, widget_views=views)
