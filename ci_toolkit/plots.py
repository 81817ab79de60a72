"""Matplotlib charts for the toolkit's DataFrames: one small function per chart.

Each function takes a DataFrame as the client returns it and gives back a
``matplotlib.figure.Figure`` built with the object-oriented API (``Figure()``, no pyplot
state), so it works in threads, headless and in any notebook backend. An empty frame gives
a figure saying so rather than an error.

Functions (input -> chart):

``segment_history_plot(ci.segment_history(...))``
    segment sizes over time, one line per segment
``job_timeline(job.tasks)``
    a job's tasks as horizontal bars (submitted -> ended), coloured by status
``export_timeline(ci.export_history(...))``
    export runs per export as bars on a time axis, coloured by status
``activity_timeline(ci.customer(...).activities)``
    a customer's activities as points per activity type over time

Example
-------
>>> import pandas as pd
>>> from ci_toolkit.plots import segment_history_plot
>>> frame = pd.DataFrame({"segment": ["A", "A"], "size": [3, 4],
...                       "date": pd.to_datetime(["2030-01-01", "2030-01-02"], utc=True)})
>>> segment_history_plot(frame).axes[0].get_ylabel()
'members'
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "STATUS_COLOURS",
    "activity_timeline",
    "export_timeline",
    "job_timeline",
    "segment_history_plot",
]

logger = logging.getLogger(__name__)

#: Colours for job, task and export statuses (anything else is grey).
STATUS_COLOURS: dict[str, str] = {
    "successful": "#2e7d32",
    "failed": "#c62828",
    "timedOut": "#c62828",
    "running": "#1565c0",
    "queued": "#90a4ae",
    "notStarted": "#90a4ae",
    "skipped": "#ef6c00",
    "aborted": "#ef6c00",
}
_OTHER = "#9e9e9e"


def _figure(width: float = 7.0, height: float = 3.0) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def _naive_utc(series: pd.Series) -> pd.Series:
    """Datetimes as naive UTC (what Matplotlib's date axis expects)."""
    import pandas as pd

    values = pd.to_datetime(series, utc=True, errors="coerce")
    return values.dt.tz_localize(None)


#: Inches of axis per date tick: room for the widest concise label ("09:00", "2026") and a gap.
_INCHES_PER_DATE_TICK = 0.6


def _date_axis(ax: Axes) -> None:
    """Concise date labels, only as many as fit the axis' width when it is drawn.

    Matplotlib's ``AutoDateLocator`` allows up to 11 or 12 ticks whatever the width, which
    overlap on an axis narrowed by long lane names and a legend.
    """
    import matplotlib.dates

    mdates: Any = matplotlib.dates

    class FittingDateLocator(mdates.AutoDateLocator):  # type: ignore[misc]
        def __call__(self) -> Any:
            axes = self.axis.axes
            inches = axes.bbox.width / axes.figure.dpi
            fit = max(3, int(inches / _INCHES_PER_DATE_TICK))
            self.maxticks = dict.fromkeys(range(8), fit)  # every frequency, YEARLY..MICRO
            return super().__call__()

    locator = FittingDateLocator(minticks=2)
    # with few ticks allowed, each frequency needs a step that covers its whole range
    # (about two of the next frequency), or Matplotlib warns and falls back
    for frequency, longest in (
        (mdates.MONTHLY, 12),
        (mdates.DAILY, 31),
        (mdates.HOURLY, 24),
        (mdates.MINUTELY, 60),
        (mdates.SECONDLY, 60),
    ):
        locator.intervald[frequency] = [*locator.intervald[frequency], longest]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _legend(ax: Axes, statuses: list[str]) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=STATUS_COLOURS.get(s, _OTHER), label=s) for s in statuses]
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)


def segment_history_plot(history: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Segment sizes over time, one line per segment.

    Parameters
    ----------
    history
        ``segment``, ``date``, ``size`` (as from ``ci.segment_history()``).
    title
        Chart title (default: "Segment size").

    Returns
    -------
    matplotlib.figure.Figure
        The chart.

    Example
    -------
    >>> fig = segment_history_plot(ci.segment_history("HighValueCustomers"))  # doctest: +SKIP
    """
    fig, ax = _figure()
    ax.set_title(title or "Segment size")
    frame = history.dropna(subset=["date", "size"]) if not history.empty else history
    if frame.empty:
        _empty(ax, "No size history")
        return fig
    for name, group in frame.groupby("segment", sort=True):
        ax.plot(
            _naive_utc(group["date"]),
            group["size"].astype("float64"),
            marker=".",
            label=str(name),
        )
    ax.set_ylabel("members")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _date_axis(ax)
    if frame["segment"].nunique() > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return fig


def _bars(
    ax: Axes,
    frame: pd.DataFrame,
    *,
    lane: str,
    start: str,
    end: str,
    status: str,
    now: datetime | None = None,
) -> None:
    """Horizontal bars (``broken_barh``) per lane from ``start`` to ``end``, by status."""
    import matplotlib.dates

    mdates: Any = matplotlib.dates
    import pandas as pd

    now_naive = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    starts = _naive_utc(frame[start])
    ends = _naive_utc(frame[end]).fillna(pd.Timestamp(now_naive))
    ends = ends.where(ends >= starts, starts)
    lanes = list(dict.fromkeys(str(v) for v in frame[lane]))
    known = pd.concat([starts, ends]).dropna()
    span = float(mdates.date2num(known.max()) - mdates.date2num(known.min())) if len(known) else 0
    min_width = max(1.0 / 86_400, span / 300)  # short runs stay visible on a long axis
    for name, s, e, st in zip(frame[lane].astype(str), starts, ends, frame[status], strict=True):
        if pd.isna(s):
            continue
        x0 = float(mdates.date2num(s))
        width = max(float(mdates.date2num(e)) - x0, min_width)
        ax.broken_barh(
            [(x0, width)],
            (lanes.index(name) - 0.4, 0.8),
            facecolors=STATUS_COLOURS.get(str(st), _OTHER),
        )
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([n if len(n) <= 40 else n[:37] + "..." for n in lanes], fontsize=8)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    ax.xaxis_date()
    _date_axis(ax)
    _legend(ax, sorted({str(s) for s in frame[status].dropna()}))


def job_timeline(tasks: pd.DataFrame, *, title: str | None = None) -> Figure:
    """A job's tasks as a Gantt-like timeline (submitted -> ended; running tasks to now).

    Parameters
    ----------
    tasks
        ``friendlyName`` (or ``taskId``), ``submittedTimestamp``, ``endTimestamp``,
        ``taskStatus`` (as ``JobHandle.tasks`` or ``ci.job_history()``).
    title
        Chart title (default: "Job tasks").

    Returns
    -------
    matplotlib.figure.Figure
        The chart.

    Example
    -------
    >>> fig = job_timeline(ci.job(job_id).tasks)  # doctest: +SKIP
    """
    height = 1.2 + 0.3 * min(len(tasks), 30)
    fig, ax = _figure(height=max(2.5, height))
    ax.set_title(title or "Job tasks")
    if tasks.empty:
        _empty(ax, "No tasks")
        return fig
    import pandas as pd

    frame = tasks.copy()
    ids = frame["taskId"] if "taskId" in frame else pd.Series(range(len(frame)), index=frame.index)
    names = frame.get("friendlyName")
    frame["lane"] = (names.fillna(ids) if names is not None else ids).astype(str)
    if "operationType" in frame:
        frame["lane"] = frame["operationType"].fillna("").astype(str) + ": " + frame["lane"]
    _bars(
        ax, frame, lane="lane", start="submittedTimestamp", end="endTimestamp", status="taskStatus"
    )
    return fig


def export_timeline(history: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Export runs over time, one lane per export, bars coloured by status.

    Parameters
    ----------
    history
        ``identifier``, ``submittedTimestamp``, ``endTimestamp``, ``taskStatus`` (as
        ``ci.export_history()``; concatenate several exports' histories for several lanes).
    title
        Chart title (default: "Export runs").

    Returns
    -------
    matplotlib.figure.Figure
        The chart.

    Example
    -------
    >>> fig = export_timeline(ci.export_history("braze-gold-members"))  # doctest: +SKIP
    """
    lanes = history["identifier"].nunique() if not history.empty else 0
    fig, ax = _figure(height=max(2.5, 1.2 + 0.4 * lanes))
    ax.set_title(title or "Export runs")
    if history.empty:
        _empty(ax, "No runs")
        return fig
    _bars(
        ax,
        history,
        lane="identifier",
        start="submittedTimestamp",
        end="endTimestamp",
        status="taskStatus",
    )
    return fig


def activity_timeline(activities: pd.DataFrame, *, title: str | None = None) -> Figure:
    """A customer's activities over time, one row of points per activity type.

    Parameters
    ----------
    activities
        ``ActivityTime`` and ``ActivityType`` (``Amount`` sizes the points when present),
        as ``ci.customer(...).activities``.
    title
        Chart title (default: "Activities").

    Returns
    -------
    matplotlib.figure.Figure
        The chart.

    Example
    -------
    >>> fig = activity_timeline(ci.customer(customer_id).activities)  # doctest: +SKIP
    """
    import pandas as pd

    fig, ax = _figure(height=2.8)
    ax.set_title(title or "Activities")
    needed = {"ActivityTime", "ActivityType"}
    if activities.empty or not needed <= set(activities.columns):
        _empty(ax, "No activities")
        return fig
    frame = activities.dropna(subset=["ActivityTime"])
    if frame.empty:
        _empty(ax, "No activities")
        return fig
    types = sorted({str(t) for t in frame["ActivityType"].fillna("other")})
    for index, kind in enumerate(types):
        rows = frame[frame["ActivityType"].fillna("other").astype(str) == kind]
        sizes: Any = 30
        if "Amount" in rows:
            amount = pd.to_numeric(rows["Amount"], errors="coerce").astype("float64").fillna(0)
            sizes = (20 + amount.clip(lower=0) ** 0.5 * 4).to_numpy()
        ax.scatter(
            _naive_utc(rows["ActivityTime"]),
            [index] * len(rows),
            s=sizes,
            alpha=0.7,
        )
    ax.set_yticks(range(len(types)))
    ax.set_yticklabels(types, fontsize=8)
    ax.set_ylim(-0.6, len(types) - 0.4)
    ax.grid(axis="x", alpha=0.3)
    _date_axis(ax)
    return fig
