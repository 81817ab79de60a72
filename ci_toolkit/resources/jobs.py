"""Refresh jobs on ``main``: list, get, submit, wait, cancel; history, graph, schedules.

API operations (function -> returns: operation):

``jobs(top=20)`` -> DataFrame, one row per job
    ``GET /instances/{instanceId}/workflows/main/jobs?top=N&includeTasks=true``
    (Get-list-of-recent-workflow-jobs)
``job(job_id)`` -> ``JobHandle``
    ``GET .../workflows/main/jobs/{jobId}?includeTasks=true`` (Get-a-workflow-job-information)
``refresh(operation_type="all", identifiers=None, force=False)`` -> ``JobHandle``
    ``POST .../workflows/main/jobs?operationType=...&identifiers=...&forceRunRequested=...``
    (Submit-a-workflow-job, submitted once: see "Submitting under faults" below)
``JobHandle.refresh()`` / ``JobHandle.wait()`` -> ``JobHandle`` / final status (str)
    ``GET .../workflows/main/jobs/{jobId}?includeTasks=true`` (polled)
``JobHandle.cancel()`` -> ``JobHandle``
    ``POST .../workflows/main/jobs/{jobId}/cancel`` (Cancel-a-workflow-job)
``job_history(top=100)`` -> DataFrame, one row per task run
    ``GET .../workflows/main/history?top=N`` (Get-list-of-workflow-task-information-history)
``refresh_graph()`` -> DataFrame, one row per graph node
    ``GET .../workflows/main/status`` (Get-workflow-status)
``schedules()`` -> DataFrame, one row per schedule
    ``GET .../workflows/main/schedules`` (Get-workflow-schedules)

Submitting under faults
-----------------------
A job submission is not safe to repeat blindly, so :meth:`JobsMixin.refresh` never re-sends
it without knowing the first one created nothing:

- before the first attempt it notes the ids of the recent jobs (one ``GET .../jobs``);
- a 429 means the gateway refused the request before the service saw it: it waits the
  ``Retry-After`` and sends it again;
- any other failure leaves it open whether the job was created: it lists the recent jobs
  again and adopts a new job of the same operation and identifiers when there is one;
- only when there is none, and the failure was a 502/503/504 or a lost connection, is the
  submission sent again (up to the retry policy's ``max_attempts``); a read timeout (the
  service may still be creating the job) raises instead, saying to check :meth:`jobs` first,
  and so does any other error status.

:meth:`JobHandle.wait` polls with the session's retries, and a poll that still fails is
skipped (up to ``MAX_FAILED_POLLS`` in a row), so a fault neither ends a wait nor changes
the final status it reports.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ci_toolkit import _defaults
from ci_toolkit._numbers import parse_digits
from ci_toolkit.exceptions import (
    JobTimeoutError,
    ServiceError,
    ServiceUnreachableError,
    ThrottledError,
)
from ci_toolkit.resources._base import ResourceBase, segment

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.frames import Kind
    from ci_toolkit.http.session import ApiSession

__all__ = [
    "FINAL_STATUSES",
    "MAX_FAILED_POLLS",
    "OPERATION_TYPES",
    "JobHandle",
    "JobsMixin",
    "describe_cron",
]

logger = logging.getLogger(__name__)

#: ``operationType`` values of the contract.
OPERATION_TYPES = (
    "none", "ingestion", "derivedEntity", "hierarchy", "dataPreparation", "map",
    "realtimeM3Search", "match", "merge", "profileStore", "search", "activity", "contact",
    "attributeMeasures", "entityMeasures", "measures", "segmentation", "segmentMembership",
    "enrichment", "preEnrichment", "transform", "intelligence", "aiBuilder", "insights",
    "export", "modelManagement", "relationship", "roleAssignment", "analysis",
    "semanticEntity", "all",
)  # fmt: skip

#: Job and task statuses after which nothing changes any more.
FINAL_STATUSES = frozenset({"successful", "failed", "timedOut", "aborted", "deleted", "skipped"})

#: Polls in a row :meth:`JobHandle.wait` lets fail (after their retries) before it gives up.
MAX_FAILED_POLLS = _defaults.JOB_MAX_FAILED_POLLS

JOB_COLUMNS: list[tuple[str, str, Kind]] = [
    ("jobId", "jobId", "str"),
    ("operationType", "operationType", "str"),
    ("jobStatus", "jobStatus", "str"),
    ("identifiers", "idList", "object"),
    ("jobType", "jobType", "str"),
    ("jobSubmissionKind", "jobSubmissionKind", "str"),
    ("submittedTimestamp", "submittedTimestamp", "datetime"),
    ("endTimestamp", "endTimestamp", "datetime"),
    ("taskCount", "taskCount", "int"),
    ("failedTaskCount", "failedTaskCount", "int"),
]

TASK_COLUMNS: list[tuple[str, str, Kind]] = [
    ("taskId", "taskId", "str"),
    ("operationType", "operationType", "str"),
    ("friendlyName", "friendlyName", "str"),
    ("taskStatus", "taskStatus", "str"),
    ("submittedTimestamp", "submittedTimestamp", "datetime"),
    ("endTimestamp", "endTimestamp", "datetime"),
    ("kind", "additionalInfo.kind", "str"),
    ("jobIds", "jobIds", "object"),
    ("error", "error", "str"),
]

NODE_COLUMNS: list[tuple[str, str, Kind]] = [
    ("operationType", "operationType", "str"),
    ("identifier", "identifier", "str"),
    ("friendlyName", "friendlyName", "str"),
    ("taskStatus", "taskStatus", "str"),
    ("lastSuccessfulTimestamp", "lastSuccessfulTimestamp", "datetime"),
    ("endTimestamp", "endTimestamp", "datetime"),
    ("selectionReason", "selectionReason.code", "str"),
    ("kind", "additionalInfo.kind", "str"),
    ("jobIds", "jobIds", "object"),
    ("lastSuccessJobIds", "lastSuccessJobIds", "object"),
    ("error", "error", "str"),
]

SCHEDULE_COLUMNS: list[tuple[str, str, Kind]] = [
    ("scheduleId", "scheduleId", "str"),
    ("operationType", "operationType", "str"),
    ("identifiers", "identifiers", "object"),
    ("schedule", "schedule", "str"),
    ("cronSchedules", "cronSchedules", "object"),
    ("timezoneId", "timezoneId", "str"),
    ("isActive", "isActive", "bool"),
    ("jobType", "jobType", "str"),
]

_DAYS = {
    "0": "Sun", "1": "Mon", "2": "Tue", "3": "Wed", "4": "Thu", "5": "Fri", "6": "Sat",
    "7": "Sun", "SUN": "Sun", "MON": "Mon", "TUE": "Tue", "WED": "Wed", "THU": "Thu",
    "FRI": "Fri", "SAT": "Sat",
}  # fmt: skip


def _cron_one(cron: str) -> str:
    fields = cron.split()
    if len(fields) == 6:  # with seconds
        fields = fields[1:]
    if len(fields) != 5:
        return f"cron {cron}"
    minute_text, hour, dom, month, dow = fields
    minute = parse_digits(minute_text)
    hours = [parse_digits(h) for h in hour.split(",")]
    if minute is None or None in hours:
        if minute is not None and hour == "*":
            return f"hourly at :{minute:02d}"
        if minute_text.startswith("*/") and hour == "*":
            return f"every {minute_text[2:]} minutes"
        return f"cron {cron}"
    times = ", ".join(f"{h:02d}:{minute:02d}" for h in hours)
    if dom in ("*", "?") and month == "*" and dow in ("*", "?"):
        return f"daily at {times}"
    if dom in ("*", "?") and month == "*":
        days = [_DAYS.get(d.upper(), d) for d in dow.split(",")]
        if dow in ("1-5", "MON-FRI"):
            return f"weekdays at {times}"
        return f"weekly on {', '.join(days)} at {times}"
    day = parse_digits(dom)
    if day is not None and month == "*" and dow in ("*", "?"):
        return f"monthly on day {day} at {times}"
    return f"cron {cron}"


def describe_cron(crons: Iterable[str] | str | None, timezone: str | None = None) -> str:
    """Readable text for cron expressions (5 or 6 fields), e.g. ``daily at 03:00 (UTC)``.

    Examples
    --------
    >>> describe_cron(["0 3 * * *"], "UTC")
    'daily at 03:00 (UTC)'
    >>> describe_cron("30 6 * * 1", None)
    'weekly on Mon at 06:30'
    >>> describe_cron([])
    ''
    """
    if crons is None:
        return ""
    items = [crons] if isinstance(crons, str) else list(crons)
    text = "; ".join(_cron_one(c) for c in items if c)
    if text and timezone:
        text = f"{text} ({timezone})"
    return text


def _error_text(item: Mapping[str, Any]) -> str | None:
    errors = [item.get("ciError"), *(item.get("ciErrors") or [])]
    messages = []
    for error in errors:
        if isinstance(error, Mapping):
            text = error.get("message") or error.get("errorCode")
            if text and text not in messages:
                messages.append(str(text))
    return "; ".join(messages) or None


def _task_rows(tasks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{**t, "error": _error_text(t)} for t in tasks]


def _job_row(job: Mapping[str, Any]) -> dict[str, Any]:
    tasks = job.get("tasks") or []
    return {
        **job,
        "taskCount": len(tasks) if "tasks" in job and job.get("tasks") is not None else None,
        "failedTaskCount": sum(1 for t in tasks if t.get("taskStatus") == "failed")
        if job.get("tasks") is not None
        else None,
    }


class JobHandle:
    """A submitted refresh job: its status, tasks, and ways to wait for or cancel it.

    ``status`` and ``tasks`` show the last fetched state; :meth:`refresh` fetches it again
    and :meth:`wait` polls until the job finishes.

    Parameters
    ----------
    session : ApiSession
        The client's session.
    jobs_path : str
        ``instances/{id}/workflows/main/jobs``.
    info : Mapping[str, Any]
        The ``GraphJobInfo`` JSON.

    Examples
    --------
    >>> job = ci.refresh("segmentation")  # doctest: +SKIP
    >>> job.wait(timeout=600)  # doctest: +SKIP
    'successful'
    """

    def __init__(self, session: ApiSession, jobs_path: str, info: Mapping[str, Any]) -> None:
        if not info.get("jobId"):
            raise ValueError("the service returned a job without a jobId")
        self._session = session
        self._jobs_path = jobs_path
        self._failed_polls = 0
        self.info: dict[str, Any] = dict(info)

    @property
    def job_id(self) -> str:
        """The job's id."""
        return str(self.info["jobId"])

    @property
    def status(self) -> str:
        """The last fetched ``jobStatus`` (``queued``, ``running``, ``successful``...)."""
        return str(self.info.get("jobStatus") or "queued")

    @property
    def operation_type(self) -> str:
        """The job's ``operationType``."""
        return str(self.info.get("operationType") or "")

    @property
    def done(self) -> bool:
        """Whether the last fetched status is final."""
        return self.status in FINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        """Whether the job finished successfully."""
        return self.status == "successful"

    @property
    def tasks(self) -> pd.DataFrame:
        """The job's tasks (last fetched): id, operation, friendly name, status, times, error.

        Examples
        --------
        >>> job.tasks["taskStatus"].value_counts()  # doctest: +SKIP
        """
        from ci_toolkit import frames

        tasks = self.info.get("tasks") or []
        return frames.records_frame(_task_rows(tasks), TASK_COLUMNS, raw=tasks)

    def refresh(self) -> JobHandle:
        """Fetch the job's current status and tasks.

        Returns
        -------
        JobHandle
            ``self``, updated.

        Examples
        --------
        >>> job.refresh().status  # doctest: +SKIP
        'running'
        """
        body = self._session.request_json(
            "GET",
            f"{self._jobs_path}/{segment(self.job_id)}",
            params={"includeTasks": "true"},
        )
        if body:
            self.info = dict(body)
        return self

    def poll(self) -> bool:
        """Refresh once, riding out a poll that failed after its retries.

        A poll that meets an unreachable service, a 5xx or throttling is skipped (logged)
        unless ``MAX_FAILED_POLLS`` polls in a row failed; then its error is raised. Use it
        to follow a job in a loop of your own (``wait`` and the widgets do).

        Returns
        -------
        bool
            True when the status was refreshed, False when this poll was skipped.

        Raises
        ------
        ci_toolkit.exceptions.ServiceUnreachableError, ServiceError, ThrottledError
            The ``MAX_FAILED_POLLS``-th failed poll in a row.

        Examples
        --------
        >>> while not job.done:  # doctest: +SKIP
        ...     time.sleep(5)
        ...     job.poll()
        """
        try:
            self.refresh()
        except (ServiceUnreachableError, ServiceError, ThrottledError) as exc:
            self._failed_polls += 1
            if self._failed_polls >= MAX_FAILED_POLLS:
                self._failed_polls = 0
                raise
            logger.warning("job %s: a status poll failed (%s); polling on", self.job_id, exc)
            return False
        self._failed_polls = 0
        return True

    def cancel(self) -> JobHandle:
        """Ask the service to cancel the job.

        Returns
        -------
        JobHandle
            ``self`` with the status the service answered.

        Examples
        --------
        >>> job.cancel().status  # doctest: +SKIP
        """
        body = self._session.request_json(
            "POST", f"{self._jobs_path}/{segment(self.job_id)}/cancel", retry=False
        )
        if body:
            self.info = {**self.info, **dict(body)}
        logger.info("Cancel requested for job %s: %s", self.job_id, self.status)
        return self

    def wait(
        self,
        *,
        timeout: float | None = None,
        poll_interval: float = 2.0,
        progress: bool = True,
    ) -> str:
        """Poll until the job finishes; return its final status.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most (no limit by default).
        poll_interval : float
            Seconds between polls.
        progress : bool
            Show a ``tqdm`` bar over the job's tasks.

        Returns
        -------
        str
            The final ``jobStatus`` (``successful``, ``failed``, ``aborted``...).

        Raises
        ------
        JobTimeoutError
            ``timeout`` passed first (the job is not cancelled).
        ci_toolkit.exceptions.ServiceUnreachableError
            ``MAX_FAILED_POLLS`` polls in a row failed after their retries (the service is
            gone); a single failed poll is skipped.

        Examples
        --------
        >>> ci.refresh("all").wait(timeout=900)  # doctest: +SKIP
        'successful'
        """
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must not be negative")
        deadline = None if timeout is None else time.monotonic() + timeout
        bar: Any = None
        try:
            while True:
                tasks = self.info.get("tasks") or []
                if progress and bar is None:
                    from tqdm.auto import tqdm

                    bar = tqdm(
                        total=len(tasks) or None,
                        unit="tasks",
                        desc=f"{self.operation_type or 'job'} {self.job_id[:8]}",
                        leave=False,
                    )
                if bar is not None:
                    finished = sum(1 for t in tasks if t.get("taskStatus") in FINAL_STATUSES)
                    if tasks and bar.total != len(tasks):
                        bar.total = len(tasks)
                    bar.n = finished
                    bar.set_postfix_str(self.status, refresh=False)
                    bar.refresh()
                if self.done:
                    return self.status
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise JobTimeoutError(self.job_id, self.status, float(timeout or 0))
                    time.sleep(min(poll_interval, remaining))
                else:
                    time.sleep(poll_interval)
                self.poll()
        finally:
            if bar is not None:
                bar.close()

    def __repr__(self) -> str:
        tasks = self.info.get("tasks") or []
        done = sum(1 for t in tasks if t.get("taskStatus") in FINAL_STATUSES)
        return (
            f"JobHandle(job_id={self.job_id!r}, operation_type={self.operation_type!r}, "
            f"status={self.status!r}, tasks={done}/{len(tasks)} finished)"
        )

    def _repr_html_(self) -> str:
        tasks = self.tasks
        head = (
            f"<b>Job</b> {html.escape(self.job_id)} · {html.escape(self.operation_type)} · "
            f"<b>{html.escape(self.status)}</b>"
        )
        if tasks.empty:
            return head
        shown = tasks[["operationType", "friendlyName", "taskStatus", "endTimestamp"]]
        return head + shown.to_html(index=False)


class JobsMixin(ResourceBase):
    """Refresh jobs, task history, the refresh graph and schedules."""

    def _jobs_path(self) -> str:
        return self._workflow_path("jobs")

    def jobs(self, *, top: int = 20) -> pd.DataFrame:
        """Recent refresh jobs, newest first.

        Parameters
        ----------
        top : int
            How many jobs to ask for.

        Returns
        -------
        pandas.DataFrame
            ``jobId``, ``operationType``, ``jobStatus``, ``identifiers``, ``jobType``,
            ``jobSubmissionKind``, ``submittedTimestamp``, ``endTimestamp`` (UTC),
            ``taskCount``, ``failedTaskCount``.

        Examples
        --------
        >>> ci.jobs(top=5)[["operationType", "jobStatus", "endTimestamp"]]  # doctest: +SKIP
        """
        from ci_toolkit import frames

        _check_top(top)
        body = self._get(self._jobs_path(), params={"top": top, "includeTasks": "true"}) or []
        return frames.records_frame([_job_row(j) for j in body], JOB_COLUMNS, raw=body)

    def job(self, job_id: str) -> JobHandle:
        """A handle on an existing job (status, tasks, wait, cancel).

        Raises
        ------
        ci_toolkit.exceptions.NotFoundError
            No job has this id.

        Examples
        --------
        >>> ci.job(ci.jobs(top=1)["jobId"][0]).tasks  # doctest: +SKIP
        """
        body = self._get(f"{self._jobs_path()}/{segment(job_id)}", params={"includeTasks": "true"})
        return JobHandle(self._session, self._jobs_path(), body or {"jobId": job_id})

    def refresh(
        self,
        operation_type: str = "all",
        *,
        identifiers: str | Sequence[str] | None = None,
        force: bool = False,
    ) -> JobHandle:
        """Start a refresh job (submitted once, never retried automatically).

        Parameters
        ----------
        operation_type : str
            A contract ``operationType``: ``all`` (everything), ``ingestion``,
            ``segmentation``, ``measures``, ``export``...
        identifiers : str or Sequence[str], optional
            Limit the job to these graph nodes (data source ids, segment or export names;
            see :meth:`refresh_graph`).
        force : bool
            ``forceRunRequested``: run nodes even when their inputs did not change.

        Returns
        -------
        JobHandle
            The submitted job; call ``.wait()`` to follow it.

        Examples
        --------
        >>> ci.refresh("segmentation", identifiers=["HighValueCustomers"]).wait()  # doctest: +SKIP
        'successful'
        """
        if operation_type not in OPERATION_TYPES:
            raise ValueError(
                f"unknown operation_type {operation_type!r}; one of {', '.join(OPERATION_TYPES)}"
            )
        params: dict[str, Any] = {"operationType": operation_type}
        ids = [identifiers] if isinstance(identifiers, str) else list(identifiers or [])
        if ids:
            params["identifiers"] = ids
        if force:
            params["forceRunRequested"] = "true"
        body = self._submit(params, operation_type, ids)
        handle = JobHandle(self._session, self._jobs_path(), body)
        logger.info("Submitted %s job %s", operation_type, handle.job_id)
        return handle

    def _recent_job_ids(self) -> set[str]:
        body = self._get(self._jobs_path(), params={"top": _defaults.JOB_RECENT_JOBS}) or []
        return {str(j.get("jobId")) for j in body}

    def _new_job(self, known: set[str], operation_type: str, ids: list[str]) -> dict[str, Any]:
        """A job created since ``known`` was listed, of this operation and identifiers."""
        body = self._get(
            self._jobs_path(), params={"top": _defaults.JOB_RECENT_JOBS, "includeTasks": "true"}
        )
        for job in body or []:  # newest first
            if (
                str(job.get("jobId")) not in known
                and job.get("operationType") == operation_type
                and sorted(job.get("idList") or []) == sorted(ids)
            ):
                return dict(job)
        return {}

    def _submit(self, params: dict[str, Any], operation_type: str, ids: list[str]) -> Any:
        """Send the job submission once, re-sending only when the service created nothing."""
        import httpx

        from ci_toolkit.exceptions import is_certificate_failure

        policy = self._session.retry_policy
        known = self._recent_job_ids()
        attempt = 0
        while True:
            attempt += 1
            try:
                body = self._session.request_json(
                    "POST", self._jobs_path(), params=params, retry=False
                )
                return body or {}
            except ThrottledError as exc:  # refused at the gateway: nothing was submitted
                wait = exc.retry_after
                if attempt >= policy.max_attempts or wait is None or wait > policy.max_retry_after:
                    raise
                logger.info("job submission throttled; sending it again in %.1f s", wait)
            except (ServiceError, ServiceUnreachableError) as exc:
                cause = exc.__cause__ or exc.__context__
                if cause is not None and is_certificate_failure(cause):
                    raise
                found = self._new_job(known, operation_type, ids)
                if found:
                    logger.info(
                        "job submission failed (%s) but the service created job %s: using it",
                        type(exc).__name__, found.get("jobId"),
                    )  # fmt: skip
                    return found
                if isinstance(cause, (httpx.ReadTimeout, httpx.WriteTimeout)):
                    raise ServiceUnreachableError(
                        f"{exc.message} The job submission got no answer in time and no new "
                        "job is listed yet: the service may still be creating it. Check "
                        "ci.jobs() before submitting again.",
                        secrets=self._session.secrets,
                    ) from exc
                unanswered = isinstance(exc, ServiceUnreachableError)
                if attempt >= policy.max_attempts or not (
                    unanswered or exc.status in _defaults.JOB_UNSURE_STATUSES
                ):
                    raise
                wait = min(policy.backoff_max, policy.backoff_initial * 2 ** (attempt - 1))
                logger.info(
                    "job submission failed (%s) and created no job; sending it again in %.1f s",
                    type(exc).__name__, wait,
                )  # fmt: skip
            policy.sleep(wait)

    def job_history(self, *, top: int = 100) -> pd.DataFrame:
        """Recent task runs of the refresh workflow (what ran, when, and how it ended).

        Parameters
        ----------
        top : int
            How many task runs to ask for.

        Returns
        -------
        pandas.DataFrame
            ``taskId``, ``operationType``, ``friendlyName``, ``taskStatus``,
            ``submittedTimestamp``, ``endTimestamp``, ``kind``, ``jobIds``, ``error``.

        Examples
        --------
        >>> h = ci.job_history(top=200)  # doctest: +SKIP
        >>> h[h["taskStatus"] == "failed"]  # doctest: +SKIP
        """
        from ci_toolkit import frames

        _check_top(top)
        body = self._get(self._workflow_path("history"), params={"top": top}) or []
        return frames.records_frame(_task_rows(body), TASK_COLUMNS, raw=body)

    def refresh_graph(self) -> pd.DataFrame:
        """The refresh graph's nodes with their last status.

        Returns
        -------
        pandas.DataFrame
            ``operationType``, ``identifier``, ``friendlyName``, ``taskStatus``,
            ``lastSuccessfulTimestamp``, ``endTimestamp`` (UTC), ``selectionReason``,
            ``kind``, ``jobIds``, ``lastSuccessJobIds``, ``error``.

        Examples
        --------
        >>> ci.refresh_graph()["taskStatus"].value_counts()  # doctest: +SKIP
        """
        from ci_toolkit import frames

        body = self._get(self._workflow_path("status")) or []
        return frames.records_frame(_task_rows(body), NODE_COLUMNS, raw=body)

    def schedules(self) -> pd.DataFrame:
        """Refresh schedules, with a readable ``schedule`` text.

        Returns
        -------
        pandas.DataFrame
            ``scheduleId``, ``operationType``, ``identifiers`` (list), ``schedule`` (e.g.
            ``daily at 03:00 (UTC)``), ``cronSchedules`` (list), ``timezoneId``,
            ``isActive``, ``jobType``.

        Examples
        --------
        >>> ci.schedules()[["operationType", "schedule", "isActive"]]  # doctest: +SKIP
        """
        from ci_toolkit import frames

        body = self._get(self._workflow_path("schedules")) or []
        rows = [
            {**s, "schedule": describe_cron(s.get("cronSchedules"), s.get("timezoneId"))}
            for s in body
        ]
        return frames.records_frame(rows, SCHEDULE_COLUMNS, raw=body)


def _check_top(top: int) -> None:
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
