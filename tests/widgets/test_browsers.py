"""EntityBrowser and CustomerLookup, headless on the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.widgets import CustomerLookup, EntityBrowser
from tests.widgets.conftest import settle


def test_entities_with_row_counts_attributes_and_sample(
    make: Callable[..., Any], admin: CustomerInsights
) -> None:
    browser: EntityBrowser = make(EntityBrowser, admin, sample=5)
    assert browser.entities is not None
    counts = browser.entities.set_index("name")["rowCount"]
    assert counts["Customer"] == admin.entity_size("Customer")["rowCount"] == 1000
    assert "unifiedActivity" in browser.table.value
    browser.picker.value = "Customer"
    settle(browser)
    assert "CustomerId" in browser.attributes.value
    assert "LoyaltyTier" in browser.attributes.value
    assert browser.rows.value.count("<tr>") == 1 + 5
    assert "more columns not shown" in browser.rows.value  # bounded width


@pytest.fixture
def known(admin: CustomerInsights) -> dict[str, Any]:
    row = admin.query("Customer", top=1, orderby="CustomerId", progress=False).iloc[0]
    return {"id": row["CustomerId"], "name": row["FullName"], "email": row["Email"]}


def test_lookup_finds_a_known_customer_and_shows_the_card(
    make: Callable[..., Any], admin: CustomerInsights, known: dict[str, Any]
) -> None:
    lookup: CustomerLookup = make(CustomerLookup, admin)
    lookup.search.value = known["name"]
    settle(lookup)
    assert known["id"] in [v for _, v in lookup.picker.options]
    assert "customers found" in lookup.message.value
    lookup.picker.value = known["id"]
    settle(lookup)
    card = lookup.card.value
    assert lookup.customer is not None
    assert lookup.customer.customer_id == known["id"]
    assert known["email"] in card
    assert "TotalSpend" in card  # measures
    assert f"({len(lookup.customer.activities)} in all)" in card
    [output] = lookup.chart.outputs
    assert output["data"]["image/png"]


def test_lookup_without_matches_says_so(make: Callable[..., Any], admin: CustomerInsights) -> None:
    lookup: CustomerLookup = make(CustomerLookup, admin)
    lookup.search.value = "Zzyzxnomatch"
    settle(lookup)
    assert lookup.picker.options == ()
    assert "No customer matches" in lookup.table.value
