"""``F`` expressions rendered for Dataverse: GUID and date literals, ``in_``, wildcards."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from ci_toolkit.dataverse.filters import dataverse_filter, like_escape
from ci_toolkit.odata import F

TYPES = {
    "msdynci_customerprofileid": "Uniqueidentifier",
    "msdynci_customerid": "String",
    "msdynci_activitytime": "DateTime",
    "msdynci_lastname": "String",
    "msdynci_lookupfield_customer": "Lookup",
}
KEY = uuid.UUID("6F1C0A52-1D2E-4A8B-9C3D-2E1F0A9B8C7D")


def test_guid_is_unquoted_on_guid_columns_and_stays_quoted_on_string_columns() -> None:
    text = dataverse_filter(
        F.eq("msdynci_customerprofileid", KEY) | F.eq("msdynci_customerid", str(KEY)), TYPES
    )
    assert text == (f"msdynci_customerprofileid eq {KEY} or msdynci_customerid eq '{KEY}'")


def test_lookup_value_property_compares_an_unquoted_guid() -> None:
    text = dataverse_filter(F.eq("_msdynci_lookupfield_customer_value", KEY), TYPES)
    assert text == f"_msdynci_lookupfield_customer_value eq {KEY}"


def test_dates_on_datetime_columns_become_midnight_utc_and_datetimes_stay_iso() -> None:
    after = F.gt("msdynci_activitytime", date(2024, 1, 1))
    before = F.lt("msdynci_activitytime", datetime(2024, 6, 1, tzinfo=UTC))
    assert dataverse_filter(after & before, TYPES) == (
        "msdynci_activitytime gt 2024-01-01T00:00:00Z and "
        "msdynci_activitytime lt 2024-06-01T00:00:00Z"
    )


def test_in_becomes_or_of_eq() -> None:
    text = dataverse_filter(F.in_("msdynci_customerid", ["a", "b"]) & F.eq("x", 1), TYPES)
    assert text == "(msdynci_customerid eq 'a' or msdynci_customerid eq 'b') and x eq 1"
    assert dataverse_filter(F.in_("msdynci_customerid", ["a"]), TYPES) == (
        "msdynci_customerid eq 'a'"
    )


def test_contains_escapes_wildcards_and_quotes_and_drops_the_space() -> None:
    text = dataverse_filter(F.contains("msdynci_lastname", "O'B_1%[x]"), TYPES)
    assert text == "contains(msdynci_lastname,'O''B[_]1[%][[]x]')"
    assert like_escape("plain") == "plain"


def test_not_keeps_its_space_and_parentheses() -> None:
    text = dataverse_filter(~F.startswith("msdynci_lastname", "Mc"), TYPES)
    assert text == "not (startswith(msdynci_lastname,'Mc'))"


def test_a_plain_string_is_sent_as_written() -> None:
    raw = "contains(msdynci_segments,'\\\"Gold\\\"') and msdynci_customerid eq 'x'"
    assert dataverse_filter(raw, TYPES) == raw
    assert dataverse_filter(None, TYPES) is None


def test_is_member_of_segment_names_the_dataverse_read() -> None:
    with pytest.raises(ValueError, match="segment_members"):
        dataverse_filter(F.is_member_of_segment("Gold"), TYPES)


def test_quoted_text_that_looks_like_an_operator_is_left_alone() -> None:
    text = dataverse_filter(F.eq("msdynci_lastname", f"x eq '{KEY}' in (1)"), TYPES)
    assert text == f"msdynci_lastname eq 'x eq ''{KEY}'' in (1)'"
