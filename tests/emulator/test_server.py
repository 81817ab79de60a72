"""The emulator as a server: HTTPS on 127.0.0.1, settings, routing of every operation, errors."""

from __future__ import annotations

import ssl
import statistics
import time
import uuid

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Mount, Route

from ci_toolkit.emulator import Emulator, EmulatorConfig, EmulatorSettings
from ci_toolkit.emulator.contract import operations
from ci_toolkit.emulator.routes import HANDLERS, RequestContext
from tests.emulator.contract import assert_matches_contract

# A platform operation whose handler the tests remove or replace (monkeypatched, restored after).
PATCHED = "Get-all-role-definitions"


def test_settings_point_at_a_running_https_server(emulator: Emulator) -> None:
    settings = emulator.settings
    assert isinstance(settings, EmulatorSettings)
    assert settings.base_url.startswith("https://127.0.0.1:")
    assert settings.base_url.endswith("/v1")
    assert settings.authority == settings.base_url.removesuffix("/v1") + "/" + settings.tenant_id
    assert settings.instance_id == emulator.state.default_instance_id
    assert settings.ca_file.is_file()
    assert emulator.running


def test_settings_repr_hides_secrets(emulator: Emulator) -> None:
    text = repr(emulator.settings)
    assert emulator.settings.subscription_key not in text
    assert emulator.settings.client_secret not in text
    assert emulator.settings.tenant_id in text


def test_server_certificate_is_only_trusted_with_the_emulator_ca(emulator: Emulator) -> None:
    url = emulator.settings.base_url + "/instances"
    with pytest.raises(httpx.ConnectError), httpx.Client(verify=ssl.create_default_context()) as c:
        c.get(url)
    with httpx.Client(verify=emulator.settings.ssl_context()) as client:
        assert client.get(url).status_code == 401  # TLS accepted, credentials missing


def test_start_stop_and_overrides() -> None:
    emu = Emulator(EmulatorConfig(profiles=50), seed=3, auto_approve=False)
    assert emu.config.seed == 3
    assert emu.config.profiles == 50
    with pytest.raises(RuntimeError):
        _ = emu.settings
    emu.start()
    try:
        url = emu.settings.base_url
        ctx = emu.settings.ssl_context()
        with httpx.Client(verify=ctx) as client:
            assert client.get(url + "/instances").status_code == 401
    finally:
        emu.stop()
    assert not emu.running
    with pytest.raises(httpx.ConnectError), httpx.Client(verify=ctx) as client:
        client.get(url + "/instances")
    emu.stop()  # twice is fine
    with pytest.raises(TypeError):
        Emulator(no_such_option=1)


def test_every_contract_operation_is_routed_to_its_handler_name(emulator: Emulator) -> None:
    app = emulator.app
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/v1")
    api = mount.app.app  # the gateway wraps the API app
    routes = [r for r in api.routes if isinstance(r, Route)]
    for op in operations():
        path = op.path.replace("{relativePath}", "Customer/x/y")
        for name in ("instanceId", "workflowName", "jobId", "segmentName", "measureName"):
            path = path.replace("{" + name + "}", "p" + name)
        path = path.replace("{", "v").replace("}", "")
        scope = {"type": "http", "method": op.method, "path": path, "root_path": ""}
        matched = [r.name for r in routes if r.matches(scope)[0] == Match.FULL]
        assert matched[:1] == [op.operation_id], (op, matched)


def test_unimplemented_operation_answers_501_naming_it(
    api: httpx.Client, instance_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(HANDLERS, PATCHED)
    response = api.get(f"/instances/{instance_id}/rbac/roles")
    assert response.status_code == 501
    body = response.json()
    assert PATCHED in body["message"]
    assert body["errorCode"] == "NotImplemented"
    assert body["httpStatusCode"] == "501"
    assert response.headers["x-ms-request-id"]


def test_malformed_and_unknown_instance_ids(api: httpx.Client) -> None:
    bad = api.get("/instances/not-a-guid")
    assert bad.status_code == 400
    assert "not-a-guid" in bad.json()["message"]
    missing_id = str(uuid.uuid4())
    missing = api.get(f"/instances/{missing_id}")
    assert missing.status_code == 404
    assert missing_id in missing.json()["message"]
    assert_matches_contract(missing, "Get-instance-metadata")


def test_data_endpoint_instance_errors_use_the_odata_shape(api: httpx.Client) -> None:
    response = api.get("/instances/not-a-guid/data/Customer")
    assert response.status_code == 400
    body = response.json()
    assert set(body) >= {"errorCode", "message"}
    assert "httpStatusCode" not in body
    assert_matches_contract(response, "Get-entities-with-OData-path")


def test_unknown_path_gets_the_gateway_404(api: httpx.Client) -> None:
    response = api.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "message": "Resource not found"}
    assert api.delete("/instances").status_code == 404  # wrong method: no such operation


@pytest.fixture
def failing_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(request: Request, ctx: RequestContext) -> Response:
        raise RuntimeError("secret internal detail")

    monkeypatch.setitem(HANDLERS, PATCHED, boom)


@pytest.mark.usefixtures("failing_handler")
def test_handler_crash_is_a_500_api_error_without_details(
    api: httpx.Client, instance_id: str
) -> None:
    response = api.get(f"/instances/{instance_id}/rbac/roles")
    assert response.status_code == 500
    body = response.json()
    assert body["exceptionCulprit"] == "system"
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["x-ms-request-id"] in body["message"]
    # and the server keeps serving
    assert api.get("/instances").status_code == 200


def test_every_response_carries_a_distinct_request_id(
    emulator: Emulator, api: httpx.Client
) -> None:
    root = emulator.settings.base_url.removesuffix("/v1")
    ids = {
        api.get("/instances").headers["x-ms-request-id"],
        api.get("/no/such/thing").headers["x-ms-request-id"],
        httpx.get(
            emulator.settings.base_url + "/instances", verify=emulator.settings.ssl_context()
        ).headers["x-ms-request-id"],
        api.get(f"{root}/devicelogin").headers["x-ms-request-id"],
    }
    assert len(ids) == 4
    for rid in ids:
        uuid.UUID(rid)


def test_small_responses_are_not_held_back_by_delayed_acks(api: httpx.Client) -> None:
    """Without TCP_NODELAY every response waited ~40 ms for the client's delayed ACK."""
    api.get("/instances")
    durations = []
    for _ in range(15):
        started = time.perf_counter()
        assert api.get("/instances").status_code == 200
        durations.append(time.perf_counter() - started)
    assert statistics.median(durations) < 0.025
