"""The device code widget, headless: what it shows while waiting and after the outcome, and
how the code reaches a person where a link cannot be clicked.

In a front end without widgets the displayed output's plain text says the link and the code;
outside a kernel (a script, a terminal) ``connect()`` prints them. (That the code is
selectable and copyable in a browser is tested in ``tests/browser/test_front_ends.py``.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ci_toolkit import connection
from ci_toolkit.auth import SignInObserver
from ci_toolkit.emulator import Emulator
from ci_toolkit.widgets import DeviceCodePrompt
from tests.support import emulator_env

ROOT = Path(__file__).resolve().parents[2]
URI = "https://login.example/devicelogin"


def test_the_displayed_output_has_the_code_as_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[tuple[Any, dict[str, Any]]] = []

    class Handle:
        def update(self, data: Any, **kwargs: Any) -> None:
            shown.append((data, kwargs))

    def display(data: Any, **kwargs: Any) -> Handle:
        shown.append((data, kwargs))
        return Handle()

    monkeypatch.setattr("IPython.display.display", display)
    prompt = DeviceCodePrompt()
    prompt(URI, "QWER5678", datetime.now(UTC) + timedelta(minutes=15))
    (bundle, options), *_ = shown
    assert options == {"raw": True, "display_id": True}
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == prompt.widget.model_id  # front ends with widgets: the widget
    text = bundle["text/plain"]  # any other front end: a sentence a person can act on
    assert f"open {URI} and enter the code QWER5678" in text
    assert "VBox(" not in text

    prompt.finished(success=True, message="Signed in as avery@contoso.example.")
    updated, _ = shown[-1]
    assert updated["text/plain"] == "Signed in as avery@contoso.example."
    assert "QWER5678" not in str(updated)


def test_outside_a_kernel_connect_prints_the_link_and_the_code(
    emulator: Emulator, tmp_path: Path
) -> None:
    """A script signs in with a device code printed on stderr (the emulator approves it)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CI_")},
        **emulator_env(emulator),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(ROOT),
    }
    script = (
        "import ci_toolkit\nci = ci_toolkit.connect(token_cache=False)\nprint(ci.my_role()['role'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pattern = r"open (https://127\.0\.0\.1:\d+/devicelogin) and enter the code ([A-Z0-9]+) "
    printed = re.search(pattern, done.stderr)
    assert printed, done.stderr
    assert done.stdout.strip() in {"admin", "contributor", "viewer"}


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
