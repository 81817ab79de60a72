"""``SegmentExplorer``: segments with state and size; one segment's definition, history and members.

Activate, deactivate and refresh act on the chosen segment when the signed-in role allows it
(admin or contributor); for a viewer they stay disabled and the reason is shown. Refresh
submits a ``segmentation`` job for the segment and follows it on a background thread.

Example
-------
>>> from ci_toolkit.widgets import SegmentExplorer
>>> explorer = SegmentExplorer(ci)  # doctest: +SKIP
>>> explorer  # doctest: +SKIP
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ci_toolkit import plots
from ci_toolkit.widgets._common import (
    WRITE_ROLES,
    CIWidget,
    JobProgress,
    badge,
    frame_html,
    show_figure,
)

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.client import CustomerInsights, JobHandle

__all__ = ["SegmentExplorer"]

logger = logging.getLogger(__name__)

_LIST_COLUMNS = ["friendlyName", "name", "state", "size", "lastEvaluation", "jobStatus"]
_MEMBER_COLUMNS = ["FullName", "Email", "City", "Country", "LoyaltyTier", "CustomerId"]
_CONDITION_COLUMNS = ["rowset", "logicalOperator", "attribute", "comparisonOperator", "value"]


class SegmentExplorer(CIWidget):
    """Browse segments; see one's definition, size history and members; (de)activate, refresh.

    Parameters
    ----------
    ci
        The client.
    sample
        How many members to show.
    days
        Days of size history to chart.
    poll_interval
        Seconds between polls of a running refresh job.
    source
        The path the members are read through, ``"v1"`` or ``"dataverse"``; the
        connection's default (``ci.source``) when ``None``. The list, definitions and size
        history exist only on v1: on a Dataverse-only connection, type a segment name in
        :attr:`name` to see its members.

    Attributes
    ----------
    table : ipywidgets.HTML
        The segments: name, state badge, size, last evaluation.
    picker : ipywidgets.Dropdown
        Friendly name -> segment ``name``; setting ``.value`` shows that segment.
    details, members : ipywidgets.HTML
        The chosen segment's definition and a sample of its members.
    chart : ipywidgets.Output
        The size history chart (a PNG from :func:`ci_toolkit.plots.segment_history_plot`).
    buttons : dict[str, ipywidgets.Button]
        ``activate``, ``deactivate``, ``refresh`` and ``reload``.
    reason : ipywidgets.HTML
        Why the action buttons are disabled (role), when they are.
    progress : JobProgress
        The running refresh job's progress.
    name : ipywidgets.Text
        A segment name to show members of (Dataverse-only connections, where there is no
        segment list).
    path : ipywidgets.HTML
        Which path the members come from.

    Example
    -------
    >>> explorer = SegmentExplorer(ci)  # doctest: +SKIP
    >>> explorer.picker.value = "HighValueCustomers"  # doctest: +SKIP
    >>> explorer.buttons["refresh"].click()  # doctest: +SKIP
    """

    def __init__(
        self,
        ci: CustomerInsights,
        *,
        sample: int = 10,
        days: int = 90,
        source: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(ci, **kwargs)
        self.source = ci._pick(source)
        self.has_v1 = "v1" in ci.sources
        self.sample = sample
        self.days = days
        self.segments: pd.DataFrame | None = None
        self.user_role = ""
        self.job: JobHandle | None = None
        self._loading = False
        self.table = widgets.HTML("Loading segments...")
        self.picker = widgets.Dropdown(description="Segment", options=[])
        self.picker.layout.width = "30em"
        self.picker.observe(self._picked, names="value")
        self.buttons = {
            "activate": widgets.Button(description="Activate", icon="play", disabled=True),
            "deactivate": widgets.Button(description="Deactivate", icon="pause", disabled=True),
            "refresh": widgets.Button(description="Refresh", icon="refresh", disabled=True),
            "reload": widgets.Button(description="Reload list", icon="list"),
        }
        self.buttons["activate"].on_click(lambda _: self.submit(self._set_state, True))
        self.buttons["deactivate"].on_click(lambda _: self.submit(self._set_state, False))
        self.buttons["refresh"].on_click(lambda _: self.submit(self._refresh))
        self.buttons["reload"].on_click(lambda _: self.reload())
        self.reason = widgets.HTML()
        self.progress = JobProgress()
        self.details = widgets.HTML()
        self.chart = widgets.Output()
        self.members = widgets.HTML()
        self.name = widgets.Text(
            description="Segment", placeholder="Segment name", continuous_update=False
        )
        self.name.observe(self._named, names="value")
        self.name.layout.display = None if not self.has_v1 else "none"
        self.picker.layout.display = "none" if not self.has_v1 else None
        self.path = widgets.HTML(
            f"<small>Members read through <b>{html.escape(self.source)}</b></small>"
        )
        self.children = [
            widgets.HTML("<b>Segments</b>"),
            self.table,
            self.picker,
            self.name,
            self.path,
            widgets.HBox(list(self.buttons.values())),
            self.reason,
            self.progress,
            self.message,
            self.details,
            self.chart,
            self.members,
        ]
        self.reload()

    # --- loading ------------------------------------------------------------------------------
    def reload(self) -> None:
        """Load the segment list (and the chosen segment) again, in the background."""
        self.submit(self._load)

    def _load(self) -> None:
        if not self.has_v1:
            self.table.value = (
                "Segment lists, definitions and size history come from the v1 API, which "
                "this connection does not have; type a segment name to see its members "
                "(read through Dataverse)."
            )
            return
        self.user_role = self.role()
        frame = self.ci.segments()
        self.segments = frame
        shown = frame[[c for c in _LIST_COLUMNS if c in frame.columns]].copy()
        shown["state"] = [badge(s) for s in shown["state"]]
        self.table.value = frame_html(
            shown, max_rows=50, html_columns=["state"], empty="No segments."
        )
        options = [
            (f"{label if isinstance(label, str) and label else name} ({name})", name)
            for name, label in zip(frame["name"].astype(str), frame["friendlyName"], strict=True)
        ]
        current = self.picker.value
        self._loading = True
        try:
            self.picker.options = options
            self.picker.value = current if current in [v for _, v in options] else None
        finally:
            self._loading = False
        self._update_buttons()
        if self.picker.value is not None:
            self._show(str(self.picker.value))

    def _picked(self, change: dict[str, Any]) -> None:
        if self._loading:
            return
        self._update_buttons()
        self.message.value = ""
        if change["new"] is not None:
            self.submit(self._show, str(change["new"]))

    def _named(self, change: dict[str, Any]) -> None:
        name = str(change["new"] or "").strip()
        self.message.value = ""
        if name:
            self.submit(self._show_members, name)

    def _show_members(self, name: str) -> None:
        members = self.ci.segment_members(name, top=self.sample, progress=False, source=self.source)
        first = [c for c in _MEMBER_COLUMNS if c in members.columns]
        members = members[first + [c for c in members.columns if c not in first]]
        self.members.value = (
            f"<b>Members (first {self.sample}, read through {html.escape(self.source)})</b>"
            + frame_html(members, max_rows=self.sample, max_cols=8, empty="No members.")
        )

    def _clear(self) -> None:
        self.details.value = ""
        self.members.value = ""
        show_figure(self.chart, None)

    def _show(self, name: str) -> None:
        self._clear()
        self.details.value = f"Loading {html.escape(name)}..."
        try:
            conditions = self.ci.segment(name)
            meta = conditions.attrs.get("raw") or {}
            status = meta.get("evaluationStatus") or {}
            self.details.value = (
                f"<h4>{html.escape(str(meta.get('friendlyName') or name))} "
                f"{badge(meta.get('state'))}</h4>"
                f"<p>{html.escape(str(meta.get('description') or ''))}</p>"
                f"<p><b>Members:</b> {html.escape(str(status.get('entityCount', '')))} · "
                f"<b>last evaluation:</b> {html.escape(str(status.get('evaluationDate', '')))}</p>"
                f"<p><b>Definition:</b> <code>"
                f"{html.escape(str(conditions.attrs.get('definition') or ''))}</code></p>"
                + frame_html(
                    conditions[[c for c in _CONDITION_COLUMNS if c in conditions.columns]],
                    empty="No conditions.",
                )
            )
            history = self.ci.segment_history(name, days=self.days)
            title = f"{meta.get('friendlyName') or name}: size over {self.days} days"
            show_figure(self.chart, plots.segment_history_plot(history, title=title))
            self._show_members(name)
        except Exception:
            self._clear()
            raise

    # --- actions ------------------------------------------------------------------------------
    def _state_of(self, name: object) -> str | None:
        if self.segments is None or name is None:
            return None
        rows = self.segments[self.segments["name"] == name]
        return None if rows.empty else str(rows["state"].iloc[0])

    def _update_buttons(self) -> None:
        allowed = self.user_role in WRITE_ROLES
        chosen = self.picker.value
        state = self._state_of(chosen)
        running = self.job is not None and not self.job.done
        self.buttons["activate"].disabled = not (allowed and chosen and state != "active")
        self.buttons["deactivate"].disabled = not (allowed and chosen and state == "active")
        self.buttons["refresh"].disabled = not (allowed and chosen) or running
        if allowed:
            self.reason.value = ""
            tip = ""
        else:
            tip = (
                f"Your role is '{self.user_role or 'unknown'}': activating, deactivating and "
                "refreshing segments needs the admin or contributor role."
            )
            self.reason.value = f"<i style='color:#757575'>{html.escape(tip)}</i>"
        for key in ("activate", "deactivate", "refresh"):
            self.buttons[key].tooltip = tip

    def _allowed(self) -> bool:
        if self.user_role in WRITE_ROLES:
            return True
        self.say(self.buttons["activate"].tooltip or "Your role does not allow this.")
        return False

    def _set_state(self, active: bool) -> None:
        name = self.picker.value
        if name is None or not self._allowed():
            return
        if active:
            self.ci.activate_segment(str(name))
        else:
            self.ci.deactivate_segment(str(name))
        self._load()
        self.say(f"{'Activated' if active else 'Deactivated'} segment {name}.")

    def _refresh(self) -> None:
        name = self.picker.value
        if name is None or not self._allowed():
            return
        self.job = self.ci.refresh("segmentation", identifiers=[str(name)])
        self._update_buttons()
        self.say(f"Refreshing segment {name} (job {self.job.job_id[:8]})...")
        self.follow_job(self.job, self.progress, on_done=lambda _: self.reload())
