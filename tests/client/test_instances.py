"""instances(), instance(), use_instance() against the emulator."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
from ci_toolkit.exceptions import NotFoundError

from .conftest import make_session


def test_instances_columns_dtypes_and_values(ci: CustomerInsights, raw: httpx.Client) -> None:
    df = ci.instances()
    assert list(df.columns) == [
        "instanceId",
        "name",
        "instanceType",
        "azureRegion",
        "platformType",
        "scaleUnitId",
        "expiryTimeUtc",
    ]
    assert str(df["name"].dtype) == "string"
    assert pd.api.types.is_datetime64_any_dtype(df["expiryTimeUtc"])
    body = raw.get("instances").json()
    assert df["instanceId"].tolist() == [i["instanceId"] for i in body]
    assert df["name"].tolist() == [i["name"] for i in body]
    assert df.attrs["raw"] == body


def test_instance_metadata(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    s = ci.instance()
    body = raw.get(f"instances/{iid}").json()
    assert s["instanceId"] == iid == body["instanceId"]
    assert s["name"] == body["name"]
    assert s["provisioningState"] == body["provisioningState"]
    assert isinstance(s["createdUtc"], pd.Timestamp)
    assert str(s["createdUtc"].tz) == "UTC"
    assert s.attrs["raw"] == body


def test_default_instance_is_the_first(emulator: Emulator) -> None:
    client = CustomerInsights(make_session(emulator))
    try:
        first = client.instances()["instanceId"][0]
        assert client.instance_id == first
    finally:
        client.close()


def test_use_instance_switches_and_checks(emulator: Emulator) -> None:
    client = CustomerInsights(make_session(emulator))
    try:
        other = client.instances()["instanceId"][1]
        client.use_instance(other)
        assert client.instance_id == other
        assert client.instance()["instanceId"] == other
        with pytest.raises(NotFoundError):
            client.use_instance("00000000-0000-0000-0000-000000000000")
        assert client.instance_id == other
    finally:
        client.close()


def test_unknown_instance_metadata_is_not_found(ci: CustomerInsights) -> None:
    with pytest.raises(NotFoundError):
        ci.instance("00000000-0000-0000-0000-000000000000")
