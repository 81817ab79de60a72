"""Instances, permissions (rbac), profile store state and search configuration."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.emulator.state import ROLE_ASSIGNMENTS_FILE
from tests.emulator.contract import assert_matches_contract


def as_role(emulator: Emulator, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {emulator.mint_token(role)}"}


@pytest.fixture
def restore_assignments(emulator: Emulator, instance_id: str) -> Iterator[None]:
    instance = emulator.state.instances[instance_id]
    saved = dict(instance.role_assignments), dict(instance.principal_types)
    yield
    instance.role_assignments, instance.principal_types = saved


def test_get_all_instances(emulator: Emulator, api: httpx.Client, instance_id: str) -> None:
    response = api.get("/instances")
    assert response.status_code == 200
    assert_matches_contract(response, "Get-all-instances")
    body = response.json()
    assert [i["instanceId"] for i in body] == list(emulator.state.instances)
    assert body[0]["instanceId"] == instance_id
    assert body[0]["name"] == "Contoso Retail"
    assert {i["instanceType"] for i in body} == {"production", "sandbox"}


def test_get_instance_metadata(emulator: Emulator, api: httpx.Client, instance_id: str) -> None:
    response = api.get(f"/instances/{instance_id}")
    assert response.status_code == 200
    assert_matches_contract(response, "Get-instance-metadata")
    body = response.json()
    assert body["instanceId"] == instance_id
    assert body["provisioningState"] == "active"
    assert body["createdBy"] == emulator.state.directory.user_for_role("admin").upn
    sandbox = next(i for i in emulator.state.instances if i != instance_id)
    other = api.get(f"/instances/{sandbox}")
    assert other.json()["instanceType"] == "sandbox"


def test_role_definitions_and_my_role(
    emulator: Emulator, api: httpx.Client, instance_id: str
) -> None:
    roles = api.get(f"/instances/{instance_id}/rbac/roles")
    assert_matches_contract(roles, "Get-all-role-definitions")
    assert [r["roleName"] for r in roles.json()] == ["admin", "contributor", "viewer"]
    for role in ("admin", "contributor", "viewer"):
        mine = api.get(f"/instances/{instance_id}/rbac/myrole", headers=as_role(emulator, role))
        assert mine.status_code == 200
        assert_matches_contract(mine, "Get-current-user-role")
        assert mine.json()["roles"] == [role]
        assert mine.json()["principalId"] == emulator.state.directory.user_for_role(role).object_id
    app = api.get(f"/instances/{instance_id}/rbac/myrole", headers=as_role(emulator, "app"))
    assert app.json()["principalType"] == "app"


def test_list_role_assignments(emulator: Emulator, api: httpx.Client, instance_id: str) -> None:
    response = api.get(f"/instances/{instance_id}/rbac/assignments")
    assert_matches_contract(response, "Get-all-role-assignments")
    by_id = {a["principalId"]: a for a in response.json()}
    for user in emulator.state.directory.users:
        assert by_id[user.object_id]["roles"] == [user.role]
        assert by_id[user.object_id]["instanceId"] == instance_id


@pytest.mark.usefixtures("restore_assignments")
def test_update_and_delete_role_assignment(
    emulator: Emulator, api: httpx.Client, instance_id: str
) -> None:
    newcomer = str(uuid.uuid4())
    path = f"/instances/{instance_id}/rbac/principals/{newcomer}/assignment"
    created = api.put(path, json={"principalType": "group", "roles": ["viewer"]})
    assert created.status_code == 200
    assert_matches_contract(created, "Update-a-role-assignment")
    mine = next(a for a in created.json() if a["principalId"] == newcomer)
    assert mine == {
        "principalId": newcomer,
        "principalType": "group",
        "roles": ["viewer"],
        "instanceId": instance_id,
    }
    promoted = api.put(path, json={"roles": ["contributor"]})
    assert next(a for a in promoted.json() if a["principalId"] == newcomer)["roles"] == [
        "contributor"
    ]
    deleted = api.delete(path)
    assert deleted.status_code == 200
    assert_matches_contract(deleted, "Deletes-a-role-assignment")
    listed = api.get(f"/instances/{instance_id}/rbac/assignments").json()
    assert newcomer not in {a["principalId"] for a in listed}
    assert api.delete(path).status_code == 404


@pytest.mark.usefixtures("restore_assignments")
def test_role_changes_take_effect_at_once(
    emulator: Emulator, api: httpx.Client, instance_id: str
) -> None:
    viewer = emulator.state.directory.user_for_role("viewer")
    path = f"/instances/{instance_id}/rbac/principals/{viewer.object_id}/assignment"
    assert api.delete(path).status_code == 200
    denied = api.get(f"/instances/{instance_id}", headers=as_role(emulator, "viewer"))
    assert denied.status_code == 403
    assert "no role" in denied.json()["message"]
    listed = api.get("/instances", headers=as_role(emulator, "viewer")).json()
    assert instance_id not in {i["instanceId"] for i in listed}
    assert api.put(path, json={"roles": ["admin"]}).status_code == 200
    mine = api.get(f"/instances/{instance_id}/rbac/myrole", headers=as_role(emulator, "viewer"))
    assert mine.json()["roles"] == ["admin"]


@pytest.mark.parametrize(
    ("principal", "body", "fragment"),
    [
        ("not-a-guid", {"roles": ["viewer"]}, "principal id"),
        (None, {"roles": ["owner"]}, "exactly one"),
        (None, {"roles": ["viewer", "admin"]}, "exactly one"),
        (None, {"roles": ["viewer"], "principalType": "robot"}, "principalType"),
        (None, {"roles": ["viewer"], "principalId": str(uuid.uuid4())}, "differs"),
        (None, [1, 2], "JSON object"),
    ],
)
def test_bad_role_assignment_requests(
    api: httpx.Client, instance_id: str, principal: str | None, body: object, fragment: str
) -> None:
    target = principal or str(uuid.uuid4())
    path = f"/instances/{instance_id}/rbac/principals/{target}/assignment"
    response = api.put(path, json=body)
    assert response.status_code == 400
    assert fragment in response.json()["message"]
    assert response.json()["errorCode"]


def test_last_admin_cannot_be_removed(emulator: Emulator, api: httpx.Client) -> None:
    sandbox = list(emulator.state.instances)[1]
    instance = emulator.state.instances[sandbox]
    admins = [oid for oid, role in instance.role_assignments.items() if role == "admin"]
    assert len(admins) == 2  # the demo admin and the app
    app_path = f"/instances/{sandbox}/rbac/principals/{admins[1]}/assignment"
    saved = dict(instance.role_assignments)
    try:
        assert api.put(app_path, json={"roles": ["viewer"]}).status_code == 200
        last = f"/instances/{sandbox}/rbac/principals/{admins[0]}/assignment"
        refused = api.delete(last)
        assert refused.status_code == 400
        assert "last admin" in refused.json()["message"]
        assert api.put(last, json={"roles": ["viewer"]}).status_code == 400
    finally:
        instance.role_assignments = saved


def test_profile_store_state(emulator: Emulator, api: httpx.Client, instance_id: str) -> None:
    response = api.get(f"/instances/{instance_id}/profilestore/stateinfo")
    assert response.status_code == 200
    assert_matches_contract(response, "Get-profile-store-state")
    body = response.json()
    assert body["primaryInfo"]["currentState"] == "queryable"
    assert body["primaryInfo"]["rowCount"] == emulator.config.profiles
    assert body["instanceId"] == instance_id


def test_search_configuration(api: httpx.Client, instance_id: str) -> None:
    response = api.get(f"/instances/{instance_id}/manage/search")
    assert response.status_code == 200
    assert_matches_contract(response, "Get-search-configuration")
    [customer] = response.json()["entityConfig"]
    assert customer["qualifiedEntityName"] == "Customer"
    searchable = {a["name"] for a in customer["attributes"] if a["properties"]["isSearchable"]}
    assert {"FirstName", "LastName", "Email"} <= searchable


def test_viewer_reads_platform_resources(
    emulator: Emulator, api: httpx.Client, instance_id: str
) -> None:
    viewer = as_role(emulator, "viewer")
    for path in (
        "",
        "/rbac/roles",
        "/rbac/assignments",
        "/profilestore/stateinfo",
        "/manage/search",
    ):
        assert api.get(f"/instances/{instance_id}{path}", headers=viewer).status_code == 200, path


def test_role_assignments_persist_in_data_dir(tmp_path: Path) -> None:
    newcomer = str(uuid.uuid4())
    config = EmulatorConfig(profiles=50, seed=5, data_dir=tmp_path)
    with Emulator(config) as emu:
        instance_id = emu.settings.instance_id
        headers = {
            "Authorization": f"Bearer {emu.mint_token()}",
            "Ocp-Apim-Subscription-Key": emu.settings.subscription_key,
        }
        with httpx.Client(
            base_url=emu.settings.base_url, verify=emu.settings.ssl_context(), headers=headers
        ) as client:
            path = f"/instances/{instance_id}/rbac/principals/{newcomer}/assignment"
            assert client.put(path, json={"roles": ["contributor"]}).status_code == 200
    saved = json.loads((tmp_path / instance_id / ROLE_ASSIGNMENTS_FILE).read_text())
    assert {"principalId": newcomer, "role": "contributor", "principalType": "user"} in saved
    with Emulator(config) as again:
        assert again.state.instances[instance_id].role_assignments[newcomer] == "contributor"
