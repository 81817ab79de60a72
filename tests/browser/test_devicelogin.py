"""A device code sign-in approved by a person in Chromium on the emulator's ``/devicelogin``.

``connect()`` runs in a thread against an emulator that does not auto-approve; the prompt
hands over the link and the code; the browser opens the link, types the code, picks a demo
user and approves; the thread's ``connect()`` then returns a signed-in client.

Chromium trusts the emulator's certificates the way a user would trust a private CA, by
their public key: ``--ignore-certificate-errors-spki-list`` with the SHA-256 of the CA's and
the server certificate's public keys (no blanket ``ignore_https_errors``). A second browser
without that flag shows that the trust comes from it.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from ci_toolkit.emulator import Emulator, EmulatorConfig
from tests.browser.conftest import CHROMIUM, screenshot, spki_sha256

if TYPE_CHECKING:
    from ci_toolkit.client import CustomerInsights


class RecordingPrompt:
    """A device code prompt that remembers what it was given and how the sign-in ended."""

    def __init__(self) -> None:
        self.code = threading.Event()
        self.uri = ""
        self.user_code = ""
        self.outcome: tuple[bool, str] | None = None

    def __call__(self, verification_uri: str, user_code: str, expires_on: datetime) -> None:
        self.uri, self.user_code = verification_uri, user_code
        self.code.set()

    def waiting(self, seconds_left: float) -> None:
        pass

    def finished(self, *, success: bool, message: str) -> None:
        self.outcome = (success, message)


@pytest.fixture(scope="module")
def emulator_manual() -> Iterator[Emulator]:
    """An emulator where a person must approve each device code at /devicelogin."""
    with Emulator(EmulatorConfig(profiles=200, auto_approve=False)) as emu:
        yield emu


def test_device_code_approved_in_the_browser(emulator_manual: Emulator, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is required here")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    import ci_toolkit

    s = emulator_manual.settings
    prompt = RecordingPrompt()
    result: dict[str, Any] = {}

    def sign_in() -> None:
        try:
            result["ci"] = ci_toolkit.connect(
                tenant_id=s.tenant_id,
                client_id=s.client_id,
                subscription_key=s.subscription_key,
                authority=s.authority,
                base_url=s.base_url,
                ca_file=s.ca_file,
                prompt=prompt,
                token_cache=False,
                emulator=False,
                config_file=tmp_path / "no-config.toml",
            )
        except BaseException as exc:  # reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=sign_in, daemon=True)
    thread.start()
    assert prompt.code.wait(30), "connect() showed no device code"
    assert urlsplit(prompt.uri).path == "/devicelogin"

    host, port = urlsplit(prompt.uri).hostname, urlsplit(prompt.uri).port
    assert host is not None
    assert port is not None
    server_pem = ssl.get_server_certificate((host, port))
    pins = ",".join(
        [spki_sha256(Path(s.ca_file).read_text(encoding="ascii")), spki_sha256(server_pem)]
    )
    args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    with sync_playwright() as p:
        untrusting = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            with pytest.raises(PlaywrightError, match="ERR_CERT"):
                untrusting.new_page().goto(prompt.uri, timeout=15_000)
        finally:
            untrusting.close()

        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[*args, f"--ignore-certificate-errors-spki-list={pins}"],
        )
        try:
            page = browser.new_context(viewport={"width": 900, "height": 700}).new_page()
            page.goto(prompt.uri, timeout=15_000)
            assert "Enter code" in page.locator("h1").inner_text()
            page.fill("#user_code", prompt.user_code)
            page.select_option("#user", "viewer")
            screenshot(page, "devicelogin-code-entered")
            page.click("button[value='approve']")
            page.wait_for_selector("#result[data-status='approved']", timeout=15_000)
            screenshot(page, "devicelogin-approved")
            assert "You have signed in" in page.locator("#result").inner_text()
        finally:
            browser.close()

    thread.join(30)
    assert not thread.is_alive(), "connect() did not return after the approval"
    assert "error" not in result, result.get("error")
    ci: CustomerInsights = result["ci"]
    try:
        assert prompt.outcome is not None
        assert prompt.outcome[0], prompt.outcome[1]
        assert ci.my_role()["role"] == "viewer"  # the demo user picked in the browser
        assert len(ci.segments()) > 0
    finally:
        ci.close()
