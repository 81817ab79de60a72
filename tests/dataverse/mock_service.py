"""A small Dataverse Web API on ``httpx.MockTransport``, in the response shapes of
DATAVERSE-NOTES sections 8-10, for paging and error edge cases the emulator cannot produce on
demand. Requests are recorded (method, URL, headers) so tests can check what was sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from ci_toolkit.dataverse import Dataverse
from ci_toolkit.http.retry import RetryPolicy
from ci_toolkit.http.session import ApiSession

ORG = "https://contoso.crm.dynamics.com"
ROOT = f"{ORG}/api/data/v9.2/"

ATTRIBUTES = {
    "msdynci_customerprofile": [
        ("msdynci_customerprofileid", "Uniqueidentifier"),
        ("msdynci_customerid", "String"),
        ("msdynci_firstname", "String"),
        ("msdynci_birthdate", "DateTime"),
        ("msdynci_score", "Integer"),
        ("msdynci_spend", "Money"),
        ("msdynci_optin", "Boolean"),
        ("versionnumber", "BigInt"),
        ("ownerid", "Owner"),
        ("owneridname", "String"),
    ],
    "msdynci_segmentmembership": [
        ("msdynci_segmentmembershipid", "Uniqueidentifier"),
        ("msdynci_customerid", "String"),
        ("msdynci_segments", "Memo"),
    ],
}


def profile(n: int) -> dict[str, Any]:
    return {
        "@odata.etag": f'W/"{n}"',
        "msdynci_customerprofileid": f"00000000-0000-0000-0000-{n:012d}",
        "msdynci_customerid": f"c{n:04d}",
        "msdynci_firstname": f"Name{n}",
        "msdynci_birthdate": "1990-01-02T00:00:00Z",
        "msdynci_score": n,
        "msdynci_spend": 10.5,
        "msdynci_optin": n % 2 == 0,
        "versionnumber": 1000 + n,
        "_ownerid_value": "11111111-2222-3333-4444-555555555555",
    }


class MockDataverse:
    """The handler behind the transport; ``rows`` and ``error`` can be changed by tests."""

    def __init__(self, rows: int = 7) -> None:
        self.rows = [profile(n) for n in range(rows)]
        self.memberships = [
            {"msdynci_customerid": "c0001", "msdynci_segments": '["Gold","Seg_1"]'},
            {"msdynci_customerid": "c0002", "msdynci_segments": '["SegX1"]'},
            {"msdynci_customerid": "c0003", "msdynci_segments": '["Gold"]'},
        ]
        self.requests: list[httpx.Request] = []
        self.error: tuple[int, dict[str, Any]] | None = None
        self.service_document: Callable[[], httpx.Response] | None = None
        self.count_cap = 5
        self.repeat_link = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/api/data/v9.2/")
        if self.error is not None:
            status, body = self.error
            return httpx.Response(status, json=body)
        if path == "":
            if self.service_document is not None:
                return self.service_document()
            sets = ["accounts", "msdynci_customerprofiles", "msdynci_segmentmemberships"]
            return httpx.Response(
                200, json={"value": [{"name": s, "kind": "EntitySet", "url": s} for s in sets]}
            )
        if path.startswith("EntityDefinitions(LogicalName='"):
            logical = path.split("'")[1]
            attrs = [
                {"LogicalName": n, "SchemaName": n, "AttributeType": t}
                for n, t in ATTRIBUTES[logical]
            ]
            return httpx.Response(200, json={"value": attrs})
        if path == "WhoAmI()":
            return httpx.Response(
                200, json={"UserId": "u-1", "BusinessUnitId": "b", "OrganizationId": "o"}
            )
        query = parse_qs(urlsplit(str(request.url)).query)
        wanted = re.findall(r"msdynci_customerid eq '([^']*)'", query.get("$filter", [""])[0])
        if path == "msdynci_segmentmemberships":
            rows = [m for m in self.memberships if not wanted or m["msdynci_customerid"] in wanted]
            return httpx.Response(200, json={"value": rows})
        if path != "msdynci_customerprofiles":
            return httpx.Response(
                404,
                json={
                    "error": {
                        "code": "0x8006088a",
                        "message": f"Resource not found for the segment '{path}'.",
                    }
                },
            )
        prefer = request.headers.get("Prefer", "")
        size = 5000
        for part in prefer.split(","):
            if part.startswith("odata.maxpagesize="):
                size = int(part.split("=")[1])
        start = int(query.get("$skiptoken", ["0"])[0])
        rows = self.rows
        if wanted:  # the only filter the mock understands: ids joined by or
            rows = [r for r in rows if r["msdynci_customerid"] in wanted]
        page = rows[start : start + size]
        if "$top" in query and "odata.maxpagesize" not in prefer:
            page = page[: int(query["$top"][0])]
        body: dict[str, Any] = {
            "@odata.context": f"{ROOT}$metadata#msdynci_customerprofiles",
            "value": page,
        }
        if query.get("$count") == ["true"]:
            body["@odata.count"] = min(len(rows), self.count_cap)
            if "totalrecordcountlimitexceeded" in prefer:
                exceeded = len(rows) > self.count_cap
                body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = exceeded
        if (start + size < len(rows) and "$top" not in query) or self.repeat_link:
            kept = {k: v[0] for k, v in query.items() if k != "$skiptoken"}
            token = 0 if self.repeat_link else start + size
            link = httpx.URL(
                ROOT + "msdynci_customerprofiles", params={**kept, "$skiptoken": token}
            )
            body["@odata.nextLink"] = str(link)
        return httpx.Response(
            200, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )


def mock_dataverse(service: MockDataverse) -> Dataverse:
    """A :class:`Dataverse` whose session talks to ``service`` (no retry waits)."""
    from ci_toolkit import _defaults
    from ci_toolkit.dataverse.session import _add_prefer

    client = httpx.Client(
        base_url=ROOT,
        transport=httpx.MockTransport(service),
        headers=_defaults.DATAVERSE_HEADERS,
        event_hooks={"request": [_add_prefer]},
    )
    session = ApiSession(client, retry_policy=RetryPolicy(max_attempts=1))
    return Dataverse(session, url=ORG)
