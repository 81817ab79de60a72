"""ApiSession against the emulator over HTTPS: errors, retries with injected faults, secrets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ci_toolkit import exceptions as exc
from ci_toolkit.config import Settings
from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.http.retry import RetryPolicy
from ci_toolkit.http.session import ApiSession, open_session
from tests.support import quiet_prompt


def _settings(emu: Emulator, **changes: object) -> Settings:
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


pytestmark = pytest.mark.usefixtures("no_user_settings")


@pytest.fixture
def session(emulator: Emulator) -> Iterator[ApiSession]:
    with open_session(_settings(emulator), prompt=quiet_prompt, token_cache=False) as s:
        yield s


@pytest.fixture(scope="module")
def faulty() -> Iterator[Emulator]:
    """An emulator of its own whose faults the tests switch on and off."""
    with Emulator(EmulatorConfig(profiles=200)) as emu:
        yield emu


@pytest.fixture
def faulty_session(faulty: Emulator) -> Iterator[tuple[ApiSession, list[float]]]:
    sleeps: list[float] = []
    policy = RetryPolicy(sleep=sleeps.append, max_attempts=4)
    with open_session(
        _settings(faulty), prompt=quiet_prompt, token_cache=False, retry_policy=policy
    ) as s:
        s.request_json("GET", "instances")  # signed in before faults start
        yield s, sleeps
    faulty.set_faults(fault_rate=0.0)


def test_get_returns_decoded_json(session: ApiSession, instance_id: str) -> None:
    instances = session.request_json("GET", "instances")
    assert isinstance(instances, list)
    assert instance_id in {i["instanceId"] for i in instances}
    assert session.base_url.endswith("/v1/")


def test_not_found_carries_status_code_and_request_id(session: ApiSession) -> None:
    with pytest.raises(exc.NotFoundError) as info:
        session.request_json("GET", "instances/00000000-0000-0000-0000-000000000000")
    error = info.value
    assert error.status == 404
    assert error.error_code
    assert error.request_id
    assert error.request_id in str(error)


def test_wrong_subscription_key_is_an_authentication_error(emulator: Emulator) -> None:
    settings = _settings(emulator, subscription_key="not-the-right-key-123")
    with (
        open_session(settings, prompt=quiet_prompt, token_cache=False) as s,
        pytest.raises(exc.AuthenticationError, match="CI_SUBSCRIPTION_KEY") as info,
    ):
        s.request_json("GET", "instances")
    assert info.value.status == 401
    assert "not-the-right-key-123" not in str(info.value)


def test_viewer_cannot_submit_a_job(faulty: Emulator, instance_id: str) -> None:
    faulty.set_auto_approve(True, role="viewer")
    try:
        with (
            open_session(_settings(faulty), prompt=quiet_prompt, token_cache=False) as s,
            pytest.raises(exc.PermissionDeniedError) as info,
        ):
            s.request_json(
                "POST",
                f"instances/{faulty.settings.instance_id}/workflows/main/jobs",
                params={"operationType": "all"},
            )
    finally:
        faulty.set_auto_approve(True, role="admin")
    assert info.value.status == 403


def test_throttled_get_waits_retry_after_then_succeeds(
    faulty: Emulator, faulty_session: tuple[ApiSession, list[float]]
) -> None:
    session, sleeps = faulty_session
    faulty.set_faults(fault_rate=1.0, kinds=("throttle",), retry_after=2)

    def sleep_then_heal(seconds: float) -> None:
        sleeps.append(seconds)
        faulty.set_faults(fault_rate=0.0)

    session.retry_policy = replace(session.retry_policy, sleep=sleep_then_heal)
    assert session.request_json("GET", "instances")
    assert sleeps == [2.0]


def test_unavailable_get_gives_up_with_service_error(
    faulty: Emulator, faulty_session: tuple[ApiSession, list[float]]
) -> None:
    session, sleeps = faulty_session
    faulty.set_faults(fault_rate=1.0, kinds=("unavailable",), retry_after=1)
    with pytest.raises(exc.ServiceError) as info:
        session.request_json("GET", "instances")
    assert info.value.status == 503
    assert sleeps == [1.0, 1.0, 1.0]  # 4 attempts, Retry-After honoured


def test_post_is_not_resent_after_a_503(
    faulty: Emulator,
    faulty_session: tuple[ApiSession, list[float]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    session, sleeps = faulty_session
    caplog.set_level(logging.DEBUG, logger="ci_toolkit.http")
    faulty.set_faults(fault_rate=1.0, kinds=("unavailable",), retry_after=1)
    path = f"instances/{faulty.settings.instance_id}/workflows/main/jobs"
    with pytest.raises(exc.ServiceError):
        session.request_json("POST", path, params={"operationType": "all"})
    assert sleeps == []
    assert caplog.text.count("POST /v1/" + path + " -> 503") == 1


def test_dropped_connection_retries_get_but_not_post(
    faulty: Emulator, faulty_session: tuple[ApiSession, list[float]]
) -> None:
    session, sleeps = faulty_session
    faulty.set_faults(fault_rate=1.0, kinds=("drop",))
    with pytest.raises(exc.ServiceUnreachableError):
        session.request_json("GET", "instances")
    assert len(sleeps) == 3
    sleeps.clear()
    with pytest.raises(exc.ServiceUnreachableError):
        session.request_json(
            "POST",
            f"instances/{faulty.settings.instance_id}/workflows/main/jobs",
            params={"operationType": "all"},
        )
    assert sleeps == []


def test_no_secret_reaches_logs_reprs_or_errors(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s = emulator.settings
    settings = _settings(emulator)
    with open_session(settings, prompt=quiet_prompt, token_cache=False) as session:
        session.request_json("GET", "instances")
        assert session.credential is not None
        token = session.credential.get_token()
        with pytest.raises(exc.NotFoundError) as info:
            session.request_json("GET", "instances/00000000-0000-0000-0000-000000000001")
        texts = [caplog.text, repr(settings), str(settings), repr(session), str(info.value)]
        texts += [repr(info.value), info.value._repr_html_()]
    assert caplog.text  # something was logged at DEBUG
    for text in texts:
        assert s.subscription_key not in text
        assert token not in text
        assert s.client_secret not in text


def test_sync_api_works_inside_a_running_event_loop(session: ApiSession) -> None:
    async def inside() -> int:
        asyncio.get_running_loop()  # a loop is running, as in a Jupyter kernel
        return len(session.request_json("GET", "instances"))

    assert asyncio.run(inside()) >= 1


def test_untrusted_certificate_fails_fast_with_a_hint(emulator: Emulator) -> None:
    import certifi

    sleeps: list[float] = []
    settings = _settings(emulator, ca_file=Path(certifi.where()))  # a CA set without the emulator's
    with (
        open_session(
            settings,
            prompt=quiet_prompt,
            token_cache=False,
            retry_policy=RetryPolicy(sleep=sleeps.append),
        ) as session,
        pytest.raises(exc.ServiceUnreachableError, match="CI_CA_FILE"),
    ):
        session.request_json("GET", "instances")
    assert sleeps == []  # no retry fixes an untrusted certificate
