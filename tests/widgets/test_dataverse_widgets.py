"""Widgets over the Dataverse path: the sign-in panel shows both resources and the active path,
CustomerLookup and SegmentExplorer's members read through Dataverse (also with Dataverse only)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ci_toolkit
from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
from ci_toolkit.widgets import CustomerLookup, SegmentExplorer, SignInPanel
from tests.dataverse.conftest import dv_args
from tests.widgets.conftest import IDLE

pytestmark = pytest.mark.usefixtures("no_user_settings")


def settle(widget: Any) -> None:
    assert widget.wait_idle(IDLE)
    assert widget.message.value == "" or "found" in widget.message.value, widget.message.value


@pytest.fixture(scope="module")
def both(emulator: Emulator) -> Iterator[CustomerInsights]:
    ci = ci_toolkit.connect(**dv_args(emulator, source="dataverse"))
    yield ci
    ci.close()


@pytest.fixture(scope="module")
def dv_only(emulator: Emulator) -> Iterator[CustomerInsights]:
    ci = ci_toolkit.connect(**dv_args(emulator, v1=False))
    yield ci
    ci.close()


def test_panel_shows_both_resources_and_the_active_path(
    make: Callable[..., Any], both: CustomerInsights
) -> None:
    panel: SignInPanel = make(SignInPanel, both)
    assert panel.identity["role"] == "admin"
    assert panel.identity["dataverseUrl"] == both.dataverse.url
    assert panel.identity["dataverseUserId"] == both.dataverse.whoami()["UserId"]
    assert "Dataverse user" in panel.status.value
    lines = panel.resources.value.split("</li>")
    assert "Customer Insights v1 API" in lines[0]
    assert "active path" not in lines[0]
    assert "Dataverse" in lines[1]
    assert "active path" in lines[1]


def test_panel_with_dataverse_only_never_asks_v1(
    make: Callable[..., Any], dv_only: CustomerInsights
) -> None:
    panel: SignInPanel = make(SignInPanel, dv_only)
    assert panel.message.value == ""  # nothing failed
    assert "role" not in panel.identity
    assert panel.identity["dataverseUserId"]
    assert "not configured" in panel.resources.value.split("</li>")[0]
    assert not panel.buttons["sign_out"].disabled


def test_lookup_over_dataverse_finds_the_customer_and_shows_the_card(
    make: Callable[..., Any], dv_only: CustomerInsights
) -> None:
    row = dv_only.dataverse.query("msdynci_customerprofile", top=1, names="v1", progress=False)
    cid, name = str(row["CustomerId"][0]), str(row["FullName"][0])
    lookup: CustomerLookup = make(CustomerLookup, dv_only)
    assert lookup.source == "dataverse"
    lookup.search.value = name
    settle(lookup)
    assert cid in [v for _, v in lookup.picker.options]
    lookup.picker.value = cid
    settle(lookup)
    assert lookup.customer is not None
    assert lookup.customer.source == "dataverse"
    assert "TotalSpend" in lookup.card.value  # measures from msdynci_measures
    assert f"({len(lookup.customer.activities)} in all)" in lookup.card.value
    assert "read through dataverse" in lookup.children[0].value


def test_explorer_members_over_dataverse_match_v1(
    make: Callable[..., Any], both: CustomerInsights
) -> None:
    name = str(both.segments().sort_values("size")["name"].iloc[-1])
    explorer: SegmentExplorer = make(SegmentExplorer, both, sample=5)
    assert explorer.source == "dataverse"
    explorer.picker.value = name
    settle(explorer)
    assert explorer.members.value.count("<tr>") == 1 + 5
    assert "read through dataverse" in explorer.members.value
    first = both.segment_members(name, top=5, select=["CustomerId"], source="dataverse")
    for cid in first["CustomerId"]:
        assert cid in explorer.members.value


def test_explorer_with_dataverse_only_reads_members_by_name(
    make: Callable[..., Any], both: CustomerInsights, dv_only: CustomerInsights
) -> None:
    name = str(both.segments().sort_values("size")["name"].iloc[-1])
    explorer: SegmentExplorer = make(SegmentExplorer, dv_only, sample=3)
    assert "v1 API" in explorer.table.value
    assert explorer.picker.layout.display == "none"
    explorer.name.value = name
    settle(explorer)
    assert explorer.members.value.count("<tr>") == 1 + 3
