"""``EntityBrowser``: entities with type and row count; one entity's attributes and sample rows.

Example
-------
>>> from ci_toolkit.widgets import EntityBrowser
>>> browser = EntityBrowser(ci)  # doctest: +SKIP
>>> browser.picker.value = "Customer"  # doctest: +SKIP
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ci_toolkit.exceptions import CustomerInsightsError
from ci_toolkit.widgets._common import CIWidget, frame_html

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.client import CustomerInsights

__all__ = ["EntityBrowser"]

logger = logging.getLogger(__name__)

_LIST_COLUMNS = [
    "name",
    "entityType",
    "dataSourceName",
    "rowCount",
    "attributeCount",
    "refreshTime",
]
_ATTRIBUTE_COLUMNS = ["name", "dataType", "semanticType", "isKey", "isTimestamp", "isSearchable"]


class EntityBrowser(CIWidget):
    """Entities with type and row counts; pick one for its attributes and a sample of rows.

    Parameters
    ----------
    ci
        The client.
    sample
        How many rows to show of the chosen entity.

    Attributes
    ----------
    table : ipywidgets.HTML
        The entities: name, type, data source, row count, attribute count, refresh time.
    picker : ipywidgets.Dropdown
        Entity names; setting ``.value`` shows that entity.
    attributes, rows : ipywidgets.HTML
        The chosen entity's attributes and its first ``sample`` rows.
    entities : pandas.DataFrame or None
        The entity list as last loaded, with ``rowCount``.

    Example
    -------
    >>> browser = EntityBrowser(ci, sample=5)  # doctest: +SKIP
    >>> browser.wait_idle(); browser.entities["rowCount"].sum()  # doctest: +SKIP
    """

    def __init__(self, ci: CustomerInsights, *, sample: int = 10, **kwargs: Any) -> None:
        super().__init__(ci, **kwargs)
        self.sample = sample
        self.entities: pd.DataFrame | None = None
        self._loading = False
        self.table = widgets.HTML("Loading entities...")
        self.picker = widgets.Dropdown(description="Entity", options=[])
        self.picker.layout.width = "30em"
        self.picker.observe(self._picked, names="value")
        self.buttons = {"reload": widgets.Button(description="Reload list", icon="list")}
        self.buttons["reload"].on_click(lambda _: self.reload())
        self.attributes = widgets.HTML()
        self.rows = widgets.HTML()
        self.children = [
            widgets.HTML("<b>Entities</b>"),
            self.table,
            widgets.HBox([self.picker, self.buttons["reload"]]),
            self.message,
            self.attributes,
            self.rows,
        ]
        self.reload()

    def reload(self) -> None:
        """Load the entity list again (in the background)."""
        self.submit(self._load)

    def _row_count(self, name: str) -> Any:
        try:
            return self.ci.entity_size(name).get("rowCount")
        except CustomerInsightsError as exc:  # one entity without a size keeps the list
            logger.info("No size for entity %s: %s", name, exc)
            return None

    def _load(self) -> None:
        frame = self.ci.entities().copy()
        frame["rowCount"] = [self._row_count(str(n)) for n in frame["name"]]
        self.entities = frame
        self.table.value = frame_html(
            frame[[c for c in _LIST_COLUMNS if c in frame.columns]],
            max_rows=100,
            empty="No entities.",
        )
        names = [str(n) for n in frame["name"]]
        current = self.picker.value
        self._loading = True
        try:
            self.picker.options = names
            self.picker.value = current if current in names else None
        finally:
            self._loading = False

    def _picked(self, change: dict[str, Any]) -> None:
        if self._loading or change["new"] is None:
            return
        self.message.value = ""
        self.submit(self._show, str(change["new"]))

    def _show(self, name: str) -> None:
        self.attributes.value = f"Loading {html.escape(name)}..."
        self.rows.value = ""
        try:
            attributes = self.ci.attributes(name)
            self.attributes.value = f"<b>Attributes of {html.escape(name)}</b>" + frame_html(
                attributes[[c for c in _ATTRIBUTE_COLUMNS if c in attributes.columns]],
                max_rows=200,
                empty="No attributes.",
            )
            sample = self.ci.query(name, top=self.sample, progress=False)
            self.rows.value = f"<b>First {self.sample} rows</b>" + frame_html(
                sample, max_rows=self.sample, max_cols=10, empty="No rows."
            )
        except Exception:
            self.attributes.value = ""
            raise
