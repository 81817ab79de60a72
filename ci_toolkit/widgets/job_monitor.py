"""``JobMonitor``: recent refresh jobs; one job's tasks as a timeline; live progress if running.

Example
-------
>>> from ci_toolkit.widgets import JobMonitor
>>> monitor = JobMonitor(ci)  # doctest: +SKIP
>>> monitor.picker.value = ci.jobs(top=1)["jobId"][0]  # doctest: +SKIP
"""

from __future__ import annotations

import html
import logging
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ci_toolkit import plots
from ci_toolkit.widgets._common import CIWidget, JobProgress, badge, frame_html, show_figure

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.client import CustomerInsights, JobHandle

__all__ = ["JobMonitor"]

logger = logging.getLogger(__name__)

_LIST_COLUMNS = [
    "job",
    "operationType",
    "status",
    "identifiers",
    "jobSubmissionKind",
    "submittedTimestamp",
    "endTimestamp",
    "taskCount",
    "failedTaskCount",
]
_TASK_COLUMNS = ["operationType", "friendlyName", "status", "submittedTimestamp", "endTimestamp"]


class JobMonitor(CIWidget):
    """Recent refresh jobs; pick one for its tasks as a timeline and, if running, live progress.

    A running job is polled on a background thread until it ends, another job is picked,
    or the widget is closed.

    Parameters
    ----------
    ci
        The client.
    top
        How many recent jobs to list.
    poll_interval
        Seconds between polls of a running job.

    Attributes
    ----------
    table : ipywidgets.HTML
        The recent jobs with status badges.
    picker : ipywidgets.Dropdown
        Jobs ("operation · status · submitted") -> job id; setting ``.value`` shows it.
    tasks : ipywidgets.HTML
        The chosen job's tasks.
    chart : ipywidgets.Output
        The task timeline (:func:`ci_toolkit.plots.job_timeline`).
    progress : JobProgress
        The chosen job's progress.
    job : JobHandle or None
        The chosen job.

    Example
    -------
    >>> monitor = JobMonitor(ci, top=10)  # doctest: +SKIP
    >>> job = ci.refresh("segmentation"); monitor.reload()  # doctest: +SKIP
    >>> monitor.picker.value = job.job_id  # doctest: +SKIP
    """

    def __init__(self, ci: CustomerInsights, *, top: int = 20, **kwargs: Any) -> None:
        super().__init__(ci, **kwargs)
        self.top = top
        self.jobs: pd.DataFrame | None = None
        self.job: JobHandle | None = None
        self._loading = False
        self._watch = threading.Event()
        self.table = widgets.HTML("Loading jobs...")
        self.picker = widgets.Dropdown(description="Job", options=[])
        self.picker.layout.width = "40em"
        self.picker.observe(self._picked, names="value")
        self.buttons = {"reload": widgets.Button(description="Reload list", icon="list")}
        self.buttons["reload"].on_click(lambda _: self.reload())
        self.progress = JobProgress()
        self.tasks = widgets.HTML()
        self.chart = widgets.Output()
        self.children = [
            widgets.HTML("<b>Refresh jobs</b>"),
            self.table,
            widgets.HBox([self.picker, self.buttons["reload"]]),
            self.message,
            self.progress,
            self.chart,
            self.tasks,
        ]
        self.reload()

    def reload(self) -> None:
        """Load the recent jobs again (in the background)."""
        self.submit(self._load)

    def _load(self) -> None:
        frame = self.ci.jobs(top=self.top)
        self.jobs = frame
        shown = frame.copy()
        shown["job"] = [str(j)[:8] for j in frame["jobId"]]
        shown["status"] = [badge(s) for s in frame["jobStatus"]]
        shown["identifiers"] = [
            ", ".join(map(str, i)) if isinstance(i, list) else "" for i in frame["identifiers"]
        ]
        self.table.value = frame_html(
            shown[_LIST_COLUMNS], max_rows=self.top, html_columns=["status"], empty="No jobs."
        )
        options = [
            (f"{row.operationType} · {row.jobStatus} · {row.submittedTimestamp:%Y-%m-%d %H:%M}"
             f" · {str(row.jobId)[:8]}", str(row.jobId))
            for row in frame.itertuples(index=False)
        ]  # fmt: skip
        current = self.picker.value
        self._loading = True
        try:
            self.picker.options = options
            self.picker.value = current if current in [v for _, v in options] else None
        finally:
            self._loading = False

    def _picked(self, change: dict[str, Any]) -> None:
        if self._loading or change["new"] is None:
            return
        self.message.value = ""
        self._watch.set()  # stop following the previous job
        self.submit(self._show, str(change["new"]))

    def _render(self, job: JobHandle) -> None:
        tasks = job.tasks
        shown = tasks.copy()
        shown["status"] = [badge(s) for s in tasks["taskStatus"]]
        self.tasks.value = (
            f"<b>Tasks of job</b> <code>{html.escape(job.job_id)}</code> {badge(job.status)}"
            + frame_html(
                shown[_TASK_COLUMNS], max_rows=100, html_columns=["status"], empty="No tasks."
            )
        )
        title = f"{job.operation_type or 'refresh'} job {job.job_id[:8]}: {job.status}"
        show_figure(self.chart, plots.job_timeline(tasks, title=title))
        self.progress.update(job)

    def _show(self, job_id: str) -> None:
        self.tasks.value = "Loading job..."
        show_figure(self.chart, None)
        job = self.ci.job(job_id)
        self.job = job
        self._render(job)
        if not job.done:
            watch = threading.Event()
            self._watch = watch
            self.follow(lambda stop: self._poll(job, stop, watch))

    def _poll(self, job: JobHandle, stop: threading.Event, watch: threading.Event) -> None:
        while not job.done:
            if stop.wait(self.poll_interval) or watch.is_set():
                return
            job.poll()
            self._render(job)
        self.say(f"Job {job.job_id[:8]} ended {job.status}.")
        self.reload()
