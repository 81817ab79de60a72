"""Workflow refresh schedules (``WorkflowRefreshSchedule``): demo seeds, validation, persistence.

Schedules live for the emulator's lifetime and, when a data folder is given, in
``<data_dir>/workflow-schedules.json`` (all schedules, rewritten after each change; when the
file exists it replaces the demo seeds). Posting a schedule whose ``scheduleId`` exists
replaces that schedule (the v1 API has no update operation), otherwise a new id is assigned.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import Any

from ci_toolkit.emulator.workflows.cron import CronError, CronExpression
from ci_toolkit.emulator.workflows.exports import ExportDefinition
from ci_toolkit.emulator.workflows.graph import Graph, SelectionError
from ci_toolkit.emulator.workflows.model import canonical_operation_type
from ci_toolkit.emulator.workflows.timezones import DEFAULT_TIMEZONE, is_supported

__all__ = ["SCHEDULES_FILE", "ScheduleStore", "demo_schedules", "validate_schedule"]

logger = logging.getLogger(__name__)

SCHEDULES_FILE = "workflow-schedules.json"
SUB_TYPES = (
    "noSubType",
    "templatedMeasures",
    "createAnalysisModel",
    "linkAnalysisModel",
    "singleActivityMapping",
    "powerPlatform",
)
_NAMESPACE = uuid.UUID("0b6f2a9e-5d1c-4e8b-9f3a-6c2d7e1b4a90")

#: Cron expressions and time zones of the demo exports' schedules.
DEMO_EXPORT_CRONS: dict[str, tuple[list[str], str]] = {
    "braze-gold-members": (["0 6 * * *"], "Europe/London"),
    "adls-customer-profiles": (["30 3 * * *"], "UTC"),
    "sftp-call-centre": (["0 5 * * 1"], "America/New_York"),
    "googleads-high-value": (["0 7 * * *"], "America/Los_Angeles"),
    "d365mkt-newsletter": (["0 8 * * *", "0 20 * * *"], "Europe/Berlin"),
    "braze-winback": (["0 9 * * 1-5"], "Europe/London"),
}
SYSTEM_REFRESH_CRON = "0 2 * * *"


class ScheduleError(ValueError):
    """A schedule body the service would reject (400); the message says why."""


def _schedule_id(instance_id: str, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{instance_id}:{name}"))


def demo_schedules(instance_id: str, exports: list[ExportDefinition]) -> list[dict[str, Any]]:
    """The demo instance's schedules: a daily full refresh and one per export."""
    schedules: list[dict[str, Any]] = [
        {
            "operationType": "all",
            "subType": "noSubType",
            "identifiers": [],
            "jobType": "full",
            "isActive": True,
            "timezoneId": "UTC",
            "cronSchedules": [SYSTEM_REFRESH_CRON],
            "scheduleId": _schedule_id(instance_id, "system-refresh"),
            "instanceId": instance_id,
        }
    ]
    for export in exports:
        crons, zone = DEMO_EXPORT_CRONS.get(export.identifier, (["0 4 * * *"], "UTC"))
        schedules.append(
            {
                "operationType": "export",
                "subType": "noSubType",
                "identifiers": [export.identifier],
                "jobType": "full",
                "isActive": not export.detached,
                "timezoneId": zone,
                "cronSchedules": list(crons),
                "scheduleId": _schedule_id(instance_id, f"export:{export.identifier}"),
                "instanceId": instance_id,
            }
        )
    return schedules


def validate_schedule(body: Any, *, graph: Graph, instance_id: str) -> dict[str, Any]:
    """Check a posted ``WorkflowRefreshSchedule`` and return it completed with defaults.

    Raises
    ------
    ScheduleError
        With a message naming the offending property.
    """
    if not isinstance(body, dict):
        raise ScheduleError("the schedule must be a JSON object (WorkflowRefreshSchedule)")
    operation_type = body.get("operationType")
    if not isinstance(operation_type, str) or not operation_type:
        raise ScheduleError("operationType is required, e.g. 'all' or 'export'")
    if canonical_operation_type(operation_type) is None:
        raise ScheduleError(f"operationType {operation_type!r} is not a known operation type")
    operation_type = canonical_operation_type(operation_type) or operation_type
    identifiers = body.get("identifiers") or []
    if not isinstance(identifiers, list) or not all(isinstance(i, str) for i in identifiers):
        raise ScheduleError("identifiers must be a list of strings")
    try:
        keys = graph.resolve(operation_type, identifiers)
    except SelectionError as error:
        raise ScheduleError(str(error)) from error
    crons = body.get("cronSchedules")
    if not isinstance(crons, list) or not crons or not all(isinstance(c, str) for c in crons):
        raise ScheduleError("cronSchedules must be a non-empty list of cron expressions")
    for cron in crons:
        try:
            CronExpression.parse(cron)
        except CronError as error:
            raise ScheduleError(f"cronSchedules: {error}") from error
    zone = body.get("timezoneId") or DEFAULT_TIMEZONE
    if not isinstance(zone, str) or not is_supported(zone):
        raise ScheduleError(
            f"timezoneId {zone!r} is not supported; see "
            "GET /instances/{instanceId}/workflows/{workflowName}/schedules/supportedTimezones"
        )
    is_active = body.get("isActive", True)
    if not isinstance(is_active, bool):
        raise ScheduleError("isActive must be true or false")
    job_type = body.get("jobType") or "full"
    if job_type not in ("full", "incremental"):
        raise ScheduleError("jobType must be 'full' or 'incremental'")
    sub_type = body.get("subType") or "noSubType"
    if sub_type not in SUB_TYPES:
        raise ScheduleError(f"subType {sub_type!r} is not a known sub type")
    schedule_id = body.get("scheduleId")
    if schedule_id is not None:
        try:
            schedule_id = str(uuid.UUID(str(schedule_id)))
        except ValueError as error:
            raise ScheduleError(f"scheduleId {schedule_id!r} is not a GUID") from error
    named = [identifier for op, identifier in keys] if identifiers else []
    return {
        "operationType": operation_type,
        "subType": sub_type,
        "identifiers": named,
        "jobType": job_type,
        "isActive": is_active,
        "timezoneId": zone,
        "cronSchedules": list(crons),
        "scheduleId": schedule_id,
        "instanceId": instance_id,
    }


class ScheduleStore:
    """The schedules of one instance, optionally mirrored to a JSON file."""

    def __init__(self, schedules: list[dict[str, Any]], *, path: Path | None = None) -> None:
        self._schedules: dict[str, dict[str, Any]] = {s["scheduleId"]: s for s in schedules}
        self._path = path
        self._write_lock = threading.Lock()

    @classmethod
    def load_or_seed(cls, seeds: list[dict[str, Any]], *, data_dir: Path | None) -> ScheduleStore:
        """Schedules from ``data_dir`` when saved there before, else ``seeds``."""
        path = data_dir / SCHEDULES_FILE if data_dir is not None else None
        if path is not None and path.is_file():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(saved, list):
                    logger.info("loaded %d workflow schedules from %s", len(saved), path)
                    return cls([s for s in saved if isinstance(s, dict)], path=path)
            except (OSError, ValueError):
                logger.warning("ignoring unreadable schedules file %s", path, exc_info=True)
        return cls(seeds, path=path)

    def all(self) -> list[dict[str, Any]]:
        """Every schedule (copies), in creation order."""
        current = list(self._schedules.values())
        return [dict(s, identifiers=list(s["identifiers"])) for s in current]

    def put(self, schedules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store validated schedules, assigning ids to new ones; returns what was stored."""
        stored = []
        for schedule in schedules:
            if schedule.get("scheduleId") not in self._schedules:
                schedule = dict(schedule, scheduleId=str(uuid.uuid4()))
            self._schedules[schedule["scheduleId"]] = schedule
            stored.append(dict(schedule))
        return stored

    def save(self) -> None:
        """Write every schedule to the data folder, if there is one (call from a thread)."""
        if self._path is None:
            return
        with self._write_lock:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self._path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self.all(), indent=2), encoding="utf-8")
            os.replace(temporary, self._path)
