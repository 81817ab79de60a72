"""Neither token (v1 API, Dataverse) nor any other secret appears in logs, reprs, exception
messages or widget state after real Dataverse flows on the emulator with every logger at
DEBUG: a two-resource device code sign-in, paged reads, a 401 refreshed, client credentials,
a privilege error and a throttled read (in the style of ``tests/security/test_secrets.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ci_toolkit
from ci_toolkit import exceptions as exc
from ci_toolkit.emulator import Emulator
from ci_toolkit.http.retry import RetryPolicy
from ci_toolkit.widgets import CustomerLookup, SegmentExplorer, SignInPanel
from ci_toolkit.widgets._common import all_states
from tests.dataverse.conftest import dv_args
from tests.security.conftest import LOGGERS, Capture, Secrets
from tests.security.test_secrets import _redeemed_device_code_in_msal_cache_event

pytestmark = pytest.mark.usefixtures("no_user_settings")


@pytest.fixture
def secrets(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Secrets:
    """Every token the emulator mints from now on (both audiences), and its demo secrets."""
    found = Secrets(emulator)
    tokens = emulator.state.tokens

    def recording(kind: str, mint: Callable[..., str]) -> Callable[..., str]:
        def wrapper(*args: Any, **kwargs: Any) -> str:
            token = mint(*args, **kwargs)
            found.minted.setdefault(kind, set()).add(token)
            return token

        return wrapper

    monkeypatch.setattr(
        tokens, "mint_access_token", recording("access_token", tokens.mint_access_token)
    )
    monkeypatch.setattr(tokens, "mint_id_token", recording("id_token", tokens.mint_id_token))
    return found


@pytest.fixture
def debug_log() -> Iterator[Capture]:
    handler = Capture()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def _texts(error: BaseException) -> list[str]:
    texts = [str(error), repr(error)]
    if isinstance(error, exc.CustomerInsightsError):
        texts += [error.message, error._repr_html_()]
    return texts


def test_no_token_leaks_from_dataverse_flows(
    emulator: Emulator, secrets: Secrets, debug_log: Capture
) -> None:
    texts: list[str] = []
    errors: list[BaseException] = []
    ci = ci_toolkit.connect(**dv_args(emulator, retry_policy=RetryPolicy(max_attempts=1)))
    try:
        dv = ci.dataverse
        frame = dv.query("msdynci_customerprofile", page_size=250, progress=False)
        assert len(frame) > 250
        cid = str(frame["msdynci_customerid"][0])
        customer = ci.customer(cid, source="dataverse")
        texts += [repr(ci), repr(dv), repr(dv.session), repr(customer), customer._repr_html_()]
        texts += [repr(ci.session.credential), repr(frame.attrs)]
        source = ci.session.credential.token_source([emulator.settings.dataverse_scope])
        source._token = emulator.mint_token(
            "admin", audience=emulator.settings.dataverse_url, lifetime=-60
        )  # refused by the API: refreshed once, silently
        source._refresh_at = float("inf")
        assert dv.whoami()["UserId"]
        emulator.dataverse.set_security_roles("admin", ["Basic User"])
        try:
            with pytest.raises(exc.PermissionDeniedError) as denied:
                dv.query("msdynci_customermeasure", top=1, progress=False)
            errors.append(denied.value)
        finally:
            emulator.dataverse.set_security_roles("admin", None)
        for widget in (SignInPanel(ci), CustomerLookup(ci, source="dataverse"),
                       SegmentExplorer(ci, source="dataverse")):  # fmt: skip
            assert widget.wait_idle()
            texts += [repr(all_states(widget))]
            widget.close()
    finally:
        ci.close()
    s = emulator.settings
    app = ci_toolkit.connect(
        **dv_args(
            emulator, v1=False, client_id=s.confidential_client_id, client_secret=s.client_secret
        )
    )
    try:
        texts += [repr(app), repr(app.dataverse.whoami())]
        with pytest.raises(exc.ConfigurationError) as missing:
            app.segments()
        errors.append(missing.value)
    finally:
        app.close()
    for error in errors:
        texts += _texts(error)
    assert len(secrets.by_kind().get("access_token", ())) >= 3  # both audiences were minted
    assert secrets.found_in(texts) == []
    leaks = [
        f"{kind} in {debug_log.lines[n][:300]!r}"
        for kind, value, n in secrets.findings(debug_log.lines)
        if not _redeemed_device_code_in_msal_cache_event(emulator, kind, value, debug_log.lines[n])
    ]
    assert leaks == []  # MSAL's own line about the redeemed device code aside
