"""No secret in log records at any level, in exception messages, in ``repr``/``str`` of public
objects, or in widget state, after real flows against the emulator with real MSAL.

The flows: device code sign-in (auto-approved), a multi-page pull, a token refreshed with the
refresh token and after a 401, client credentials, a refresh job and an export run waited on,
and the failure paths (wrong subscription key 401, a viewer's 403, a 503 after retries, a
wrong client secret, an unknown client), all with every logger at DEBUG. Notebook outputs
are searched by ``tests/notebooks/test_notebooks_run.py`` (the same secret kinds).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ci_toolkit import exceptions as exc
from ci_toolkit.auth import TerminalPrompt
from ci_toolkit.client import CustomerInsights, JobHandle
from ci_toolkit.emulator import Emulator
from ci_toolkit.http.retry import RetryPolicy
from ci_toolkit.widgets import (
    CustomerLookup,
    DeviceCodePrompt,
    EntityBrowser,
    ExportMonitor,
    InstancePicker,
    JobMonitor,
    SegmentExplorer,
    SignInPanel,
)
from ci_toolkit.widgets._common import CIWidget, all_states
from tests.security.conftest import Capture, Secrets, connect

WRONG_KEY = "f00dfeedf00dfeedf00dfeedf00dfeed"
WRONG_SECRET = "ci~not-the-secret-0123456789abcdefghij"
EXPORT = "sftp-call-centre"


def _texts_of(error: BaseException) -> list[str]:
    texts = [str(error), repr(error)]
    if isinstance(error, exc.CustomerInsightsError):
        texts += [error.message, error._repr_html_()]
    return texts


def _raised(func: Callable[[], Any], errors: list[BaseException]) -> BaseException:
    with pytest.raises(exc.CustomerInsightsError) as info:
        func()
    errors.append(info.value)
    return info.value


@pytest.fixture
def clients() -> Iterator[list[CustomerInsights]]:
    made: list[CustomerInsights] = []
    yield made
    for ci in made:
        ci.close()


def test_the_search_finds_a_secret_when_there_is_one(vault: Emulator, secrets: Secrets) -> None:
    """The check below can fail: a key, a token's start or any JWT in a text is a finding."""
    key = vault.settings.subscription_key
    token = vault.mint_token()
    assert secrets.found_in([f"key={key}"])
    assert secrets.found_in([f"Bearer {token[:20]}..."])
    assert secrets.found_in(["eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
    assert secrets.found_in(["nothing to see"]) == []


def test_debug_logs_and_errors_of_real_flows_hold_no_secret(
    vault: Emulator,
    secrets: Secrets,
    debug_log: Capture,
    clients: list[CustomerInsights],
) -> None:
    errors: list[BaseException] = []

    # device code, persistent token cache, a multi-page pull
    ci = connect(vault)
    clients.append(ci)
    assert len(ci.query("Customer", select=["CustomerId"], progress=False)) == 300
    credential = ci.session.credential
    assert credential is not None
    # a refresh with the refresh token, then a 401 on a token the client still trusts
    credential.get_token(force_refresh=True)
    credential._token = vault.mint_token(lifetime=-60)
    assert not ci.segments().empty
    # a refresh job and an export run, waited on
    assert ci.refresh("segmentation").wait(poll_interval=0.05, timeout=60, progress=False)
    assert ci.run_export(EXPORT).wait(poll_interval=0.05, timeout=60, progress=False)

    # client credentials
    app = connect(
        vault,
        client_id=vault.settings.confidential_client_id,
        client_secret=vault.settings.client_secret,
    )
    clients.append(app)
    assert not app.instances().empty

    # failures: wrong subscription key (401), a viewer's change (403), 503 after retries
    secrets.add("subscription_key", WRONG_KEY)
    wrong_key = connect(vault, subscription_key=WRONG_KEY, token_cache=False)
    clients.append(wrong_key)
    _raised(wrong_key.segments, errors)
    vault.set_auto_approve(True, role="viewer")
    try:
        viewer = connect(vault, token_cache=False)
    finally:
        vault.set_auto_approve(True, role="admin")
    clients.append(viewer)
    _raised(lambda: viewer.delete_segment("HighValueCustomers"), errors)
    flaky = connect(
        vault,
        token_cache=False,
        retry_policy=RetryPolicy(max_attempts=2, sleep=lambda seconds: None),
    )
    clients.append(flaky)
    vault.set_faults(fault_rate=1.0, kinds=("unavailable",))
    try:
        _raised(flaky.segments, errors)
    finally:
        vault.set_faults(fault_rate=0.0)
    # sign-in failures
    secrets.add("client_secret", WRONG_SECRET)
    _raised(
        lambda: connect(
            vault,
            client_id=vault.settings.confidential_client_id,
            client_secret=WRONG_SECRET,
            token_cache=False,
        ),
        errors,
    )
    _raised(lambda: connect(vault, client_id="00000000-0000-0000-0000-00000000dead"), errors)
    ci.sign_out()

    assert [type(e).__name__ for e in errors] == [
        "AuthenticationError",
        "PermissionDeniedError",
        "ServiceError",
        "InvalidClientSecretError",
        "UnknownClientError",
    ]
    # everything was heard: the toolkit, httpx (URLs at INFO), httpcore, MSAL, the emulator
    names = {r.name.split(".")[0] for r in debug_log.records}
    assert {"ci_toolkit", "httpx", "httpcore", "msal"} <= names
    assert any(r.levelno == logging.DEBUG for r in debug_log.records)
    kinds = secrets.by_kind()
    for kind in ("subscription_key", "client_secret", "access_token", "id_token"):
        assert kinds.get(kind), f"the test knows no {kind}"
    assert kinds["refresh_token"]
    assert kinds["device_code"]

    texts = debug_log.lines + [t for e in errors for t in _texts_of(e)]
    leaks = [
        f"{kind} in {texts[n][:300]!r}"
        for kind, value, n in secrets.findings(texts)
        if not _redeemed_device_code_in_msal_cache_event(vault, kind, value, texts[n])
    ]
    assert leaks == []


def _redeemed_device_code_in_msal_cache_event(
    emu: Emulator, kind: str, value: str, text: str
) -> bool:
    """MSAL's own DEBUG line ``msal.token_cache ... event={... "code": ...}`` shows the device
    code once the tokens are in: a code Azure AD already redeemed, which buys nothing. The
    toolkit leaves MSAL's loggers alone, so this one finding is allowed, and only so."""
    flow = emu.aad._flows.get(value)
    return (
        kind == "device_code"
        and text.startswith("msal.token_cache DEBUG event=")
        and flow is not None
        and flow.status == "redeemed"
    )


def test_repr_and_str_of_public_objects_hold_no_secret(
    vault: Emulator, secrets: Secrets, clients: list[CustomerInsights]
) -> None:
    ci = connect(vault)
    app = connect(
        vault,
        client_id=vault.settings.confidential_client_id,
        client_secret=vault.settings.client_secret,
    )
    clients += [ci, app]
    job = ci.run_export(EXPORT)
    job.wait(poll_interval=0.05, timeout=60, progress=False)
    customer_id = str(ci.query("Customer", top=1, progress=False)["CustomerId"].iloc[0])
    customer = ci.customer(customer_id)
    with pytest.raises(exc.AuthenticationError) as info:
        connect(vault, subscription_key=WRONG_KEY, token_cache=False).segments()
    secrets.add("subscription_key", WRONG_KEY)

    objects: list[object] = [vault, vault.settings, vault.config, vault.state.directory]
    objects += [vault.state.directory.public_client, vault.state.directory.confidential_client]
    objects += list(vault.aad._flows.values())
    for client in (ci, app):
        session = client.session
        credential = session.credential
        assert credential is not None
        objects += [client, session, credential, credential.settings, credential.cache]
        objects += [session.client.auth, session.retry_policy, getattr(credential, "prompt", None)]
    objects += [job, customer, info.value, TerminalPrompt(), DeviceCodePrompt(display=False)]
    assert isinstance(job, JobHandle)

    texts = []
    for obj in objects:
        texts += [repr(obj), str(obj), format(obj)]
        html = getattr(obj, "_repr_html_", None)
        if callable(html):
            texts.append(str(html()))
    assert secrets.by_kind()["access_token"]
    assert secrets.found_in(texts) == []


def _settle(widget: CIWidget) -> None:
    assert widget.wait_idle(60), f"{type(widget).__name__} still busy"


def test_widget_state_holds_no_secret_after_use(
    vault: Emulator, secrets: Secrets, clients: list[CustomerInsights]
) -> None:
    ci = connect(vault, token_cache=False)
    clients.append(ci)
    made: list[CIWidget] = []
    try:
        panel = SignInPanel(ci)
        made.append(panel)
        _settle(panel)
        panel.buttons["sign_out"].click()
        _settle(panel)
        panel.buttons["sign_in"].click()  # a new device code sign-in, shown in the panel
        _settle(panel)
        assert panel.identity["role"] == "admin"
        assert panel.prompt.outcome == "success"

        picker = InstancePicker(ci)
        browser = EntityBrowser(ci)
        explorer = SegmentExplorer(ci, poll_interval=0.05)
        exports = ExportMonitor(ci, poll_interval=0.05)
        lookup = CustomerLookup(ci)
        jobs = JobMonitor(ci, poll_interval=0.05)
        made += [picker, browser, explorer, exports, lookup, jobs]
        for widget in made:
            _settle(widget)
        browser.picker.value = "Customer"
        explorer.picker.value = "HighValueCustomers"
        _settle(explorer)
        explorer.buttons["refresh"].click()
        exports.picker.value = (EXPORT,)
        exports.buttons["run"].click()
        lookup.search.value = "Smith"
        for widget in made:
            _settle(widget)
        assert exports.job is not None
        jobs.reload()  # the export's job is newer than the list
        _settle(jobs)
        jobs.picker.value = exports.job.job_id
        _settle(jobs)
        # an error shown inside a widget: the token is refused and the key is wrong
        ci.session.client.headers["Ocp-Apim-Subscription-Key"] = WRONG_KEY
        secrets.add("subscription_key", WRONG_KEY)
        browser.reload()
        _settle(browser)
        assert "AuthenticationError" in browser.message.value

        state = json.dumps([all_states(w) for w in made], default=str)
        assert "HighValueCustomers" in state
        assert "Signed in" in state
        texts = [state] + [repr(w) for w in made] + [str(w.last_error) for w in made]
        assert secrets.by_kind()["access_token"]
        assert secrets.found_in(texts) == []
    finally:
        for widget in made:
            widget.close()
