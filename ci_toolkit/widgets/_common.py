"""What every widget shares: background work, readable errors, HTML tables, badges, charts.

Each widget is an ``ipywidgets.VBox`` subclass holding a :class:`~ci_toolkit.client.
CustomerInsights`. Every call to the service runs on the widget's own worker thread (one at a
time, in order), so a cell that creates or clicks a widget returns at once; long waits (a job's
progress) poll on a separate thread that stops when the widget closes. A
:class:`~ci_toolkit.exceptions.CustomerInsightsError` becomes a short message inside the
widget (its text is already scrubbed of secrets), never a traceback.

Example
-------
>>> from ci_toolkit.widgets._common import frame_html
>>> import pandas as pd
>>> "<table" in frame_html(pd.DataFrame({"a": [1]}))
True
"""

from __future__ import annotations

import base64
import html
import io
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ci_toolkit.exceptions import CustomerInsightsError, scrub
from ci_toolkit.resources.jobs import FINAL_STATUSES

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ci_toolkit.client import CustomerInsights, JobHandle

__all__ = [
    "WRITE_ROLES",
    "CIWidget",
    "JobProgress",
    "all_states",
    "badge",
    "error_text",
    "frame_html",
    "job_summary",
    "show_figure",
]

logger = logging.getLogger(__name__)

#: Roles that may change segments and run jobs.
WRITE_ROLES = ("admin", "contributor")

#: Badge colours per status (job, task and export statuses of the contract).
STATUS_COLOURS = {
    "successful": "#2e7d32",
    "completedsuccess": "#2e7d32",
    "active": "#2e7d32",
    "failed": "#c62828",
    "completedfailure": "#c62828",
    "timedout": "#c62828",
    "running": "#1565c0",
    "queued": "#546e7a",
    "notstarted": "#546e7a",
    "inactive": "#757575",
    "skipped": "#ef6c00",
    "aborted": "#ef6c00",
    "cancelled": "#ef6c00",
}


def error_text(exc: BaseException) -> str:
    """A one-paragraph, secret-free text for an error (no traceback).

    Example
    -------
    >>> from ci_toolkit.exceptions import NotFoundError
    >>> error_text(NotFoundError("no segment named 'X'", status=404))
    "NotFoundError: no segment named 'X' (status 404)"
    """
    return scrub(f"{type(exc).__name__}: {exc}")


def badge(status: object) -> str:
    """A coloured HTML badge for a status text (escaped).

    Example
    -------
    >>> "background:#c62828" in badge("failed")
    True
    """
    text = "" if status is None or str(status) in ("<NA>", "nan", "None") else str(status)
    colour = STATUS_COLOURS.get(text.lower(), "#9e9e9e")
    return (
        f"<span style='background:{colour};color:white;border-radius:.6em;"
        f"padding:0 .5em;font-size:.9em'>{html.escape(text or 'unknown')}</span>"
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    if text in ("<NA>", "NaT", "nan", "None"):
        return ""
    if hasattr(value, "strftime") and hasattr(value, "tzinfo"):
        text = value.strftime("%Y-%m-%d %H:%M")
    if len(text) > 80:
        text = text[:77] + "..."
    return html.escape(text)


def frame_html(
    frame: pd.DataFrame,
    *,
    max_rows: int = 20,
    max_cols: int = 10,
    html_columns: Sequence[str] = (),
    empty: str = "Nothing to show.",
) -> str:
    """A bounded, escaped HTML table for a DataFrame (cells in ``html_columns`` kept as HTML).

    Parameters
    ----------
    frame
        The rows to show.
    max_rows, max_cols
        At most this many rows and columns (a note says how many more there are).
    html_columns
        Columns that already hold safe HTML (e.g. badges).
    empty
        Text shown for an empty frame.

    Example
    -------
    >>> import pandas as pd
    >>> "&lt;b&gt;" in frame_html(pd.DataFrame({"a": ["<b>"]}))
    True
    """
    if frame.empty:
        return f"<i>{html.escape(empty)}</i>"
    columns = list(frame.columns[:max_cols])
    head = "".join(f"<th style='text-align:left'>{html.escape(str(c))}</th>" for c in columns)
    rows = []
    for record in frame.head(max_rows)[columns].itertuples(index=False, name=None):
        cells = "".join(
            f"<td style='text-align:left'>{v if c in html_columns else _cell(v)}</td>"
            for c, v in zip(columns, record, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    more = []
    if len(frame) > max_rows:
        more.append(f"{len(frame) - max_rows} more rows")
    if len(frame.columns) > max_cols:
        more.append(f"{len(frame.columns) - max_cols} more columns")
    note = f"<div><small>({', '.join(more)} not shown)</small></div>" if more else ""
    return (
        "<div style='max-height:24em;overflow:auto'>"
        f"<table class='ci-table'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>{note}"
    )


def show_figure(out: widgets.Output, fig: Figure | None, *, dpi: int = 80) -> None:
    """Show a Matplotlib figure in an ``Output`` widget as a PNG (safe from any thread).

    The PNG goes straight into ``out.outputs``: no ``with out:`` context (which needs the
    kernel's current message) and no dependence on the notebook's Matplotlib backend.

    Example
    -------
    >>> from matplotlib.figure import Figure
    >>> out = widgets.Output()
    >>> show_figure(out, Figure())
    >>> "image/png" in out.outputs[0]["data"]
    True
    """
    if fig is None:
        out.outputs = ()
        return
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    data = {
        "image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
        "text/plain": "<Figure>",
    }
    out.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)


def job_summary(job: JobHandle) -> str:
    """One line on how a job ended, naming failed tasks and their errors.

    Example
    -------
    >>> from ci_toolkit.client import JobHandle
    >>> job = JobHandle(None, "jobs", {"jobId": "1a2b3c4d-e5f6", "operationType": "export",
    ...                                "jobStatus": "successful", "tasks": [{}, {}]})
    >>> job_summary(job)
    'Export job 1a2b3c4d ended successful (2 tasks).'
    """
    tasks = job.info.get("tasks") or []
    failed = [t for t in tasks if t.get("taskStatus") in ("failed", "timedOut")]
    text = (
        f"{(job.operation_type or 'refresh').capitalize()} job {job.job_id[:8]} ended "
        f"{job.status} ({len(tasks)} tasks"
    )
    if failed:
        text += f", {len(failed)} failed"
    text += ")."
    for task in failed[:3]:
        error = task.get("error")
        reason = error.get("message") if isinstance(error, dict) else error
        text += f" {task.get('operationType')} '{task.get('friendlyName')}': {reason or 'failed'}."
    return scrub(text)


class JobProgress(widgets.HBox):  # type: ignore[misc]
    """A progress bar and a status line for a refresh job (hidden until a job is shown).

    Example
    -------
    >>> progress = JobProgress()
    >>> progress.layout.display
    'none'
    """

    def __init__(self) -> None:
        self.bar = widgets.IntProgress(min=0, max=1, value=0)
        self.label = widgets.HTML()
        super().__init__([self.bar, self.label])
        self.layout.display = "none"

    def update(self, job: JobHandle) -> None:
        """Show the job's status and how many of its tasks finished."""
        tasks = job.info.get("tasks") or []
        finished = sum(1 for t in tasks if t.get("taskStatus") in FINAL_STATUSES)
        self.layout.display = None
        self.bar.max = max(len(tasks), 1)
        self.bar.value = finished if tasks else int(job.done)
        styles = {"successful": "success", "failed": "danger", "running": "info"}
        self.bar.bar_style = styles.get(job.status, "warning" if job.done else "info")
        self.label.value = (
            f"{badge(job.status)} {html.escape(job.operation_type or 'refresh')} job "
            f"<code>{html.escape(job.job_id[:8])}</code> · {finished}/{len(tasks)} tasks finished"
        )


class CIWidget(widgets.VBox):  # type: ignore[misc]
    """Base of the toolkit's widgets: a worker thread, a message line and ``wait_idle``.

    Parameters
    ----------
    ci
        The client the widget reads from and acts through.
    poll_interval
        Seconds between polls while following a job.

    Attributes
    ----------
    message : ipywidgets.HTML
        The last outcome or error, as one readable line.
    """

    def __init__(self, ci: CustomerInsights, *, poll_interval: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ci = ci
        self.poll_interval = poll_interval
        self.message = widgets.HTML()
        self.last_error: BaseException | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=type(self).__name__)
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._busy = 0

    # --- background work ---------------------------------------------------------------------
    def _enter(self) -> None:
        with self._idle:
            self._busy += 1

    def _leave(self) -> None:
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()

    def _guarded(self, func: Callable[..., Any], *args: Any) -> None:
        try:
            func(*args)
        except CustomerInsightsError as exc:
            self.show_error(exc)
        except Exception as exc:  # a widget must never raise into the front end
            logger.exception("%s: unexpected error in %s", type(self).__name__, func.__name__)
            self.show_error(exc)
        finally:
            self._leave()

    def submit(self, func: Callable[..., Any], *args: Any) -> Future[None] | None:
        """Run ``func(*args)`` on the widget's worker thread (in order, one at a time).

        Errors end up in :attr:`message`. Returns ``None`` once the widget is closed.
        """
        if self._stop.is_set():
            return None
        self._enter()
        try:
            future = self._executor.submit(self._guarded, func, *args)
        except RuntimeError:  # executor shut down meanwhile
            self._leave()
            return None
        future.add_done_callback(lambda f: self._leave() if f.cancelled() else None)
        return future

    def follow(self, func: Callable[[threading.Event], Any]) -> threading.Thread:
        """Run a long poll ``func(stop)`` on its own daemon thread; ``stop`` is set on close."""
        self._enter()
        thread = threading.Thread(
            target=self._guarded, args=(func, self._stop), daemon=True, name="ci-widget-follow"
        )
        thread.start()
        return thread

    def follow_job(
        self,
        job: JobHandle,
        progress: JobProgress,
        on_done: Callable[[JobHandle], object] | None = None,
    ) -> threading.Thread:
        """Poll ``job`` on a background thread, updating ``progress``, until it ends.

        At the end the outcome goes to :attr:`message` and ``on_done(job)`` runs; closing
        the widget stops the polling.
        """

        def run(stop: threading.Event) -> None:
            while True:
                progress.update(job)
                if job.done:
                    break
                if stop.wait(self.poll_interval):
                    return
                job.poll()
            self.say(job_summary(job))
            if on_done is not None:
                on_done(job)

        return self.follow(run)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no background work is left (for tests and scripts).

        Returns
        -------
        bool
            True when idle, False when ``timeout`` passed first.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def stopped(self) -> bool:
        """Whether the widget was closed (background loops end)."""
        return self._stop.is_set()

    # --- messages -----------------------------------------------------------------------------
    def show_error(self, exc: BaseException) -> None:
        """Show an error as one readable line in :attr:`message` (no traceback)."""
        self.last_error = exc
        logger.info("%s: %s", type(self).__name__, error_text(exc))
        self.message.value = f"<div style='color:#b00'>&#9888; {html.escape(error_text(exc))}</div>"

    def say(self, text: str) -> None:
        """Show a plain (escaped) line in :attr:`message`."""
        self.message.value = f"<div>{html.escape(text)}</div>"

    def role(self) -> str:
        """The signed-in identity's role on the instance (``admin``, ``viewer``...)."""
        return str(self.ci.my_role().get("role") or "").lower()

    def close(self) -> None:
        """Stop background work and close the widget and its children."""
        self._stop.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        for child in _descendants(self):
            if child is not self:
                child.close()
        super().close()


def _descendants(root: widgets.Widget) -> Iterable[widgets.Widget]:
    yield root
    for child in getattr(root, "children", ()) or ():
        yield from _descendants(child)


def all_states(root: widgets.Widget) -> list[dict[str, Any]]:
    """``get_state()`` of a widget and all its descendants (tests look for secrets in it).

    Example
    -------
    >>> len(all_states(widgets.VBox([widgets.HTML()])))
    2
    """
    return [w.get_state() for w in _descendants(root)]
