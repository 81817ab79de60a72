"""``connect()``: settings sources, the embedded emulator fallback, sign-in, mid-pull refresh."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import ci_toolkit
from ci_toolkit import connection
from ci_toolkit import exceptions as exc
from ci_toolkit.auth import ClientSecretCredential, DeviceCodeCredential, TerminalPrompt
from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator, EmulatorConfig
from tests.support import RecordingPrompt, emulator_env

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("no_user_settings")


def _emulator_env(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in emulator_env(emu).items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def connected() -> Iterator[list[CustomerInsights]]:
    clients: list[CustomerInsights] = []
    yield clients
    for client in clients:
        client.close()


def test_no_settings_starts_the_embedded_emulator_once_and_says_so(
    caplog: pytest.LogCaptureFixture, connected: list[CustomerInsights]
) -> None:
    caplog.set_level(logging.WARNING)
    first = ci_toolkit.connect(prompt=RecordingPrompt())
    second = ci_toolkit.connect(prompt=RecordingPrompt())
    connected += [first, second]
    assert isinstance(first, CustomerInsights)
    assert first.session.base_url == second.session.base_url
    assert first.session.base_url.startswith("https://127.0.0.1:")
    announcements = [r for r in caplog.records if r.name == "ci_toolkit.connection"]
    assert len(announcements) == 2  # one line per connect()
    line = announcements[0].getMessage()
    assert "\n" not in line
    assert "embedded emulator" in line
    for name in ("CI_TENANT_ID", "CI_CLIENT_ID", "CI_SUBSCRIPTION_KEY"):
        assert name in line
    assert not first.instances().empty
    assert connection.embedded_emulator().settings.base_url.rstrip("/") + "/" == (
        first.session.base_url
    )


def test_partial_environment_is_an_error_not_a_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI_TENANT_ID", "contoso.onmicrosoft.com")
    with pytest.raises(exc.ConfigurationError) as info:
        ci_toolkit.connect()
    assert "CI_CLIENT_ID" in str(info.value)
    assert "CI_SUBSCRIPTION_KEY" in str(info.value)


def test_emulator_false_refuses_the_fallback() -> None:
    with pytest.raises(exc.ConfigurationError, match="emulator=False"):
        ci_toolkit.connect(emulator=False)


def test_environment_connects_with_device_code(
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    connected: list[CustomerInsights],
) -> None:
    caplog.set_level(logging.WARNING, logger="ci_toolkit.connection")
    _emulator_env(emulator, monkeypatch)
    prompts = RecordingPrompt()
    ci = ci_toolkit.connect(prompt=prompts)
    connected.append(ci)
    assert isinstance(ci.session.credential, DeviceCodeCredential)
    assert len(prompts.codes) == 1
    assert ci.session.base_url == emulator.settings.base_url + "/"
    assert not [r for r in caplog.records if "embedded emulator" in r.getMessage()]
    assert emulator.settings.instance_id in set(ci.instances()["instanceId"])


def test_timeout_applies_to_every_request_and_is_checked(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, connected: list[CustomerInsights]
) -> None:
    _emulator_env(emulator, monkeypatch)
    ci = ci_toolkit.connect(prompt=RecordingPrompt(), timeout=7.5)
    connected.append(ci)
    assert ci.session.client.timeout == httpx.Timeout(7.5)
    default = ci_toolkit.connect(prompt=RecordingPrompt())
    connected.append(default)
    assert default.session.client.timeout == httpx.Timeout(10.0, read=60.0, write=60.0)
    for bad in (0, -1, "30s"):
        prompts = RecordingPrompt()
        with pytest.raises(exc.ConfigurationError, match="timeout must be a positive number"):
            ci_toolkit.connect(prompt=prompts, timeout=bad)  # type: ignore[arg-type]
        assert prompts.codes == []  # refused before any sign-in


def test_sign_out_forgets_the_account_and_its_cache_file(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, connected: list[CustomerInsights]
) -> None:
    _emulator_env(emulator, monkeypatch)
    prompts = RecordingPrompt()
    ci = ci_toolkit.connect(prompt=prompts)
    connected.append(ci)
    ci.instances()
    credential = ci.session.credential
    assert isinstance(credential, DeviceCodeCredential)
    path = credential.cache.path
    assert path is not None
    assert path.exists()
    ci.sign_out()
    assert not path.exists()
    ci.instances()  # signs in again
    assert len(prompts.codes) == 2


def test_client_secret_selects_client_credentials(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, connected: list[CustomerInsights]
) -> None:
    _emulator_env(emulator, monkeypatch)
    monkeypatch.setenv("CI_CLIENT_ID", emulator.settings.confidential_client_id)
    prompts = RecordingPrompt()
    ci = ci_toolkit.connect(client_secret=emulator.settings.client_secret, prompt=prompts)
    connected.append(ci)
    assert isinstance(ci.session.credential, ClientSecretCredential)
    assert prompts.codes == []
    assert emulator.settings.client_secret not in repr(ci)


def test_config_file_is_read(
    emulator: Emulator, tmp_path: Path, connected: list[CustomerInsights]
) -> None:
    s = emulator.settings
    path = tmp_path / "config" / "ci-toolkit" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(
        f'tenant_id = "{s.tenant_id}"\nclient_id = "{s.client_id}"\n'
        f'subscription_key = "{s.subscription_key}"\nauthority = "{s.authority}"\n'
        f'base_url = "{s.base_url}"\nca_file = "{s.ca_file}"\ninstance_id = "{s.instance_id}"\n',
        encoding="utf-8",
    )
    session, settings = connection.connect_session(prompt=RecordingPrompt())
    try:
        assert settings.source == f"config file {path}"
        assert session.request_json("GET", "instances")
    finally:
        session.close()


def test_sign_in_error_surfaces_at_connect(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    _emulator_env(emulator, monkeypatch)
    monkeypatch.setenv("CI_CLIENT_ID", "00000000-0000-0000-0000-00000000beef")
    with pytest.raises(exc.UnknownClientError):
        ci_toolkit.connect(prompt=RecordingPrompt())


def test_long_pull_survives_expiring_tokens_and_a_401(
    monkeypatch: pytest.MonkeyPatch, connected: list[CustomerInsights]
) -> None:
    with Emulator(EmulatorConfig(profiles=800, token_lifetime=2, latency_ms=300, seed=3)) as emu:
        _emulator_env(emu, monkeypatch)
        prompts = RecordingPrompt()
        ci = ci_toolkit.connect(prompt=prompts)
        connected.append(ci)
        credential = ci.session.credential
        assert credential is not None
        frames = []
        for number, page in enumerate(ci.iter_pages("Customer", count=True)):
            frames.append(page)
            if number == 2:  # the service now refuses the token the client still trusts
                credential._token = emu.mint_token(role="admin", lifetime=-60)
        rows = sum(len(f) for f in frames)
        ids = {i for f in frames for i in f["CustomerId"]}
        assert rows == len(ids) == frames[0].attrs["odata"]["count"] == 800
        assert len(frames) >= 8
        assert credential.acquisitions >= 3  # first sign-in, refresh at half-life, the 401
        assert len(prompts.codes) == 1  # every refresh was silent


def test_default_prompt_outside_a_kernel_is_plain_text() -> None:
    assert isinstance(connection.default_prompt(), TerminalPrompt)


def test_import_is_lazy_and_connect_stays_the_function() -> None:
    script = (
        "import sys, ci_toolkit\n"
        "heavy = [m for m in ('httpx', 'msal', 'pandas', 'ipywidgets') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import ci_toolkit.connection\n"
        "assert callable(ci_toolkit.connect) and ci_toolkit.connect.__name__ == 'connect'\n"
        "assert ci_toolkit.CustomerInsights.__name__ == 'CustomerInsights'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
