"""Each walkthrough notebook in JupyterLab and in Notebook 7: run all cells, every widget and
chart renders.

The lab serves a copy of ``notebooks/``, so nothing the browser does can reach the
committed notebooks. Screenshots of each executed notebook (the whole notebook, not only
the first screen) land in ``test-artifacts/browser/notebook-<name>.png``.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import ROOT, screenshot
from tests.browser.notebook_runner import run_notebook, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import Lab

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

#: Widget output areas (ipywidgets 8) and the images charts render as.
WIDGET = ".jp-OutputArea-output .jupyter-widgets"
IMAGE = ".jp-OutputArea-output img"


def _sources(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _expects_widgets(path: Path) -> bool:
    """Widget notebooks import ci_toolkit.widgets or show connect()'s device code widget."""
    code = "\n".join(_sources(path))
    return "ci_toolkit.widgets" in code or ("connect()" in code and "TerminalPrompt" not in code)


def _charts(path: Path) -> int:
    """Cells that draw a matplotlib figure (widget charts come on top of these)."""

    def draws(source: str) -> bool:
        source = source.rstrip()
        plotted = re.search(r"\.plot\.\w+\(.*\);$", source, re.S)  # pandas' plot
        return "plt.show()" in source or source.endswith("\nfig") or plotted is not None

    return sum(1 for s in _sources(path) if draws(s))


def _screenshot_whole_notebook(page: Page, name: str) -> Path:
    """Grow the viewport to the notebook's height (JupyterLab scrolls inside a panel)."""
    if page.locator("#jp-left-stack").is_visible():
        page.keyboard.press("Control+b")  # hide the file browser: more room for the notebook
    height = page.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll("
        "'.jp-WindowedPanel-outer, .jp-Notebook'), e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 200, 30_000)})
    page.evaluate(
        "() => document.querySelectorAll('.jp-WindowedPanel-outer, .jp-Notebook')"
        ".forEach(e => { e.scrollTop = 0; })"
    )
    time.sleep(1.0)  # let the notebook lay out in the taller window
    try:
        return screenshot(page, name)
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


@pytest.mark.parametrize("front_end", ["lab", "notebook"], ids=["jupyterlab", "notebook7"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_the_front_end(page: Page, lab: Lab, path: Path, front_end: str) -> None:
    result = run_notebook(page, lab, path.name, front_end=front_end)
    suffix = "" if front_end == "lab" else "-notebook7"
    shot = _screenshot_whole_notebook(page, f"notebook-{path.stem}{suffix}")

    assert result.failures() == [], f"see {shot}"
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()
    assert prompts, "the notebook shows its code cells"
    assert all(p.strip()[1:-2].isdigit() for p in prompts), f"a cell did not run: {prompts}"
    if _expects_widgets(path):
        assert result.widget_views > 0, f"no widget rendered (see {shot})"
    else:
        assert result.widget_views == 0, "the no-widgets notebook shows a widget"
    images = page.locator(IMAGE).count()
    assert images >= _charts(path), f"{images} images for {_charts(path)} charts (see {shot})"
    for image in page.locator(IMAGE).all():  # every chart decoded to a real picture
        assert image.evaluate("i => i.naturalWidth") > 100


def test_segment_explorer_in_the_browser(page: Page, lab: Lab) -> None:
    """Pick a segment in the explorer's dropdown: its definition, chart and members show."""
    run_notebook(page, lab, "02_segments.ipynb")
    explorer = page.locator(".jp-OutputArea-output .widget-vbox", has=page.locator("select")).first
    select = explorer.locator(".widget-dropdown select").first
    labels = [t.replace("\xa0", " ") for t in select.locator("option").all_inner_texts()]
    assert "High value customers (HighValueCustomers)" in labels
    chart = explorer.locator(".widget-output img")
    wait_for(
        lambda: chart.count() == 1, timeout=30, what="the chart of the segment the notebook picked"
    )
    before = chart.get_attribute("src")

    select.select_option(index=labels.index("Young adults (YoungAdults)"))
    wait_for(
        lambda: "BirthDate" in explorer.inner_text() and chart.get_attribute("src") != before,
        timeout=30,
        what="the explorer to show the picked segment with its own chart",
    )
    wait_for(lambda: "Members (first" in explorer.inner_text(), timeout=30, what="members")
    explorer.scroll_into_view_if_needed()
    screenshot(page, "segment-explorer-picked")
    assert chart.evaluate("i => i.naturalWidth") > 100
    assert "Young adults" in explorer.inner_text()
    assert "Error" not in explorer.locator(".widget-html").first.inner_text()

    # Refresh re-evaluates the segment on a background thread; its progress shows live.
    explorer.get_by_role("button", name="Refresh").click()
    wait_for(
        lambda: (
            "successful" in explorer.inner_text() and "1/1 tasks finished" in explorer.inner_text()
        ),
        timeout=60,
        what="the refresh job to finish in the explorer",
    )
    screenshot(page, "segment-explorer-refreshed")
