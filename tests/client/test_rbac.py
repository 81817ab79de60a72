"""my_role(), role_assignments(), roles() against the emulator."""

from __future__ import annotations

import httpx

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator

from .conftest import make_session


def test_my_role_admin(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    me = ci.my_role()
    body = raw.get(f"instances/{iid}/rbac/myrole").json()
    assert me["role"] == "admin"
    assert me["roles"] == body["roles"]
    assert me["principalId"] == body["principalId"]


def test_my_role_viewer(emulator: Emulator) -> None:
    viewer = CustomerInsights(
        make_session(emulator, "viewer"), instance_id=emulator.settings.instance_id
    )
    try:
        assert viewer.my_role()["role"] == "viewer"
    finally:
        viewer.close()


def test_role_assignments(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    df = ci.role_assignments()
    assert list(df.columns) == ["principalId", "principalType", "role", "roles", "instanceId"]
    body = raw.get(f"instances/{iid}/rbac/assignments").json()
    assert len(df) == len(body)
    assert set(df["principalId"]) == {a["principalId"] for a in body}
    assert set(df["role"]) <= {"admin", "contributor", "viewer"}
    assert str(df["principalType"].dtype) == "string"


def test_roles(ci: CustomerInsights) -> None:
    df = ci.roles()
    assert list(df.columns) == ["roleName", "description"]
    assert set(df["roleName"]) == {"admin", "contributor", "viewer"}
    assert df["description"].notna().all()
