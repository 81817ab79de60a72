"""The Matplotlib charts: what each draws from a small frame, empty frames, threads."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from ci_toolkit import plots

T0 = datetime(2020, 1, 1, 8, tzinfo=UTC)


def _times(*minutes: float | None) -> pd.Series:
    return pd.Series(
        [None if m is None else T0 + timedelta(minutes=m) for m in minutes],
        dtype="datetime64[ns, UTC]",
    )


def _bar_colours(fig: Figure) -> list[str]:
    bars = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    return [mcolors.to_hex(tuple(np.asarray(c.get_facecolor())[0])) for c in bars]


def _values(data: Any) -> list[float]:
    return [float(v) for v in np.asarray(data, dtype="float64")]


def test_segment_history_one_line_per_segment() -> None:
    history = pd.DataFrame(
        {
            "segment": ["A", "A", "B", "B", "B"],
            "date": _times(0, 1440, 0, 1440, 2880),
            "size": pd.array([10, 12, 5, None, 7], dtype="Int64"),
        }
    )
    fig = plots.segment_history_plot(history, title="Sizes")
    ax = fig.axes[0]
    assert ax.get_title() == "Sizes"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"A", "B"}
    assert _values(lines["A"].get_ydata()) == [10.0, 12.0]
    assert _values(lines["B"].get_ydata()) == [5.0, 7.0]  # the missing size is left out
    assert ax.get_legend() is not None


def test_job_timeline_bars_coloured_by_status_running_until_now() -> None:
    tasks = pd.DataFrame(
        {
            "taskId": ["t1", "t2", "t3"],
            "operationType": ["ingestion", "segmentation", "export"],
            "friendlyName": ["PosSystem", "Gold", None],
            "taskStatus": ["successful", "running", "failed"],
            "submittedTimestamp": _times(0, 5, 6),
            "endTimestamp": _times(4, None, 7),
        }
    )
    fig = plots.job_timeline(tasks)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["ingestion: PosSystem", "segmentation: Gold", "export: t3"]
    assert _bar_colours(fig) == [
        plots.STATUS_COLOURS["successful"],
        plots.STATUS_COLOURS["running"],
        plots.STATUS_COLOURS["failed"],
    ]
    running = [c for c in ax.collections if isinstance(c, PolyCollection)][1]
    xs = np.asarray(running.get_paths()[0].vertices)[:, 0]
    # the running task's bar reaches "now", years after its start (x in days)
    assert xs.max() - xs.min() > 365


def test_export_timeline_one_lane_per_export() -> None:
    history = pd.DataFrame(
        {
            "identifier": ["braze", "braze", "sftp"],
            "taskStatus": ["successful", "failed", "skipped"],
            "submittedTimestamp": _times(0, 1440, 60),
            "endTimestamp": _times(3, 1442, 61),
        }
    )
    fig = plots.export_timeline(history)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["braze", "sftp"]
    assert len(_bar_colours(fig)) == 3
    legend = fig.axes[0].get_legend()
    assert legend is not None
    assert sorted(t.get_text() for t in legend.get_texts()) == ["failed", "skipped", "successful"]


def test_activity_timeline_one_row_per_type() -> None:
    activities = pd.DataFrame(
        {
            "ActivityType": ["Purchase", "WebVisit", "Purchase", "EmailOpen"],
            "ActivityTime": _times(0, 10, 20, None),
            "Amount": [10.0, None, 90.0, None],
        }
    )
    fig = plots.activity_timeline(activities)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Purchase", "WebVisit"]
    points = [np.asarray(c.get_offsets()).shape[0] for c in ax.collections]
    assert points == [2, 1]  # the activity without a time is left out


@pytest.mark.parametrize(
    ("func", "text"),
    [
        (plots.segment_history_plot, "No size history"),
        (plots.job_timeline, "No tasks"),
        (plots.export_timeline, "No runs"),
        (plots.activity_timeline, "No activities"),
    ],
)
def test_empty_frames_say_so(func: object, text: str) -> None:
    fig = func(pd.DataFrame())  # type: ignore[operator]
    assert isinstance(fig, Figure)
    assert [t.get_text() for t in fig.axes[0].texts] == [text]


def test_charts_render_to_png_in_threads() -> None:
    history = pd.DataFrame(
        {"segment": ["A", "A"], "date": _times(0, 1440), "size": pd.array([1, 2], dtype="Int64")}
    )
    sizes: list[int] = []

    def render() -> None:
        import io

        buffer = io.BytesIO()
        plots.segment_history_plot(history).savefig(buffer, format="png")
        sizes.append(len(buffer.getvalue()))

    threads = [threading.Thread(target=render) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(sizes) == 4
    assert min(sizes) > 1000


def _overlaps(fig: Figure) -> list[tuple[str, str]]:
    """Neighbouring x tick labels whose boxes overlap, once the figure is laid out."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    boxes = sorted(
        ((t.get_window_extent(renderer), t.get_text()) for t in labels), key=lambda b: b[0].x0
    )
    return [
        (a_text, b_text)
        for (a, a_text), (b, b_text) in itertools.pairwise(boxes)
        if a.x1 > b.x0 - 2  # at least 2 px between labels
    ]


def _tasks(span: timedelta, *, name_length: int = 40, count: int = 12) -> pd.DataFrame:
    starts = [T0 + span * i / count for i in range(count)]
    return pd.DataFrame(
        {
            "taskId": [f"t{i}" for i in range(count)],
            "friendlyName": [f"task {i} ".ljust(name_length, "x") for i in range(count)],
            "operationType": ["measures"] * count,
            "submittedTimestamp": pd.Series(starts, dtype="datetime64[ns, UTC]"),
            "endTimestamp": pd.Series(
                [s + span / count for s in starts], dtype="datetime64[ns, UTC]"
            ),
            "taskStatus": ["successful"] * count,
        }
    )


SPANS = [
    timedelta(seconds=50),
    timedelta(minutes=4),
    timedelta(minutes=55),
    timedelta(hours=5),
    timedelta(hours=30),
    timedelta(hours=47),
    timedelta(days=9),
    timedelta(days=45),
    timedelta(days=70),
    timedelta(days=800),
]


@pytest.mark.parametrize("span", SPANS, ids=[str(s) for s in SPANS])
def test_time_axis_labels_never_overlap(span: timedelta) -> None:
    """At the width a notebook shows them, with long lane names eating into the axis."""
    tasks = _tasks(span)
    runs = tasks.assign(identifier=tasks["friendlyName"])
    activities = pd.DataFrame(
        {
            "ActivityTime": tasks["submittedTimestamp"],
            "ActivityType": ["Purchase", "WebVisit"] * 6,
            "Amount": [10.0] * 12,
        }
    )
    history = pd.DataFrame(
        {"segment": ["A"] * 12, "size": range(12), "date": tasks["submittedTimestamp"]}
    )
    for fig in (
        plots.job_timeline(tasks),
        plots.export_timeline(runs),
        plots.activity_timeline(activities),
        plots.segment_history_plot(history),
    ):
        assert _overlaps(fig) == [], fig.axes[0].get_title()
