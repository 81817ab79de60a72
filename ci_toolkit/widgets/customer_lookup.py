"""``CustomerLookup``: search customers, then a profile card with activity timeline and measures.

Example
-------
>>> from ci_toolkit.widgets import CustomerLookup
>>> lookup = CustomerLookup(ci)  # doctest: +SKIP
>>> lookup.search.value = "Smith"  # doctest: +SKIP
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ci_toolkit import plots
from ci_toolkit.exceptions import QueryError
from ci_toolkit.odata import contains, or_
from ci_toolkit.widgets._common import CIWidget, frame_html, show_figure

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.client import Customer360, CustomerInsights

__all__ = ["CustomerLookup"]

logger = logging.getLogger(__name__)

_RESULT_COLUMNS = ["FullName", "Email", "City", "Country", "LoyaltyTier", "CustomerId"]
_SEARCH_COLUMNS = ["FullName", "Email"]
_CARD_FIELDS = ["Email", "Phone", "City", "Country", "LoyaltyTier", "BirthDate", "CreatedOn"]


def _text(value: object) -> str:
    text = "" if value is None else str(value)
    return "" if text in ("<NA>", "NaT", "nan", "None") else text


class CustomerLookup(CIWidget):
    """Search customers (full-text ``$search``), pick one, see its profile card.

    When the service rejects ``$search``, the lookup falls back to ``contains`` filters on
    ``FullName`` and ``Email``.

    Parameters
    ----------
    ci
        The client.
    limit
        At most this many search results.
    source
        The read path, ``"v1"`` or ``"dataverse"``; the connection's default (``ci.source``)
        when ``None``. Over Dataverse the search is ``contains`` on the full name and e-mail
        columns, and the card shows the same fields under the same names.

    Attributes
    ----------
    search : ipywidgets.Text
        The search text; setting ``.value`` (or *Search*) runs the search.
    table : ipywidgets.HTML
        The results.
    picker : ipywidgets.Dropdown
        The results as "name · email" -> ``CustomerId``; setting ``.value`` opens the card.
    card : ipywidgets.HTML
        The profile card: name, contact fields, measures, latest activities.
    chart : ipywidgets.Output
        The activity timeline (:func:`ci_toolkit.plots.activity_timeline`).
    customer : Customer360 or None
        The customer shown.

    Example
    -------
    >>> lookup = CustomerLookup(ci)  # doctest: +SKIP
    >>> lookup.search.value = "Smith"; lookup.wait_idle()  # doctest: +SKIP
    >>> lookup.picker.value = lookup.picker.options[0][1]  # doctest: +SKIP
    """

    def __init__(
        self, ci: CustomerInsights, *, limit: int = 20, source: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(ci, **kwargs)
        self.source = ci._pick(source)
        self.limit = limit
        self.results: pd.DataFrame | None = None
        self.customer: Customer360 | None = None
        self._loading = False
        self.search = widgets.Text(
            placeholder="Name, e-mail, city...", description="Search", continuous_update=False
        )
        self.search.observe(lambda _: self.run_search(), names="value")
        self.buttons = {"search": widgets.Button(description="Search", icon="search")}
        self.buttons["search"].on_click(lambda _: self.run_search())
        self.table = widgets.HTML()
        self.picker = widgets.Dropdown(description="Customer", options=[])
        self.picker.layout.width = "36em"
        self.picker.observe(self._picked, names="value")
        self.card = widgets.HTML()
        self.chart = widgets.Output()
        self.children = [
            widgets.HTML(
                f"<b>Customer lookup</b> <small>(read through {html.escape(self.source)})</small>"
            ),
            widgets.HBox([self.search, self.buttons["search"]]),
            self.message,
            self.table,
            self.picker,
            self.card,
            self.chart,
        ]

    def run_search(self) -> None:
        """Search for the text in :attr:`search` (in the background)."""
        term = self.search.value.strip()
        if term:
            self.message.value = ""
            self.submit(self._search, term)

    def _query_dataverse(self, term: str) -> pd.DataFrame:
        from ci_toolkit.dataverse.tables import v1_to_logical

        table = "msdynci_customerprofile"
        columns = set(self.ci.dataverse.column_map(table))
        searched = [c for c in map(v1_to_logical, _SEARCH_COLUMNS) if c in columns]
        if not searched:
            raise QueryError(
                "the Dataverse profile table has none of the columns the lookup searches "
                f"({', '.join(_SEARCH_COLUMNS)}); search it with ci.dataverse.query(...)."
            )
        where = or_(*(contains(c, term) for c in searched))
        return self.ci.dataverse.query(
            table, filter=where, top=self.limit, names="v1", progress=False
        )

    def _query(self, term: str) -> pd.DataFrame:
        if self.source == "dataverse":
            return self._query_dataverse(term)
        try:
            return self.ci.query("Customer", search=term, top=self.limit, progress=False)
        except QueryError as exc:
            logger.info("$search refused (%s); filtering on FullName and Email", exc)
            where = or_(contains("FullName", term), contains("Email", term))
            return self.ci.query("Customer", filter=where, top=self.limit, progress=False)

    def _search(self, term: str) -> None:
        self.table.value = f"Searching for {html.escape(term)}..."
        frame = self._query(term)
        self.results = frame
        shown = frame[[c for c in _RESULT_COLUMNS if c in frame.columns]]
        self.table.value = frame_html(
            shown, max_rows=self.limit, empty=f"No customer matches '{term}'."
        )
        options = []
        for row in frame.to_dict("records"):
            label = " · ".join(
                t for t in (_text(row.get("FullName")), _text(row.get("Email"))) if t
            )
            options.append((label or str(row["CustomerId"]), str(row["CustomerId"])))
        self._loading = True
        try:
            self.picker.options = options
            self.picker.value = None
        finally:
            self._loading = False
        self.say(f"{len(frame)} customers found for '{term}'. Pick one to see the profile.")

    def _picked(self, change: dict[str, Any]) -> None:
        if self._loading or change["new"] is None:
            return
        self.message.value = ""
        self.submit(self._show, str(change["new"]))

    def _show(self, customer_id: str) -> None:
        self.card.value = "Loading profile..."
        show_figure(self.chart, None)
        try:
            customer = self.ci.customer(customer_id, source=self.source)
        except Exception:
            self.card.value = ""
            raise
        self.customer = customer
        profile = customer.profile
        fields = "".join(
            f"<tr><th style='text-align:left'>{html.escape(f)}</th>"
            f"<td style='text-align:left'>{html.escape(_text(profile.get(f)))}</td></tr>"
            for f in _CARD_FIELDS
            if f in profile.index and _text(profile.get(f))
        )
        measures = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
            f"<td style='text-align:right'>{html.escape(_text(v))}</td></tr>"
            for k, v in customer.measures.items()
        )
        recent = customer.activities.drop(columns=["CustomerId"], errors="ignore")
        self.card.value = (
            "<div style='border:1px solid #ccc;border-radius:6px;padding:.5em 1em'>"
            f"<h4>{html.escape(customer.name)} <small>{html.escape(customer_id)}</small></h4>"
            "<div style='display:flex;gap:2em;flex-wrap:wrap'>"
            f"<div><b>Profile</b><table>{fields}</table></div>"
            f"<div><b>Measures</b><table>{measures or '<tr><td>none</td></tr>'}</table></div>"
            "</div>"
            f"<b>Latest activities</b> ({len(customer.activities)} in all)"
            + frame_html(recent, max_rows=10, max_cols=7, empty="No activities.")
            + "</div>"
        )
        title = f"Activities of {customer.name}"
        show_figure(self.chart, plots.activity_timeline(customer.activities, title=title))
