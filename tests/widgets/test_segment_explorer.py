"""SegmentExplorer, headless on the emulator: list, details, role-gated actions, refresh, errors."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.exceptions import NotFoundError
from ci_toolkit.widgets import SegmentExplorer
from tests.widgets.conftest import settle


@pytest.fixture
def gold(admin: CustomerInsights) -> Iterator[str]:
    """A segment of this test's own (inactive), deleted afterwards."""
    name = f"WidgetGold{time.monotonic_ns() % 10**9}"
    admin.create_segment(
        admin.segment_definition(
            name, [("LoyaltyTier", "=", "Gold")], description="Gold tier <members>"
        )
    )
    yield name
    with contextlib.suppress(NotFoundError):  # deleted by the test itself
        admin.delete_segment(name)


def _state(ci: CustomerInsights, name: str) -> str:
    segments = ci.segments()
    return str(segments.loc[segments["name"] == name, "state"].iloc[0])


def test_lists_segments_with_state_and_size(
    make: Callable[..., Any], admin: CustomerInsights
) -> None:
    explorer: SegmentExplorer = make(SegmentExplorer, admin)
    names = [value for _, value in explorer.picker.options]
    assert set(names) == set(admin.segments()["name"])
    assert "HighValueCustomers" in explorer.table.value
    assert "background:#2e7d32" in explorer.table.value  # an "active" badge
    assert explorer.picker.value is None
    assert explorer.message.value == ""


def test_picking_shows_definition_chart_and_members(
    make: Callable[..., Any], admin: CustomerInsights, gold: str
) -> None:
    explorer: SegmentExplorer = make(SegmentExplorer, admin, sample=5)
    explorer.picker.value = gold
    settle(explorer)
    assert "LoyaltyTier = &#x27;Gold&#x27;" in explorer.details.value
    assert "Gold tier &lt;members&gt;" in explorer.details.value  # escaped
    [output] = explorer.chart.outputs
    assert output["data"]["image/png"]
    # the sample holds five members, all Gold
    assert explorer.members.value.count("<tr>") == 1 + 5
    assert "Gold" in explorer.members.value


def test_admin_activates_and_deactivates(
    make: Callable[..., Any], admin: CustomerInsights, gold: str
) -> None:
    explorer: SegmentExplorer = make(SegmentExplorer, admin)
    explorer.picker.value = gold
    settle(explorer)
    assert explorer.reason.value == ""
    assert not explorer.buttons["activate"].disabled
    assert explorer.buttons["deactivate"].disabled  # already inactive
    explorer.buttons["activate"].click()
    settle(explorer)
    assert _state(admin, gold) == "active"
    assert f"Activated segment {gold}" in explorer.message.value
    assert explorer.buttons["activate"].disabled
    explorer.buttons["deactivate"].click()
    settle(explorer)
    assert _state(admin, gold) == "inactive"
    assert not explorer.buttons["activate"].disabled


def test_viewer_sees_disabled_actions_with_the_reason(
    make: Callable[..., Any], viewer: CustomerInsights, admin: CustomerInsights, gold: str
) -> None:
    explorer: SegmentExplorer = make(SegmentExplorer, viewer)
    explorer.picker.value = gold
    settle(explorer)
    for key in ("activate", "deactivate", "refresh"):
        assert explorer.buttons[key].disabled, key
        assert "viewer" in explorer.buttons[key].tooltip
    assert "viewer" in explorer.reason.value
    assert "admin or contributor" in explorer.reason.value
    assert not explorer.buttons["reload"].disabled
    # a click that gets through anyway changes nothing
    explorer.buttons["activate"].click()
    settle(explorer)
    assert _state(admin, gold) == "inactive"
    assert "viewer" in explorer.message.value


def test_refresh_follows_the_job_in_the_background(
    make: Callable[..., Any], admin: CustomerInsights, gold: str
) -> None:
    explorer: SegmentExplorer = make(SegmentExplorer, admin, poll_interval=0.1)
    explorer.picker.value = gold
    settle(explorer)
    started = time.monotonic()
    explorer.buttons["refresh"].click()
    assert time.monotonic() - started < 0.5  # the click returns at once
    settle(explorer)
    job = explorer.job
    assert job is not None
    assert job.done
    assert job.operation_type == "segmentation"
    assert f"job {job.job_id[:8]} ended {job.status}" in explorer.message.value
    assert explorer.progress.layout.display is None
    assert explorer.progress.bar.value == explorer.progress.bar.max
    assert not explorer.buttons["refresh"].disabled


def test_a_segment_deleted_meanwhile_is_a_message_not_a_traceback(
    make: Callable[..., Any], admin: CustomerInsights, gold: str
) -> None:
    explorer: SegmentExplorer = make(SegmentExplorer, admin)
    admin.delete_segment(gold)
    explorer.picker.value = gold
    settle(explorer)
    assert "NotFoundError" in explorer.message.value
    assert gold in explorer.message.value
    assert "Traceback" not in explorer.message.value
    assert explorer.details.value == ""
    assert explorer.chart.outputs == ()


def test_constructing_does_not_wait_for_the_service(
    admin: CustomerInsights, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = admin.segments

    def slow() -> pd.DataFrame:
        time.sleep(1.0)
        return real()

    monkeypatch.setattr(admin, "segments", slow)
    started = time.monotonic()
    explorer = SegmentExplorer(admin)
    try:
        assert time.monotonic() - started < 0.5
        assert explorer.table.value == "Loading segments..."
        settle(explorer)
        assert "HighValueCustomers" in explorer.table.value
    finally:
        explorer.close()
