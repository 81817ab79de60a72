"""Bad requests to the Dataverse Web API get Dataverse's error body, never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.emulator.dataverse.helpers import assert_error

PROFILES = "msdynci_customerprofiles"
COOKIE = '<cookie pagenumber="2" pagingcookie="{}" istracking="False" />'


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        (PROFILES, {"$top": "-1"}, 400),
        (PROFILES, {"$top": "²"}, 400),  # "²".isdigit() is true; int() refuses it
        (PROFILES, {"$top": "9" * 5000}, 400),  # longer than int() converts
        (PROFILES, {"$count": "yes"}, 400),
        (PROFILES, {"$orderby": "msdynci_customerid sideways"}, 400),
        (PROFILES, {"$orderby": "_ownerid_value"}, 400),
        (PROFILES, {"$select": "msdynci_customerid,,"}, 400),
        (PROFILES, {"$filter": "contains(msdynci_customerprofileid,'a')"}, 400),
        (PROFILES, {"$filter": "msdynci_customerprofileid eq 123"}, 400),
        (PROFILES, {"$filter": "msdynci_birthdate gt 2000-13-45"}, 400),
        (PROFILES, {"$filter": "'"}, 400),
        (PROFILES, {"$skiptoken": COOKIE.format("%3c" + "-" * 36)}, 400),
        (PROFILES, {"$skiptoken": COOKIE.format('<cookie><x last="{' + "-" * 36 + '}"')}, 400),
        (PROFILES, {"$expand": "msdynci_customer_unifiedactivity"}, 400),
        (f"{PROFILES}(zzzz)", {}, 404),
        (f"{PROFILES}/msdynci_fullname", {}, 404),
        ("EntityDefinitions(LogicalName='msdynci_customerprofile')/Attributes/x/y", {}, 404),
        ("EntityDefinitions", {"$filter": "startswith(LogicalName,'m')"}, 400),
        ("EntityDefinitions", {"$filter": "LogicalName eq"}, 400),
        ("EntityDefinitions", {"$select": "NoSuchProperty"}, 400),
        ("EntityDefinitions(nope)", {}, 404),
    ],
)
def test_bad_requests_get_a_dataverse_error(
    dv: httpx.Client, path: str, params: dict[str, str], status: int
) -> None:
    response = dv.get(path, params=params)
    assert response.status_code == status, response.text[:300]
    assert set(response.json()) == {"error"}


def test_huge_page_size_preferences_are_clamped_or_ignored(dv: httpx.Client) -> None:
    for prefer in (
        "odata.maxpagesize=99999999999999999999",
        "odata.maxpagesize=abc",
        "x=y,,",
        "odata.maxpagesize=²",
        "odata.maxpagesize=" + "9" * 5000,
    ):
        response = dv.get(  # latin-1: the bytes a server decodes the header from
            PROFILES,
            params={"$select": "msdynci_customerid"},
            headers={"Prefer": prefer.encode("latin-1")},
        )
        assert response.status_code == 200
        assert len(response.json()["value"]) == 500


def test_other_methods_are_not_resources(dv: httpx.Client) -> None:
    assert_error(dv.request("OPTIONS", PROFILES), 405, "")
    assert_error(dv.post("EntityDefinitions", json={}), 405, "")
