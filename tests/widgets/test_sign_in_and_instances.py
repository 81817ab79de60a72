"""SignInPanel and InstancePicker, headless on the emulator."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.config import Settings
from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.http.session import open_session
from ci_toolkit.widgets import InstancePicker, SignInPanel
from tests.widgets.conftest import settle


def device_code_client(emulator: Emulator) -> CustomerInsights:
    """A client that signs in with a device code on first use (tokens in memory)."""
    s = emulator.settings
    settings = Settings(
        client_id=s.client_id,
        subscription_key=s.subscription_key,
        authority=s.authority,
        tenant_id=s.tenant_id,
        instance_id=s.instance_id,
        base_url=s.base_url,
        ca_file=Path(s.ca_file),
    )
    return CustomerInsights(open_session(settings, token_cache=False), instance_id=s.instance_id)


@pytest.fixture
def device_code_ci(emulator: Emulator) -> Iterator[CustomerInsights]:
    """A device code client on the session emulator, which approves codes at once."""
    with device_code_client(emulator) as ci:
        yield ci


@pytest.fixture(scope="module")
def manual_emulator() -> Iterator[Emulator]:
    """An emulator that waits for someone to approve or decline each device code."""
    with Emulator(EmulatorConfig(profiles=200, auto_approve=False)) as emu:
        emu.aad.poll_interval = 1
        yield emu


def _pending_code(panel: SignInPanel, previous: str | None = None) -> str:
    deadline = time.monotonic() + 15
    while not (panel.pending and panel.prompt.user_code not in (None, previous)):
        assert time.monotonic() < deadline, "no device code shown"
        time.sleep(0.05)
    return panel.prompt.user_code


def test_panel_shows_principal_role_and_instance(
    make: Callable[..., Any], admin: CustomerInsights
) -> None:
    panel: SignInPanel = make(SignInPanel, admin)
    me = admin.my_role()
    assert panel.identity["role"] == "admin"
    assert panel.identity["principalId"] == me["principalId"]
    assert panel.identity["instanceName"] == "Contoso Retail"
    assert "Signed in as user" in panel.status.value
    assert "<b>admin</b>" in panel.status.value
    assert "Contoso Retail (production" in panel.status.value
    assert not panel.buttons["sign_out"].disabled
    assert panel.buttons["sign_in"].disabled
    assert panel.prompt.widget.layout.display == "none"


def test_pending_sign_in_shows_the_device_code_inside_the_panel(
    make: Callable[..., Any], device_code_ci: CustomerInsights
) -> None:
    panel: SignInPanel = make(SignInPanel, device_code_ci)
    first_code = panel.prompt.user_code
    assert first_code  # the sign-in went through the panel's device code prompt
    assert panel.prompt.outcome == "success"
    assert "Signed in" in panel.prompt.status.value
    assert panel.prompt.widget.layout.display == "none"  # hidden again once signed in
    assert panel.identity["role"]
    # sign out, then sign in again: a new device code appears in the panel
    panel.buttons["sign_out"].click()
    settle(panel)
    assert "Signed out" in panel.status.value
    assert panel.identity == {}
    assert not panel.buttons["sign_in"].disabled
    panel.buttons["sign_in"].click()
    settle(panel)
    assert panel.prompt.user_code
    assert panel.prompt.user_code != first_code
    assert "Signed in as" in panel.status.value
    # closing gives the connection its own prompt back
    credential: Any = device_code_ci.session.credential
    panel.close()
    assert type(credential.prompt).__name__ != "_PanelPrompt"


def test_panel_waits_for_approval_without_blocking(manual_emulator: Emulator) -> None:
    with device_code_client(manual_emulator) as ci:
        started = time.monotonic()
        panel = SignInPanel(ci)
        try:
            assert time.monotonic() - started < 0.5  # the cell returns at once
            code = _pending_code(panel)
            assert "Sign-in pending" in panel.status.value
            assert panel.prompt.widget.layout.display is None  # shown inside the panel
            assert code in panel.prompt.code.value
            assert "/devicelogin" in panel.prompt.link.value
            manual_emulator.aad.decide(code, "viewer", approve=True)
            settle(panel)
            assert panel.identity["role"] == "viewer"
            assert "<b>viewer</b>" in panel.status.value
            assert panel.prompt.widget.layout.display == "none"
        finally:
            panel.close()


def test_declined_sign_in_is_a_message_and_can_be_retried(manual_emulator: Emulator) -> None:
    with device_code_client(manual_emulator) as ci:
        panel = SignInPanel(ci)
        try:
            first = _pending_code(panel)
            manual_emulator.aad.decide(first, "admin", approve=False)
            settle(panel)
            assert "SignInDeclinedError" in panel.message.value
            assert "Not signed in" in panel.status.value
            assert "Traceback" not in panel.message.value
            assert not panel.buttons["sign_in"].disabled
            panel.buttons["sign_in"].click()
            manual_emulator.aad.decide(_pending_code(panel, first), "admin", approve=True)
            settle(panel)
            assert panel.identity["role"] == "admin"
        finally:
            panel.close()


def test_picker_lists_instances_and_switches_the_client(
    make: Callable[..., Any], admin: CustomerInsights, emulator: Emulator
) -> None:
    picker: InstancePicker = make(InstancePicker, admin)
    labels = [label for label, _ in picker.dropdown.options]
    assert labels == ["Contoso Retail (production)", "Contoso Retail Sandbox (sandbox)"]
    assert picker.value == emulator.settings.instance_id
    seen: list[str] = []
    picker.on_change(seen.append)
    sandbox = picker.dropdown.options[1][1]
    picker.value = sandbox
    settle(picker)
    assert admin.instance_id == sandbox
    assert seen == [sandbox]
    assert "Contoso Retail Sandbox" in picker.message.value


def test_picker_shows_a_service_error_in_the_widget(
    make: Callable[..., Any], admin: CustomerInsights, monkeypatch: pytest.MonkeyPatch
) -> None:
    picker: InstancePicker = make(InstancePicker, admin)
    before = admin.instance_id
    monkeypatch.setattr(admin, "use_instance", _refuse)
    picker.value = picker.dropdown.options[1][1]
    settle(picker)
    assert admin.instance_id == before
    assert "PermissionDeniedError" in picker.message.value
    assert "Traceback" not in picker.message.value


def _refuse(instance_id: str, *, check: bool = True) -> None:
    from ci_toolkit.exceptions import PermissionDeniedError

    raise PermissionDeniedError(f"no access to {instance_id}", status=403)
