"""Sign-in against the emulator over HTTPS with real MSAL: both flows, the cache, failures."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ci_toolkit import exceptions as exc
from ci_toolkit.auth import (
    ClientSecretCredential,
    DeviceCodeCredential,
    TokenCacheStore,
    make_credential,
)
from ci_toolkit.config import Settings
from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.http.session import build_http_client, open_session
from tests.support import RecordingPrompt, emulator_env

ROOT = Path(__file__).resolve().parents[2]


def public_settings(emu: Emulator, **changes: object) -> Settings:
    s = emu.settings
    settings = Settings(
        client_id=s.client_id,
        subscription_key=s.subscription_key,
        authority=s.authority,
        tenant_id=s.tenant_id,
        instance_id=s.instance_id,
        base_url=s.base_url,
        ca_file=Path(s.ca_file),
    )
    return replace(settings, **changes)  # type: ignore[arg-type]


def app_settings(emu: Emulator, **changes: object) -> Settings:
    s = emu.settings
    values: dict[str, object] = {
        "client_id": s.confidential_client_id,
        "client_secret": s.client_secret,
        **changes,
    }
    return public_settings(emu, **values)


pytestmark = pytest.mark.usefixtures("no_user_settings")


@pytest.fixture
def msal_http(emulator: Emulator) -> Iterator[httpx.Client]:
    with build_http_client(ca_file=Path(emulator.settings.ca_file)) as client:
        yield client


@pytest.fixture(scope="module")
def manual_emulator() -> Iterator[Emulator]:
    """An emulator that does not auto-approve device codes and polls fast."""
    with Emulator(EmulatorConfig(profiles=200, auto_approve=False)) as emu:
        emu.aad.poll_interval = 1
        yield emu


def test_device_code_sign_in_with_auto_approve(emulator: Emulator, msal_http: httpx.Client) -> None:
    prompt = RecordingPrompt()
    credential = make_credential(
        public_settings(emulator),
        cache=TokenCacheStore.in_memory(),
        http_client=msal_http,
        prompt=prompt,
    )
    assert isinstance(credential, DeviceCodeCredential)
    token = credential.get_token()
    assert token.count(".") == 2
    [(uri, code, expires_on)] = prompt.calls
    assert uri.endswith("/devicelogin")
    assert code
    assert expires_on.tzinfo is not None
    assert expires_on > datetime.now(UTC)
    assert prompt.outcome is not None
    assert prompt.outcome[0] is True
    assert "Signed in as" in prompt.outcome[1]
    # the memo serves the next call without MSAL
    assert credential.get_token() == token
    assert credential.acquisitions == 1


def test_client_credentials_sign_in(emulator: Emulator) -> None:
    prompt = RecordingPrompt()
    with open_session(app_settings(emulator), prompt=prompt, token_cache=False) as session:
        assert isinstance(session.credential, ClientSecretCredential)
        instances = session.request_json("GET", "instances")
        assert any(i["instanceId"] == emulator.settings.instance_id for i in instances)
        first = session.credential.get_token()
        assert session.credential.get_token(force_refresh=True) != first
    assert prompt.calls == []


def test_cache_file_is_private_and_removed_by_sign_out(emulator: Emulator, tmp_path: Path) -> None:
    prompt = RecordingPrompt()
    settings = public_settings(emulator)
    with open_session(settings, prompt=prompt) as session:
        session.request_json("GET", "instances")
        assert session.credential is not None
        path = session.credential.cache.path
        assert path is not None
        assert path.parent == tmp_path / "cache" / "ci-toolkit"
        assert settings.cache_key in path.name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        content = path.read_text(encoding="utf-8")
        assert "RefreshToken" in content
        session.sign_out()
        assert not path.exists()
        assert not Path(f"{path}.lockfile").exists()
        # signed out: the next request needs a new sign-in, kept in a new private file
        session.request_json("GET", "instances")
        assert len(prompt.calls) == 2
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        session.sign_out()
        assert not path.exists()


def test_cache_falls_back_to_memory_with_a_warning(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x", encoding="utf-8")
    with pytest.warns(UserWarning, match="in memory only"):
        store = TokenCacheStore.open("k", directory=blocked)
    assert not store.persistent


def test_new_process_reuses_the_cache_silently(emulator: Emulator, tmp_path: Path) -> None:
    settings = public_settings(emulator)
    first = RecordingPrompt()
    with open_session(settings, prompt=first) as session:
        session.request_json("GET", "instances")
    assert len(first.calls) == 1

    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        **emulator_env(emulator),
    }
    env.pop("CI_CLIENT_SECRET", None)
    script = (
        "import json\n"
        "from ci_toolkit.connection import connect_session\n"
        "def refuse(*a):\n"
        "    raise SystemExit('prompted for a device code')\n"
        "session, settings = connect_session(prompt=refuse)\n"
        "print(json.dumps({'source': settings.source,"
        " 'n': len(session.request_json('GET', 'instances'))}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["source"] == "environment"
    assert result["n"] >= 1


def test_401_mid_pull_refreshes_once_and_continues(emulator: Emulator) -> None:
    with open_session(
        public_settings(emulator), prompt=RecordingPrompt(), token_cache=False
    ) as session:
        credential = session.credential
        assert credential is not None
        pages = []
        for page in range(6):
            if page == 3:  # the service stops accepting the token the memo still trusts
                credential._token = emulator.mint_token(role="admin", lifetime=-60)
            pages.append(session.request_json("GET", "instances"))
        assert len(pages) == 6
        assert credential.acquisitions == 2


def test_threads_meeting_the_same_401_share_one_refresh(emulator: Emulator) -> None:
    with open_session(
        public_settings(emulator), prompt=RecordingPrompt(), token_cache=False
    ) as session:
        credential = session.credential
        assert credential is not None
        session.request_json("GET", "instances")
        credential._token = emulator.mint_token(role="admin", lifetime=-60)  # refused by the API
        start = threading.Barrier(8)

        def call(_: int) -> object:
            start.wait()
            return session.request_json("GET", "instances")

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(call, range(8)))
        assert all(answers)
        assert credential.acquisitions == 2  # the first sign-in and one refresh, not eight


def test_token_refreshes_silently_when_it_expires_mid_pull() -> None:
    with Emulator(EmulatorConfig(profiles=200, token_lifetime=2)) as emu:
        prompt = RecordingPrompt()
        with open_session(public_settings(emu), prompt=prompt, token_cache=False) as session:
            assert session.credential is not None
            tokens = set()
            deadline = time.monotonic() + 3.5
            while time.monotonic() < deadline:
                session.request_json("GET", "instances")
                tokens.add(session.credential.get_token())
                time.sleep(0.2)
            assert len(tokens) >= 3  # refreshed at half-life, again and again
            assert len(prompt.calls) == 1  # with the refresh token: no new sign-in


def test_bad_scope(emulator: Emulator, msal_http: httpx.Client) -> None:
    credential = make_credential(
        public_settings(emulator),
        cache=TokenCacheStore.in_memory(),
        http_client=msal_http,
        prompt=RecordingPrompt(),
        scopes=["https://api.ci.ai.microsoft.com/wrong_scope"],
    )
    with pytest.raises(exc.InvalidScopeError, match="scope") as info:
        credential.get_token()
    assert info.value.error_code == "AADSTS70011"


def test_bad_scope_for_client_credentials(emulator: Emulator, msal_http: httpx.Client) -> None:
    credential = make_credential(
        app_settings(emulator),
        cache=TokenCacheStore.in_memory(),
        http_client=msal_http,
        scopes=["https://other.example/.default"],
    )
    with pytest.raises(exc.InvalidScopeError):
        credential.get_token()


def test_unknown_tenant(emulator: Emulator, msal_http: httpx.Client) -> None:
    base = emulator.settings.authority.rsplit("/", 1)[0]
    settings = public_settings(emulator, authority=f"{base}/no-such-tenant")
    credential = make_credential(settings, cache=TokenCacheStore.in_memory(), http_client=msal_http)
    with pytest.raises(exc.UnknownTenantError, match="CI_TENANT_ID"):
        credential.get_token()


def test_unknown_client(emulator: Emulator, msal_http: httpx.Client) -> None:
    settings = public_settings(emulator, client_id="00000000-0000-0000-0000-00000000dead")
    credential = make_credential(
        settings, cache=TokenCacheStore.in_memory(), http_client=msal_http, prompt=RecordingPrompt()
    )
    with pytest.raises(exc.UnknownClientError, match="CI_CLIENT_ID") as info:
        credential.get_token()
    assert info.value.error_code == "AADSTS700016"
    assert info.value.request_id  # AAD's correlation id


def test_bad_secret_is_named_and_never_shown(
    emulator: Emulator, msal_http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "ci~this-is-a-wrong-secret-value"
    settings = app_settings(emulator, client_secret=wrong)
    credential = make_credential(settings, cache=TokenCacheStore.in_memory(), http_client=msal_http)
    with pytest.raises(exc.InvalidClientSecretError, match="CI_CLIENT_SECRET") as info:
        credential.get_token()
    for text in (str(info.value), repr(info.value), info.value._repr_html_(), caplog.text):
        assert wrong not in text


def test_declined_sign_in(manual_emulator: Emulator) -> None:
    prompt = RecordingPrompt(
        on_code=lambda code: manual_emulator.aad.decide(code, "admin", approve=False)
    )
    with build_http_client(ca_file=Path(manual_emulator.settings.ca_file)) as http:
        credential = make_credential(
            public_settings(manual_emulator),
            cache=TokenCacheStore.in_memory(),
            http_client=http,
            prompt=prompt,
        )
        with pytest.raises(exc.SignInDeclinedError, match="approve"):
            credential.get_token()
    assert prompt.outcome is not None
    assert prompt.outcome[0] is False
    assert "declined" in prompt.outcome[1]


def test_expired_device_code(manual_emulator: Emulator) -> None:
    def expire(code: str) -> None:
        manual_emulator.aad._by_user_code[code].expires_at = time.time() - 1

    prompt = RecordingPrompt(on_code=expire)
    with build_http_client(ca_file=Path(manual_emulator.settings.ca_file)) as http:
        credential = make_credential(
            public_settings(manual_emulator),
            cache=TokenCacheStore.in_memory(),
            http_client=http,
            prompt=prompt,
        )
        with pytest.raises(exc.DeviceCodeExpiredError, match="expired"):
            credential.get_token()
    assert prompt.outcome is not None
    assert prompt.outcome[0] is False


def test_manual_approval_while_waiting_reports_progress(manual_emulator: Emulator) -> None:
    def approve_later(code: str) -> None:

        timer = threading.Timer(
            1.2, manual_emulator.aad.decide, (code, "viewer"), {"approve": True}
        )
        timer.start()

    prompt = RecordingPrompt(on_code=approve_later)
    with build_http_client(ca_file=Path(manual_emulator.settings.ca_file)) as http:
        credential = make_credential(
            public_settings(manual_emulator),
            cache=TokenCacheStore.in_memory(),
            http_client=http,
            prompt=prompt,
        )
        assert credential.get_token()
    assert prompt.waits >= 1
    assert prompt.outcome is not None
    assert prompt.outcome[0] is True


def test_unreachable_authority(emulator: Emulator, msal_http: httpx.Client) -> None:
    settings = public_settings(emulator, authority="https://127.0.0.1:9/tenant")
    credential = make_credential(settings, cache=TokenCacheStore.in_memory(), http_client=msal_http)
    with pytest.raises((exc.ServiceUnreachableError, exc.UnknownTenantError)):
        credential.get_token()


def test_interrupted_wait_stops_polling_and_says_so(manual_emulator: Emulator) -> None:
    import threading

    class Interrupting(RecordingPrompt):
        def waiting(self, seconds_left: float) -> None:
            raise KeyboardInterrupt  # as when the person interrupts the kernel

    prompt = Interrupting()
    with build_http_client(ca_file=Path(manual_emulator.settings.ca_file)) as http:
        credential = make_credential(
            public_settings(manual_emulator),
            cache=TokenCacheStore.in_memory(),
            http_client=http,
            prompt=prompt,
        )
        with pytest.raises(KeyboardInterrupt):
            credential.get_token()
        assert prompt.outcome == (False, "Sign-in interrupted.")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(
            t.name == "ci-toolkit-device-code" for t in threading.enumerate()
        ):
            time.sleep(0.1)
        assert not any(t.name == "ci-toolkit-device-code" for t in threading.enumerate())
