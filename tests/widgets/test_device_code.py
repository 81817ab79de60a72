"""The device code widget, headless: what it shows while waiting and after the outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ci_toolkit import connection
from ci_toolkit.auth import SignInObserver
from ci_toolkit.widgets import DeviceCodePrompt

URI = "https://127.0.0.1:8443/devicelogin"


def _shown(code: str = "ABCD12345") -> DeviceCodePrompt:
    prompt = DeviceCodePrompt(display=False)
    prompt(URI, code, datetime.now(UTC) + timedelta(minutes=15))
    return prompt


def test_shows_link_code_and_copy_button() -> None:
    prompt = _shown()
    assert f"href='{URI}'" in prompt.link.value
    assert "ABCD12345" in prompt.code.value
    assert "navigator.clipboard.writeText" in prompt.copy.value
    assert "&quot;ABCD12345&quot;" in prompt.copy.value
    assert prompt.status.value.startswith("Waiting for sign-in")
    assert prompt.widget.children == (prompt.title, prompt.link, prompt.details, prompt.status)


def test_is_a_sign_in_observer_with_a_countdown() -> None:
    prompt = _shown()
    assert isinstance(prompt, SignInObserver)
    prompt.waiting(75.4)
    assert prompt.status.value == "Waiting for sign-in... 1:15 left"


def test_success_replaces_the_code_with_one_line() -> None:
    prompt = _shown()
    prompt.finished(success=True, message="Signed in as avery@contoso.example.")
    assert prompt.outcome == "success"
    assert prompt.code.value == prompt.copy.value == prompt.link.value == ""
    assert prompt.details.layout.display == "none"
    assert "Signed in as avery@contoso.example." in prompt.status.value
    assert "green" in prompt.status.value


@pytest.mark.parametrize("message", ["Sign-in was declined.", "The device code expired <now>."])
def test_failure_shows_the_reason_escaped(message: str) -> None:
    prompt = _shown()
    prompt.finished(success=False, message=message)
    assert prompt.outcome == "failure"
    assert "ABCD12345" not in prompt.code.value
    assert "<now>" not in prompt.status.value
    assert message.replace("<", "&lt;").replace(">", "&gt;") in prompt.status.value


def test_hostile_values_are_escaped() -> None:
    prompt = DeviceCodePrompt(display=False)
    prompt("https://x/'><script>alert(1)</script>", "A'B\"<C>", datetime.now(UTC))
    for value in (prompt.link.value, prompt.code.value, prompt.copy.value):
        assert "<script>" not in value
        assert "<C>" not in value
    assert "onclick='navigator.clipboard.writeText(&quot;A&#x27;B" in prompt.copy.value


def test_connect_picks_the_widget_inside_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "in_ipython_kernel", lambda: True)
    assert isinstance(connection.default_prompt(), DeviceCodePrompt)
