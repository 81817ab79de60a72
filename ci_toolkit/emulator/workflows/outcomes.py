"""The ``CIResult`` errors and warnings tasks end with, shared by live runs and seeded history."""

from __future__ import annotations

from typing import Any

from ci_toolkit.emulator.workflows.exports import ExportDefinition, ExportFailure
from ci_toolkit.emulator.workflows.model import ci_result

__all__ = ["detached", "export_failed", "task_crashed", "upstream_not_successful"]


def upstream_not_successful(names: list[str]) -> dict[str, Any]:
    """Warning of a task skipped because a task it waits for failed, was skipped or aborted."""
    return ci_result(
        "UpstreamTaskNotSuccessful",
        "Skipped because these upstream tasks did not succeed: " + ", ".join(names),
        culprit="system",
        severity="warning",
    )


def detached(export: ExportDefinition) -> dict[str, Any]:
    """Warning of a detached export's skipped run."""
    return ci_result(
        "ExportDetached",
        f"Export '{export.name}' is detached from its {export.connection_type} connection: "
        "it stays configured but does not run until an admin attaches a connection again.",
        culprit="user",
        severity="warning",
    )


def export_failed(failure: ExportFailure) -> dict[str, Any]:
    """Error of an export refused by its connection."""
    return ci_result(failure.error_code, failure.message, culprit=failure.culprit)


def task_crashed(operation_type: str, name: str, error: BaseException) -> dict[str, Any]:
    """Error of a task whose work raised."""
    return ci_result(
        "TaskExecutionFailed",
        f"{operation_type} task '{name}' failed: {type(error).__name__}: {error}",
        culprit="system",
    )
