"""Bad input, one test per row of the README's table: a specific error that names the problem
and the fix, raised by the toolkit (not a library's traceback first), and nothing changed.

Every row goes through the public API (``ci_toolkit.connect()`` and ``CustomerInsights``
methods) against emulators of this module's own over HTTPS, with real MSAL. After each test
the emulator's segments, jobs, role assignments, measures and entities are what they were
before (:func:`unchanged`).
"""

from __future__ import annotations

import json
import re
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import ci_toolkit
from ci_toolkit import exceptions as exc
from ci_toolkit._defaults import ENV_VARS
from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator, EmulatorConfig
from tests.support import RecordingPrompt, connect_args

PACKAGE = Path(ci_toolkit.__file__).resolve().parent
#: ci-toolkit's connection settings (CI_TENANT_ID, ...): none may leak in from outside.
ENV_NAMES = tuple(ENV_VARS.values())
UNKNOWN_GUID = "0b5e1c2d-0000-4000-8000-00000000beef"


@pytest.fixture(scope="module")
def world() -> Iterator[Emulator]:
    """This module's emulator (auto-approves device codes as the demo admin)."""
    with Emulator(EmulatorConfig(profiles=300, seed=7, time_scale=0.02)) as emu:
        yield emu


@pytest.fixture(scope="module")
def manual() -> Iterator[Emulator]:
    """An emulator where a person (the test) approves or declines each device code."""
    with Emulator(EmulatorConfig(profiles=100, auto_approve=False)) as emu:
        emu.aad.poll_interval = 1
        yield emu


pytestmark = pytest.mark.usefixtures("no_user_settings")


def connect(
    emu: Emulator, prompt: RecordingPrompt | None = None, **changes: Any
) -> CustomerInsights:
    """``ci_toolkit.connect()`` to ``emu``: no token cache, no user config file, no fallback."""
    return ci_toolkit.connect(
        **connect_args(emu, **changes),
        prompt=prompt or RecordingPrompt(),
        token_cache=False,
        emulator=False,
        config_file=Path("/nonexistent/ci-toolkit/config.toml"),
    )


@pytest.fixture(scope="module")
def admin(world: Emulator) -> Iterator[CustomerInsights]:
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV_NAMES:
            mp.delenv(name, raising=False)
        ci = connect(world)
    yield ci
    ci.close()


def snapshot(emu: Emulator) -> dict[str, Any]:
    """What must survive bad input: segments (definition, state), jobs, roles, measures."""
    s = emu.settings
    headers = {
        "Authorization": f"Bearer {emu.mint_token(role='admin')}",
        "Ocp-Apim-Subscription-Key": s.subscription_key,
    }
    root = f"instances/{s.instance_id}"
    with httpx.Client(
        base_url=s.base_url + "/", verify=s.ssl_context(), headers=headers, timeout=30
    ) as http:
        segments = http.get(f"{root}/manage/segments").json()
        jobs = http.get(f"{root}/workflows/main/jobs", params={"top": 1000}).json()
        measures = http.get(f"{root}/manage/measures").json()
        entities = http.get(f"{root}/manage/entities").json()
        roles = http.get(f"{root}/rbac/assignments").json()
    keep = ("name", "friendlyName", "description", "state", "segmentQueryExpression", "kind")
    return {
        "segments": sorted(
            json.dumps({k: x.get(k) for k in keep}, sort_keys=True) for x in segments
        ),
        # jobs submitted on demand (a demo schedule may fire meanwhile, on the wall clock)
        "jobs": sorted(j["jobId"] for j in jobs if j.get("jobSubmissionKind") != "scheduled"),
        "measures": sorted(m["name"] for m in measures),
        "entities": sorted(e["name"] for e in entities["entities"]),
        "roles": sorted(json.dumps(r, sort_keys=True) for r in roles),
    }


@pytest.fixture(autouse=True)
def unchanged(world: Emulator) -> Iterator[dict[str, Any]]:
    """Nothing changes or is lost: the emulator's state is the same after each test."""
    before = snapshot(world)
    yield before
    assert snapshot(world) == before, "bad input changed the service's data"


def assert_toolkit_error(
    info: pytest.ExceptionInfo[exc.CustomerInsightsError], cls: type[exc.CustomerInsightsError]
) -> str:
    """The exact class, raised by toolkit code, one exception in the traceback; its text."""
    error = info.value
    assert type(error) is cls, f"{type(error).__name__}: {error}"
    # the last frame is the toolkit's own raise, not a frame inside httpx or MSAL
    last = traceback.extract_tb(error.__traceback__)[-1]
    assert Path(last.filename).resolve().is_relative_to(PACKAGE), last
    # no library exception printed before it ("direct cause" / "during handling")
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    printed = "".join(traceback.format_exception(error))
    assert printed.count("Traceback (most recent call last)") == 1
    assert printed.rstrip().splitlines()[-1].startswith(f"ci_toolkit.exceptions.{cls.__name__}: ")
    text = str(error)
    for raw in ("httpx.", "msal.", "HTTPStatusError", "Traceback", "Unable to get authority"):
        assert raw not in text
    return text


def count_requests(ci: CustomerInsights) -> list[httpx.Request]:
    """Record every request the client's HTTP session sends from now on."""
    sent: list[httpx.Request] = []
    ci.session.client.event_hooks["request"].append(sent.append)
    return sent


# --- instances ---------------------------------------------------------------------------------


def test_wrong_instance_id(world: Emulator, admin: CustomerInsights) -> None:
    before = admin.instance_id
    with pytest.raises(exc.NotFoundError) as info:
        admin.use_instance(UNKNOWN_GUID)
    text = assert_toolkit_error(info, exc.NotFoundError)
    assert UNKNOWN_GUID in text
    assert "ci.instances()" in text
    assert "ci.use_instance" in text
    assert admin.instance_id == before  # still on the instance it had


def test_malformed_instance_id(world: Emulator, admin: CustomerInsights) -> None:
    prompt = RecordingPrompt()
    with pytest.raises(exc.ConfigurationError) as info:
        connect(world, prompt, instance_id="contoso-prod")
    text = assert_toolkit_error(info, exc.ConfigurationError)
    assert "'contoso-prod'" in text
    assert "00000000-0000-0000-0000-000000000000" in text  # the expected form
    assert "ci.instances()" in text
    assert "CI_INSTANCE_ID" in text
    assert prompt.codes == []  # refused before any sign-in

    sent = count_requests(admin)
    with pytest.raises(exc.ConfigurationError, match="'contoso-prod'"):
        admin.use_instance("contoso-prod")
    with pytest.raises(exc.ConfigurationError, match="GUID"):
        admin.instance("44f7db50")
    assert sent == []  # refused before any request
    assert admin.instance_id == world.settings.instance_id


# --- names that do not exist -------------------------------------------------------------------


def test_unknown_entity(admin: CustomerInsights) -> None:
    with pytest.raises(exc.NotFoundError) as info:
        admin.query("Custmer", progress=False)
    text = assert_toolkit_error(info, exc.NotFoundError)
    assert "'Custmer'" in text
    assert "ci.entities()" in text
    assert info.value.status == 404


def test_unknown_segment(admin: CustomerInsights) -> None:
    with pytest.raises(exc.NotFoundError) as info:
        admin.segment("highvaluecustomers")
    text = assert_toolkit_error(info, exc.NotFoundError)
    assert "'highvaluecustomers'" in text
    assert "ci.segments()" in text
    with pytest.raises(exc.NotFoundError, match=r"ci\.segments\(\)"):
        admin.delete_segment("highvaluecustomers")  # the service's 404 says the same


def test_unknown_measure(admin: CustomerInsights) -> None:
    with pytest.raises(exc.NotFoundError) as info:
        admin.measure("TotalSpent")
    text = assert_toolkit_error(info, exc.NotFoundError)
    assert "'TotalSpent'" in text
    assert "ci.measures()" in text


def test_unknown_export(admin: CustomerInsights) -> None:
    with pytest.raises(exc.NotFoundError) as info:
        admin.run_export("braze-gold")
    text = assert_toolkit_error(info, exc.NotFoundError)
    assert "'braze-gold'" in text
    assert "braze-gold-members" in text  # the exports that do exist
    assert "ci.exports()" in text
    # no job was submitted: checked by the `unchanged` fixture (job ids)


def test_unknown_job(admin: CustomerInsights) -> None:
    with pytest.raises(exc.NotFoundError) as info:
        admin.job(UNKNOWN_GUID)
    text = assert_toolkit_error(info, exc.NotFoundError)
    assert UNKNOWN_GUID in text
    assert "ci.jobs()" in text


# --- queries the service refuses ---------------------------------------------------------------


def test_invalid_odata_filter(admin: CustomerInsights) -> None:
    with pytest.raises(exc.QueryError) as info:
        admin.query("Customer", filter="FirstName eq", progress=False)
    text = assert_toolkit_error(info, exc.QueryError)
    assert info.value.target == "$filter"
    assert "'FirstName eq'" in text
    assert "Syntax error at position" in text
    assert "ci_toolkit.odata.F" in text


def test_filter_on_a_source_table(admin: CustomerInsights) -> None:
    with pytest.raises(exc.QueryError) as info:
        admin.query("PosSystem_Customers", filter="City eq 'Dublin'", progress=False)
    text = assert_toolkit_error(info, exc.QueryError)
    assert info.value.target == "$filter"
    assert "source table 'PosSystem_Customers'" in text
    assert "system table such as Customer" in text  # where to filter instead


def test_expand_with_search(admin: CustomerInsights) -> None:
    with pytest.raises(exc.QueryError) as info:
        admin.query("Customer", search="Smith", expand="UnifiedActivity", progress=False)
    text = assert_toolkit_error(info, exc.QueryError)
    assert info.value.target == "$expand"
    assert "$expand cannot be combined with $search" in text
    assert "run the search first" in text


# --- changes the service refuses ---------------------------------------------------------------


def test_rejected_segment_definition(admin: CustomerInsights, unchanged: dict[str, Any]) -> None:
    definition = admin.segment_definition("BadInputSegment", [("LifetimeValue", ">", 100)])
    with pytest.raises(exc.BadRequestError) as info:
        admin.create_segment(definition)
    text = assert_toolkit_error(info, exc.BadRequestError)
    assert "'LifetimeValue'" in text
    assert "attributes: CustomerId" in text  # the attributes a condition may use
    assert "BadInputSegment" not in set(admin.segments()["name"])


def test_viewer_trying_to_change_something(world: Emulator) -> None:
    world.set_auto_approve(True, role="viewer")
    try:
        viewer = connect(world)
    finally:
        world.set_auto_approve(True, role="admin")
    with viewer:
        before = viewer.segment("HighValueCustomers").attrs["raw"]
        with pytest.raises(exc.PermissionDeniedError) as info:
            viewer.delete_segment("HighValueCustomers")
        text = assert_toolkit_error(info, exc.PermissionDeniedError)
        assert "'viewer'" in text
        assert "'contributor' role" in text  # the role it needs
        assert "ci.my_role()" in text
        assert viewer.segment("HighValueCustomers").attrs["raw"] == before


# --- credentials -------------------------------------------------------------------------------


def test_missing_subscription_key(world: Emulator) -> None:
    prompt = RecordingPrompt()
    with pytest.raises(exc.ConfigurationError) as info:
        connect(world, prompt, subscription_key=None)
    text = assert_toolkit_error(info, exc.ConfigurationError)
    assert "missing subscription_key (CI_SUBSCRIPTION_KEY)" in text
    assert "Set the missing values as connect() arguments" in text
    assert prompt.codes == []  # nothing was sent


@pytest.mark.parametrize(
    ("cut", "what"),
    [
        ("\n", "a line break"),
        ("\r\n", "a carriage return"),
        ("\t", "a tab"),
        ("\x7f", "U+007F"),
        ("\u200b", "U+200B"),  # a zero-width space: invisible when pasted
    ],
)
@pytest.mark.parametrize("via", ["argument", "environment"])
def test_subscription_key_with_a_control_character(
    world: Emulator, monkeypatch: pytest.MonkeyPatch, cut: str, what: str, via: str
) -> None:
    key = world.settings.subscription_key
    pasted = key[:10] + cut + key[10:]
    prompt = RecordingPrompt()
    if via == "environment":
        monkeypatch.setenv("CI_SUBSCRIPTION_KEY", pasted)
    with pytest.raises(exc.ConfigurationError) as info:
        connect(world, prompt, subscription_key=pasted if via == "argument" else None)
    text = assert_toolkit_error(info, exc.ConfigurationError)
    assert "Setting subscription_key (CI_SUBSCRIPTION_KEY)" in text
    assert what in text
    assert "position 11" in text
    for form in [*exc.renderings(pasted), key[:10], key[10:]]:
        assert form not in text  # not the value, escaped or not, nor a piece of it
    assert prompt.codes == []  # refused before any request


def test_wrong_subscription_key(world: Emulator) -> None:
    wrong = "0123456789abcdef0123456789abcdef"
    with connect(world, subscription_key=wrong) as ci:
        credential = ci.session.credential
        assert credential is not None
        with pytest.raises(exc.AuthenticationError) as info:
            ci.segments()
        assert credential.acquisitions == 1  # a key problem: no pointless token refresh
    text = assert_toolkit_error(info, exc.AuthenticationError)
    assert "invalid subscription key" in text
    assert "CI_SUBSCRIPTION_KEY" in text
    assert wrong not in text


def test_unknown_tenant(world: Emulator) -> None:
    authority = world.settings.authority.rsplit("/", 1)[0] + "/no-such-tenant"
    with pytest.raises(exc.UnknownTenantError) as info:
        connect(world, authority=authority, tenant_id=None)
    text = assert_toolkit_error(info, exc.UnknownTenantError)
    assert "no-such-tenant" in text
    assert "CI_TENANT_ID" in text
    assert "CI_AUTHORITY" in text


def test_wrong_client_id(world: Emulator) -> None:
    client_id = "00000000-0000-0000-0000-00000000dead"
    prompt = RecordingPrompt()
    with pytest.raises(exc.UnknownClientError) as info:
        connect(world, prompt, client_id=client_id)
    text = assert_toolkit_error(info, exc.UnknownClientError)
    assert client_id in text
    assert "Check client_id (CI_CLIENT_ID)" in text
    assert info.value.error_code == "AADSTS700016"
    assert prompt.codes == []


def test_declined_device_code(manual: Emulator) -> None:
    prompt = RecordingPrompt(lambda code: manual.aad.decide(code, "admin", approve=False))
    with pytest.raises(exc.SignInDeclinedError) as info:
        connect(manual, prompt)
    text = assert_toolkit_error(info, exc.SignInDeclinedError)
    assert "declined" in text
    assert "Run connect() again and approve" in text
    assert len(prompt.codes) == 1


def test_expired_device_code(manual: Emulator) -> None:
    def let_it_expire(code: str) -> None:
        manual.aad._by_user_code[code].expires_at = time.time() - 1

    prompt = RecordingPrompt(let_it_expire)
    with pytest.raises(exc.DeviceCodeExpiredError) as info:
        connect(manual, prompt)
    text = assert_toolkit_error(info, exc.DeviceCodeExpiredError)
    assert "expired" in text
    assert "Run connect() again and enter the new code" in text


def test_missing_config_value(world: Emulator, tmp_path: Path) -> None:
    s = world.settings
    config = tmp_path / "config.toml"
    config.write_text(
        f'tenant_id = "{s.tenant_id}"\nsubscription_key = "{s.subscription_key}"\n',
        encoding="utf-8",
    )
    prompt = RecordingPrompt()
    with pytest.raises(exc.ConfigurationError) as info:
        ci_toolkit.connect(prompt=prompt, config_file=config, token_cache=False)
    text = assert_toolkit_error(info, exc.ConfigurationError)
    assert "missing client_id (CI_CLIENT_ID)" in text
    assert f"config file {config}" in text  # where the other values came from
    assert s.subscription_key not in text
    assert prompt.codes == []


# --- files, URLs, argument types, a closed connection ---------------------------------------------


def test_ca_file_that_is_not_a_pem_bundle(world: Emulator, tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("this is not a certificate\n", encoding="utf-8")
    prompt = RecordingPrompt()
    with pytest.raises(exc.ConfigurationError) as info:
        connect(world, prompt, ca_file=not_pem)
    text = assert_toolkit_error(info, exc.ConfigurationError)
    assert f"ca_file {not_pem} (CI_CA_FILE) is not a CA bundle in PEM form" in text
    assert prompt.codes == []


def test_config_file_that_is_not_utf8(world: Emulator, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes('tenant_id = "café"\n'.encode("latin-1"))
    with pytest.raises(exc.ConfigurationError) as info:
        ci_toolkit.connect(prompt=RecordingPrompt(), config_file=config, token_cache=False)
    text = assert_toolkit_error(info, exc.ConfigurationError)
    assert f"Cannot read the config file {config}: it is not UTF-8 text" in text
    assert "Save it as UTF-8" in text


def _assert_value_error_from_the_toolkit(error: BaseException) -> str:
    assert type(error) is ValueError, repr(error)
    last = traceback.extract_tb(error.__traceback__)[-1]
    assert Path(last.filename).resolve().is_relative_to(PACKAGE), last
    return str(error)


def test_a_query_whose_url_grows_too_long(admin: CustomerInsights) -> None:
    ids = [f"{n:032x}" for n in range(400)]  # 400 customer ids: about 16,000 characters
    sent = count_requests(admin)
    with pytest.raises(ValueError, match="request URL would be") as info:
        admin.query("Customer", filter=ci_toolkit.odata.F.in_("CustomerId", ids), progress=False)
    text = _assert_value_error_from_the_toolkit(info.value)
    assert "over the 8,192 that the service's front end accepts" in text
    assert "F.in_ over fewer values per call" in text
    assert not [r for r in sent if "/data/" in r.url.path]  # never sent


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda ci: ci.query(["Customer"]), "expected a non-empty name"),
        (lambda ci: ci.query("Customer", top="10"), "top must be an integer"),
        (lambda ci: ci.query("Customer", select=5), "select"),
        (lambda ci: ci.query("Customer", orderby=5), "orderby"),
        (lambda ci: ci.query("Customer", max_concurrency=0), "max_concurrency"),
        (lambda ci: ci.query("Customer", search=5), "search"),
        (lambda ci: list(ci.iter_batches("Customer", batch_rows=0)), "batch_rows"),
        (lambda ci: ci.to_parquet("/no/such/folder/c.parquet", "Customer"), "does not exist"),
        (lambda ci: ci.measure(None), "expected a non-empty name"),
        (lambda ci: ci.job(42), "expected a non-empty name"),
    ],
)
def test_wrong_argument_types(admin: CustomerInsights, call: Any, names: str) -> None:
    sent = count_requests(admin)
    with pytest.raises(ValueError, match=re.escape(names)) as info:
        call(admin)
    assert names in _assert_value_error_from_the_toolkit(info.value)
    assert sent == []  # refused before any request


def test_filter_of_the_wrong_type(admin: CustomerInsights) -> None:
    with pytest.raises(TypeError, match="expected a Filter or a str, got int"):
        admin.query("Customer", filter=42)  # type: ignore[arg-type]


def test_use_after_close(world: Emulator) -> None:
    ci = connect(world)
    ci.segments()
    ci.close()
    with pytest.raises(exc.CustomerInsightsError) as info:
        ci.segments()
    text = assert_toolkit_error(info, exc.CustomerInsightsError)
    assert "This connection is closed" in text
    assert "connect() again" in text
