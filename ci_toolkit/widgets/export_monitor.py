"""``ExportMonitor``: exports with status badges; run several now with live progress; run history;
a preview of what a Braze export sends.

Example
-------
>>> from ci_toolkit.widgets import ExportMonitor
>>> monitor = ExportMonitor(ci)  # doctest: +SKIP
>>> monitor.picker.value = ("braze-gold-members",)  # doctest: +SKIP
>>> monitor.buttons["run"].click()  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import logging
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ci_toolkit import plots
from ci_toolkit.resources.export_preview import BRAZE_BATCH
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

__all__ = ["ExportMonitor"]

logger = logging.getLogger(__name__)

_LIST_COLUMNS = [
    "friendlyName",
    "identifier",
    "connectionType",
    "status",
    "lastRun",
    "lastSuccess",
    "schedule",
    "lastError",
]


class ExportMonitor(CIWidget):
    """Exports with connection type, status badge, last run, last success and schedule.

    Select one or several exports and *Run now*: one export job is submitted and followed in
    the background; when it ends the list (and its badges) and the run-history chart update.
    *Run now* is disabled, with the reason, for roles that cannot submit jobs (viewer).
    Select one Braze export and *Preview*: the users it would send
    (:meth:`~ci_toolkit.client.CustomerInsights.export_preview`) and the first request body,
    without running anything (viewers may preview).

    Parameters
    ----------
    ci
        The client.
    history
        How many recent task runs the chart and the run counts look at.
    preview_rows
        How many segment members the preview reads and shows.
    poll_interval
        Seconds between polls of the running export job.

    Attributes
    ----------
    table : ipywidgets.HTML
        The exports with coloured status badges.
    picker : ipywidgets.SelectMultiple
        Friendly name -> identifier; the selection is what *Run now* runs and what the
        chart shows (all exports when nothing is selected).
    chart : ipywidgets.Output
        The run-history timeline (:func:`ci_toolkit.plots.export_timeline`).
    buttons : dict[str, ipywidgets.Button]
        ``run``, ``preview``, ``chart`` and ``reload``.
    reason : ipywidgets.HTML
        Why *Run now* is disabled, when it is.
    preview : ipywidgets.HTML
        What the selected Braze export sends (after *Preview*).
    previewed : pandas.DataFrame or None
        The last preview's rows (``attrs["requests"]`` holds the request bodies).
    progress : JobProgress
        The running export job.

    Example
    -------
    >>> monitor = ExportMonitor(ci)  # doctest: +SKIP
    >>> monitor.wait_idle(); monitor.exports[["identifier", "lastStatus"]]  # doctest: +SKIP
    """

    def __init__(
        self,
        ci: CustomerInsights,
        *,
        history: int = 500,
        preview_rows: int = 20,
        **kwargs: Any,
    ) -> None:
        super().__init__(ci, **kwargs)
        self.history = history
        self.preview_rows = preview_rows
        self.previewed: pd.DataFrame | None = None
        self.exports: pd.DataFrame | None = None
        self.user_role = ""
        self.job: JobHandle | None = None
        self._loading = False
        self.table = widgets.HTML("Loading exports...")
        self.picker = widgets.SelectMultiple(description="Exports", options=[], rows=6)
        self.picker.layout.width = "36em"
        self.picker.observe(lambda _: self._update_buttons(), names="value")
        self.buttons = {
            "run": widgets.Button(description="Run now", icon="play", disabled=True),
            "preview": widgets.Button(description="Preview", icon="eye", disabled=True),
            "chart": widgets.Button(description="Show history", icon="bar-chart"),
            "reload": widgets.Button(description="Reload list", icon="list"),
        }
        self.buttons["run"].on_click(lambda _: self.submit(self._run))
        self.buttons["preview"].on_click(lambda _: self.submit(self._preview))
        self.buttons["chart"].on_click(lambda _: self.submit(self._chart))
        self.buttons["reload"].on_click(lambda _: self.reload())
        self.reason = widgets.HTML()
        self.progress = JobProgress()
        self.chart = widgets.Output()
        self.preview = widgets.HTML()
        self.children = [
            widgets.HTML("<b>Exports</b>"),
            self.table,
            self.picker,
            widgets.HBox(list(self.buttons.values())),
            self.reason,
            self.progress,
            self.message,
            self.preview,
            self.chart,
        ]
        self.reload()

    @property
    def selected(self) -> list[str]:
        """The selected export identifiers."""
        return [str(v) for v in self.picker.value]

    def reload(self) -> None:
        """Load the exports (and the chart) again, in the background."""
        self.submit(self._load)

    def _load(self) -> None:
        self.user_role = self.role()
        frame = self.ci.exports(history=self.history)
        self.exports = frame
        shown = frame.copy()
        shown["status"] = [badge(s) for s in frame["lastStatus"]]
        self.table.value = frame_html(
            shown[[c for c in _LIST_COLUMNS if c in shown.columns]],
            max_rows=100,
            html_columns=["status"],
            empty="No exports.",
        )
        options = [
            (f"{label if isinstance(label, str) and label else ident}", ident)
            for ident, label in zip(
                frame["identifier"].astype(str), frame["friendlyName"], strict=True
            )
        ]
        current = self.selected
        self._loading = True
        try:
            self.picker.options = options
            idents = [v for _, v in options]
            self.picker.value = tuple(i for i in current if i in idents)
        finally:
            self._loading = False
        self._update_buttons()
        self._chart()

    def status_of(self, identifier: str) -> str | None:
        """The last loaded status of one export (``successful``, ``failed``...)."""
        return self._loaded(identifier, "lastStatus")

    def connection_of(self, identifier: str) -> str | None:
        """The last loaded connection type of one export (``Braze``, ``SFTP``...)."""
        return self._loaded(identifier, "connectionType")

    def _loaded(self, identifier: str, column: str) -> str | None:
        import pandas as pd

        if self.exports is None or column not in self.exports.columns:
            return None
        rows = self.exports[self.exports["identifier"] == identifier]
        value = None if rows.empty else rows[column].iloc[0]
        return None if value is None or pd.isna(value) else str(value)

    def _update_buttons(self) -> None:
        chosen = self.selected
        previewable = len(chosen) == 1 and self.connection_of(chosen[0]) == "Braze"
        self.buttons["preview"].disabled = not previewable
        self.buttons["preview"].tooltip = (
            "Show the users this export sends, without running it"
            if previewable
            else "Select one Braze export to preview what it sends"
        )
        allowed = self.user_role in WRITE_ROLES
        running = self.job is not None and not self.job.done
        self.buttons["run"].disabled = not (allowed and self.selected) or running
        if allowed:
            self.reason.value = ""
            self.buttons["run"].tooltip = "Run the selected exports now"
        else:
            text = (
                f"Your role is '{self.user_role or 'unknown'}': running exports needs the "
                "admin or contributor role."
            )
            self.reason.value = f"<i style='color:#757575'>{html.escape(text)}</i>"
            self.buttons["run"].tooltip = text

    def _chart(self) -> None:
        import pandas as pd

        if self.exports is None:
            return
        wanted = self.selected or [str(i) for i in self.exports["identifier"]]
        frames = [self.ci.export_history(i, top=self.history) for i in wanted]
        history = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        show_figure(self.chart, plots.export_timeline(history, title="Export runs"))

    def _run(self) -> None:
        chosen = self.selected
        if not chosen:
            return
        if self.user_role not in WRITE_ROLES:
            self.say(self.buttons["run"].tooltip)
            return
        self.job = self.ci.run_export(*chosen)
        self._update_buttons()
        self.say(f"Running {', '.join(chosen)} (job {self.job.job_id[:8]})...")
        self.follow_job(self.job, self.progress, on_done=lambda _: self.reload())

    def _preview(self) -> None:
        chosen = self.selected
        if len(chosen) != 1:
            self.say("Select one Braze export to preview what it sends.")
            return
        try:
            frame = self.ci.export_preview(chosen[0], top=self.preview_rows)
        except ValueError as exc:  # not a Braze export, or its segment is not known yet
            self.say(str(exc))
            return
        self.previewed = frame
        requests = frame.attrs.get("requests") or []
        first = json.dumps(requests[0], indent=2) if requests else "(no members: nothing is sent)"
        segment = str(frame.attrs.get("segment", ""))
        self.preview.value = (
            f"<b>Preview of {html.escape(chosen[0])}</b>: the first {len(frame)} members of "
            f"segment {html.escape(segment)}, as Braze <code>POST /users/track</code> "
            f"receives them ({len(requests)} request(s) for these rows, at most {BRAZE_BATCH} "
            "users each)"
            + frame_html(frame, max_rows=self.preview_rows, empty="The segment has no members.")
            + "<details><summary>First request body</summary><pre>"
            + html.escape(first)
            + "</pre></details>"
        )
