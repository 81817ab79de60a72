"""TLS verification is always on: without the emulator's CA the toolkit refuses its certificate,
both at sign-in (MSAL's client) and on the API (the session's client), with one clear error.

``tests/unit/test_repository.py::test_no_tls_verification_is_ever_turned_off`` checks the
source never says ``verify=False``; these tests check the behaviour.
"""

from __future__ import annotations

import ssl
import traceback
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from ci_toolkit import exceptions as exc
from ci_toolkit.emulator import Emulator
from ci_toolkit.http.retry import RetryPolicy
from ci_toolkit.http.session import ApiSession, build_http_client, ssl_context
from tests.security.conftest import connect
from tests.support import RecordingPrompt


def _one_clear_error(error: exc.CustomerInsightsError) -> str:
    """A toolkit error naming the fix, with no library traceback printed before it."""
    assert error.__cause__ is None
    assert error.__suppress_context__ or error.__context__ is None
    printed = "".join(traceback.format_exception(error))
    assert printed.count("Traceback (most recent call last)") == 1
    text = str(error)
    assert "certificate" in text
    assert "CI_CA_FILE" in text
    return text


@pytest.fixture
def foreign_ca(tmp_path: Path) -> Path:
    """A CA bundle that is not the emulator's."""
    path = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


def test_sign_in_refuses_the_emulator_without_its_ca(
    vault: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # settings that turn verification off for other tools change nothing here
    monkeypatch.setenv("PYTHONHTTPSVERIFY", "0")
    monkeypatch.setenv("CURL_CA_BUNDLE", "")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")
    prompt = RecordingPrompt()
    with pytest.raises(exc.ServiceUnreachableError) as info:
        connect(vault, ca_file=None, prompt=prompt)
    text = _one_clear_error(info.value)
    assert "not trusted" in text
    assert prompt.codes == []  # no device code was asked for over the untrusted connection


def test_sign_in_refuses_the_emulator_with_another_ca(vault: Emulator, foreign_ca: Path) -> None:
    with pytest.raises(exc.ServiceUnreachableError) as info:
        connect(vault, ca_file=foreign_ca)
    _one_clear_error(info.value)


@pytest.mark.parametrize("trust", ["system", "another CA"])
def test_api_requests_refuse_the_emulator_without_its_ca(
    vault: Emulator, foreign_ca: Path, trust: str
) -> None:
    s = vault.settings
    headers = {
        "Authorization": f"Bearer {vault.mint_token()}",
        "Ocp-Apim-Subscription-Key": s.subscription_key,
    }
    sleeps: list[float] = []
    client = build_http_client(
        base_url=s.base_url, ca_file=None if trust == "system" else foreign_ca, headers=headers
    )
    with (
        ApiSession(client, retry_policy=RetryPolicy(sleep=sleeps.append)) as session,
        pytest.raises(exc.ServiceUnreachableError) as info,
    ):
        session.request_json("GET", "instances")
    _one_clear_error(info.value)
    assert sleeps == []  # no retry fixes an untrusted certificate


def test_the_emulator_ca_is_the_only_trust_when_given(vault: Emulator) -> None:
    context = ssl_context(Path(vault.settings.ca_file))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    [trusted] = context.get_ca_certs()  # exactly the emulator's CA, no system roots beside it
    emulator_ca = x509.load_pem_x509_certificate(Path(vault.settings.ca_file).read_bytes())
    assert int(trusted["serialNumber"], 16) == emulator_ca.serial_number
    assert ssl_context(None) is True  # otherwise the system's trust, verified
    with connect(vault, token_cache=False) as ci:
        assert not ci.instances().empty  # and it works with the CA
