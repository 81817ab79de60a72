"""The device code reaches a person where a link cannot be clicked.

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
