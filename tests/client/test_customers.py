"""customer(): the customer 360 view against the emulator."""

from __future__ import annotations

import pandas as pd
import pytest

from ci_toolkit.client import Customer360, CustomerInsights
from ci_toolkit.exceptions import NotFoundError
from ci_toolkit.odata import F


@pytest.fixture(scope="module")
def customer_id(ci: CustomerInsights) -> str:
    busy = ci.query("Customer_Measure", filter=F.gt("PurchaseCount", 2), top=1, progress=False)
    return str(busy["CustomerId"][0])


def test_customer_360(ci: CustomerInsights, customer_id: str) -> None:
    c = ci.customer(customer_id)
    assert isinstance(c, Customer360)
    assert c.customer_id == customer_id
    assert isinstance(c.profile, pd.Series)
    assert c.profile["CustomerId"] == customer_id
    expected = ci.query("Customer", filter=F.eq("CustomerId", customer_id), progress=False)
    assert c.profile["Email"] == expected["Email"][0] or pd.isna(expected["Email"][0])
    assert isinstance(c.profile["BirthDate"], pd.Timestamp)

    activities = c.activities
    assert len(activities) > 0
    assert (activities["CustomerId"] == customer_id).all()
    assert activities["ActivityTime"].is_monotonic_decreasing
    assert pd.api.types.is_datetime64_any_dtype(activities["ActivityTime"])
    raw_count = len(ci.query("UnifiedActivity", filter=F.eq("CustomerId", customer_id)))
    assert len(activities) == raw_count

    assert "CustomerId" not in c.measures.index
    assert c.measures["PurchaseCount"] > 2
    purchases = (activities["ActivityType"] == "Purchase").sum()
    assert c.measures["PurchaseCount"] == purchases


def test_customer_display(ci: CustomerInsights, customer_id: str) -> None:
    c = ci.customer(customer_id)
    assert customer_id in repr(c)
    html = c._repr_html_()
    assert c.name in html.replace("&#x27;", "'")
    assert "<table" in html


def test_unknown_customer(ci: CustomerInsights) -> None:
    with pytest.raises(NotFoundError, match="no customer"):
        ci.customer("no-such-customer")
    with pytest.raises(ValueError, match="customer_id"):
        ci.customer("")
