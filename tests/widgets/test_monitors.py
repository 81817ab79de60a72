"""ExportMonitor and JobMonitor, headless on the emulator: badges, runs, progress, timelines."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ci_toolkit.client import CustomerInsights
from ci_toolkit.widgets import ExportMonitor, JobMonitor
from tests.widgets.conftest import settle

EXPORT = "sftp-call-centre"


def test_export_list_has_badges_types_schedules_and_a_chart(
    make: Callable[..., Any], admin: CustomerInsights
) -> None:
    # The Google Ads export always fails: run it so its last status is "failed" whatever
    # earlier tests on this shared emulator did (a cancelled refresh leaves it "canceled").
    assert admin.run_export("googleads-high-value").wait(poll_interval=0.05) == "failed"
    monitor: ExportMonitor = make(ExportMonitor, admin)
    exports = admin.exports()
    assert [v for _, v in monitor.picker.options] == list(exports["identifier"])
    assert "SFTP" in monitor.table.value
    assert "Braze" in monitor.table.value
    assert "weekly on Mon at 05:00" in monitor.table.value
    assert "background:#c62828" in monitor.table.value  # the failed Google Ads export
    [output] = monitor.chart.outputs
    assert output["data"]["image/png"]
    assert monitor.buttons["run"].disabled  # nothing selected


def test_run_export_finishes_and_the_badge_follows(
    make: Callable[..., Any], admin: CustomerInsights
) -> None:
    monitor: ExportMonitor = make(ExportMonitor, admin, poll_interval=0.1)
    before = admin.exports().set_index("identifier").loc[EXPORT, "lastRun"]
    monitor.picker.value = (EXPORT,)
    assert not monitor.buttons["run"].disabled
    started = time.monotonic()
    monitor.buttons["run"].click()
    assert time.monotonic() - started < 0.5
    settle(monitor)
    job = monitor.job
    assert job is not None
    assert job.done
    assert f"ended {job.status}" in monitor.message.value
    after = admin.exports().set_index("identifier").loc[EXPORT]
    assert after["lastRun"] > before
    assert monitor.status_of(EXPORT) == after["lastStatus"] == job.tasks["taskStatus"].iloc[0]
    assert job.tasks["friendlyName"].iloc[0].startswith("SFTP")
    assert monitor.picker.value == (EXPORT,)  # the selection survives the reload


def test_viewer_cannot_run_exports(make: Callable[..., Any], viewer: CustomerInsights) -> None:
    monitor: ExportMonitor = make(ExportMonitor, viewer)
    monitor.picker.value = (EXPORT,)
    assert monitor.buttons["run"].disabled
    assert "viewer" in monitor.reason.value
    assert "contributor" in monitor.reason.value
    monitor.buttons["run"].click()
    settle(monitor)
    assert monitor.job is None
    assert "viewer" in monitor.message.value


def test_job_monitor_follows_a_running_job(
    make: Callable[..., Any], admin: CustomerInsights
) -> None:
    job = admin.refresh("segmentation")
    monitor: JobMonitor = make(JobMonitor, admin, poll_interval=0.1)
    assert job.job_id in [v for _, v in monitor.picker.options]
    monitor.picker.value = job.job_id
    settle(monitor)
    assert monitor.job is not None
    assert monitor.job.done
    assert f"Job {job.job_id[:8]} ended {monitor.job.status}" in monitor.message.value
    assert "HighValueCustomers" in monitor.tasks.value
    assert monitor.progress.bar.value == monitor.progress.bar.max == len(monitor.job.tasks)
    [output] = monitor.chart.outputs
    assert output["data"]["image/png"]


def test_job_monitor_stops_polling_when_closed(admin: CustomerInsights) -> None:
    job = admin.refresh("all")
    monitor = JobMonitor(admin, poll_interval=5.0)
    try:
        settle(monitor)
        monitor.picker.value = job.job_id
        time.sleep(0.3)  # the job is still running: the monitor polls every 5 s
        assert not monitor.wait_idle(0.1)
    finally:
        started = time.monotonic()
        monitor.close()
    assert monitor.wait_idle(2.0)
    assert time.monotonic() - started < 2.0


def test_preview_shows_what_a_braze_export_sends(
    make: Callable[..., Any], viewer: CustomerInsights
) -> None:
    """Preview needs no write role: it reads the segment, it runs nothing."""
    monitor: ExportMonitor = make(ExportMonitor, viewer, preview_rows=5)
    assert monitor.buttons["preview"].disabled  # nothing selected
    monitor.picker.value = (EXPORT,)  # SFTP: nothing to preview
    assert monitor.buttons["preview"].disabled
    assert "Braze" in monitor.buttons["preview"].tooltip
    monitor.picker.value = ("braze-gold-members", EXPORT)  # one at a time
    assert monitor.buttons["preview"].disabled
    monitor.picker.value = ("braze-gold-members",)
    assert not monitor.buttons["preview"].disabled
    monitor.buttons["preview"].click()
    settle(monitor)
    expected = viewer.export_preview("braze-gold-members", top=5)
    assert monitor.previewed is not None
    assert monitor.previewed.equals(expected)
    assert monitor.previewed.attrs["requests"] == expected.attrs["requests"]
    segment = expected.attrs["segment"]
    shown = monitor.preview.value
    assert f"ci_segment_{segment}" in shown
    assert all(str(i) in shown for i in expected["external_id"])
    assert "First request body" in shown
    assert '"external_id"' not in shown  # the JSON body is escaped HTML
    assert "&quot;external_id&quot;" in shown
    assert monitor.job is None  # nothing ran
