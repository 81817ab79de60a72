"""Connecting to the Dataverse path: settings, one sign-in for two resources, path choice.

Everything runs against the emulator over HTTPS with real MSAL (device code auto-approved,
client credentials with the demo app's secret).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import ci_toolkit
from ci_toolkit import exceptions as exc
from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
from tests.dataverse.conftest import dv_args
from tests.support import RecordingPrompt

pytestmark = pytest.mark.usefixtures("no_user_settings")

PROFILES = "msdynci_customerprofile"


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_one_device_code_sign_in_serves_both_resources(emulator: Emulator) -> None:
    prompt = RecordingPrompt()
    ci = ci_toolkit.connect(**dv_args(emulator, prompt=prompt))
    try:
        credential = ci.session.credential
        assert credential is not None
        dv_source = credential.token_source([emulator.settings.dataverse_scope])
        assert len(prompt.codes) == 1  # the Dataverse token came silently
        assert dv_source.acquisitions == 1
        v1_token, dv_token = credential.get_token(), dv_source.get_token()
        assert _claims(v1_token)["aud"] != _claims(dv_token)["aud"]
        assert _claims(dv_token)["aud"] == emulator.settings.dataverse_url
        assert _claims(v1_token)["oid"] == _claims(dv_token)["oid"]  # same account
        assert ci.sources == ("v1", "dataverse")
        assert ci.source == "v1"
        assert not ci.segments().empty
        assert not ci.dataverse.query("msdynci_customerprofile", top=3, progress=False).empty
    finally:
        ci.close()


def test_dataverse_alone_needs_no_subscription_key(dv_only: CustomerInsights) -> None:
    assert dv_only.sources == ("dataverse",)
    assert dv_only.source == "dataverse"
    assert "subscription_key" not in repr(dv_only)
    frame = dv_only.dataverse.query("msdynci_customerprofile", top=2, progress=False)
    assert len(frame) == 2
    with pytest.raises(exc.ConfigurationError, match="subscription_key") as info:
        dv_only.segments()
    assert "only Dataverse is configured" in str(info.value)
    with pytest.raises(exc.ConfigurationError, match="v1"):
        dv_only.source = "v1"
    with pytest.raises(exc.ConfigurationError, match="subscription_key"):
        dv_only.measures()


def test_v1_alone_never_touches_dataverse(emulator: Emulator) -> None:
    args = dv_args(emulator)
    args.pop("dataverse_url")
    ci = ci_toolkit.connect(**args)
    try:
        assert ci.sources == ("v1",)
        assert "dataverse" not in repr(ci)
        with pytest.raises(exc.ConfigurationError, match="CI_DATAVERSE_URL"):
            ci.dataverse  # noqa: B018
        cid = str(ci.query("Customer", top=1, progress=False)["CustomerId"][0])
        with pytest.raises(exc.ConfigurationError, match="CI_DATAVERSE_URL"):
            ci.customer(cid, source="dataverse")
        assert ci.customer(cid).source == "v1"
    finally:
        ci.close()


def test_client_credentials_get_both_tokens(emulator: Emulator) -> None:
    s = emulator.settings
    ci = ci_toolkit.connect(
        **dv_args(emulator, client_id=s.confidential_client_id, client_secret=s.client_secret)
    )
    try:
        assert ci.dataverse.whoami()["UserId"]
        assert not ci.dataverse.query("msdynci_unifiedactivity", top=1, progress=False).empty
        assert not ci.instances().empty
    finally:
        ci.close()


def test_the_setting_comes_from_the_environment_and_the_config_file(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = dv_args(emulator, v1=False)
    url = args.pop("dataverse_url")
    monkeypatch.setenv("CI_DATAVERSE_URL", url + "/api/data/v9.2/")  # a pasted service root
    ci = ci_toolkit.connect(**args)
    try:
        assert ci.dataverse.url == url
    finally:
        ci.close()
    monkeypatch.delenv("CI_DATAVERSE_URL")
    config = tmp_path / "ci.toml"
    config.write_text(f'dataverse_url = "{url}"\n', encoding="utf-8")
    ci = ci_toolkit.connect(config_file=config, **args)
    try:
        assert ci.dataverse.url == url
        assert ci.source == "dataverse"
    finally:
        ci.close()


def test_persistent_cache_signs_in_silently_for_both_in_a_new_connection(
    emulator: Emulator, tmp_path: Path
) -> None:
    first = RecordingPrompt()
    ci = ci_toolkit.connect(**dv_args(emulator, prompt=first, token_cache=True))
    ci.close()
    assert len(first.codes) == 1
    again = RecordingPrompt()
    ci = ci_toolkit.connect(**dv_args(emulator, prompt=again, token_cache=True))
    try:
        assert ci.dataverse.whoami()["UserId"]
        assert again.codes == []  # the cached refresh token served both resources
    finally:
        ci.close()


def test_connect_picks_the_default_path(emulator: Emulator) -> None:
    ci = ci_toolkit.connect(**dv_args(emulator, source="dataverse"))
    try:
        assert ci.source == "dataverse"
        assert "source='dataverse'" in repr(ci)
        ci.source = "v1"
        assert ci.source == "v1"
        with pytest.raises(ValueError, match="'v1' or 'dataverse'"):
            ci.source = "Dataverse"
    finally:
        ci.close()


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://contoso.crm.dynamics.com", "https"),
        ("https://contoso.crm.dynamics.com/main.aspx", "remove the path"),
        ("https://contoso.crm.dynamics.com/?x=1", "remove the query"),
    ],
)
def test_a_malformed_dataverse_url_is_refused_before_sign_in(
    emulator: Emulator, url: str, match: str
) -> None:
    prompt = RecordingPrompt()
    with pytest.raises(exc.ConfigurationError, match=match) as info:
        ci_toolkit.connect(**dv_args(emulator, dataverse_url=url, prompt=prompt))
    assert "CI_DATAVERSE_URL" in str(info.value)
    assert prompt.codes == []


def test_a_url_that_is_not_this_tenants_dataverse_fails_naming_the_setting(
    emulator: Emulator,
) -> None:
    with pytest.raises(exc.SignInError) as info:
        ci_toolkit.connect(**dv_args(emulator, dataverse_url="https://contoso.example.com"))
    assert "CI_DATAVERSE_URL" in str(info.value)


def test_no_settings_starts_the_emulator_serving_both_paths() -> None:
    prompt = RecordingPrompt()
    ci = ci_toolkit.connect(prompt=prompt)
    try:
        assert ci.sources == ("v1", "dataverse")
        assert ci.source == "v1"  # existing notebooks read as before
        cid = str(ci.dataverse.query(PROFILES, top=1, progress=False)["msdynci_customerid"][0])
        assert ci.customer(cid, source="dataverse").customer_id == cid
        assert len(prompt.codes) <= 1
    finally:
        ci.close()
