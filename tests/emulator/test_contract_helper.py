"""The shared contract checker catches what it should (so other tests can rely on it)."""

from __future__ import annotations

import httpx
import pytest

from tests.emulator.contract import assert_matches_contract, response_schema

GOOD_ID = "44f7db50-8f44-5db8-b411-887d91e0f775"


@pytest.mark.parametrize(
    ("operation_id", "status", "body", "fragment"),
    [
        ("Get-all-instances", 200, [{"instanceId": "nope"}], "0/instanceId"),
        ("Get-all-instances", 200, [{"instanceType": "huge"}], "is not one of"),
        ("Get-all-instances", 200, {"instanceId": GOOD_ID}, "is not of type 'array'"),
        ("Get-instance-metadata", 200, {"createdUtc": "yesterday"}, "date-time"),
        ("Get-instance-metadata", 200, {"refreshSchedule": {"scheduleId": 5}}, "scheduleId"),
        ("Get-instance-metadata", 404, {"httpStatusCode": 404}, "httpStatusCode"),
        ("Get-instance-metadata", 418, {}, "does not declare"),
    ],
)
def test_violations_are_reported(
    operation_id: str, status: int, body: object, fragment: str
) -> None:
    with pytest.raises(AssertionError, match=fragment):
        assert_matches_contract(httpx.Response(status, json=body), operation_id)


def test_valid_bodies_pass_and_bodyless_statuses_are_accepted() -> None:
    ok = [{"instanceId": GOOD_ID, "instanceType": "sandbox", "name": "x"}]
    assert_matches_contract(httpx.Response(200, json=ok), "Get-all-instances")
    assert_matches_contract(httpx.Response(401, text="anything"), "Get-all-instances")
    assert response_schema("Get-all-instances", 401) is None


def test_non_json_body_is_reported() -> None:
    with pytest.raises(AssertionError, match="not JSON"):
        assert_matches_contract(httpx.Response(200, text="<html>"), "Get-all-instances")


def test_unknown_operation() -> None:
    with pytest.raises(KeyError):
        response_schema("Get-everything", 200)
