"""The dashboard app (``ci-toolkit app``, Voilà) driven in Chromium like a person would.

One app server for the module, started exactly as the README says, pointed by ``CI_*``
settings at a separately run emulator (the way a real tenant is configured) that does not
auto-approve device codes. The test reads the device code off the page (selecting it with a
click, copying it with the copy button), signs in on the emulator's ``/devicelogin`` in a
second tab, picks a segment, refreshes it and watches the job, and looks up a customer. A
second viewer gets a kernel and a sign-in of their own. Neither the page nor its widget
state holds the subscription key or a token. Screenshots: ``test-artifacts/browser/app-*.png``.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from ci_toolkit._defaults import ENV_VARS
from ci_toolkit.emulator import Emulator, EmulatorConfig
from tests.browser.conftest import CHROMIUM, ROOT, screenshot, spki_sha256
from tests.browser.notebook_runner import wait_for
from tests.support import emulator_env

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

#: The start of a JSON web token.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")


@dataclass
class App:
    """The running app: its address and the emulator standing in for the tenant."""

    url: str
    emulator: Emulator
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    base = tmp_path_factory.mktemp("app")
    home = base / "home"
    with Emulator(EmulatorConfig(profiles=300, auto_approve=False)) as emulator:
        env = {
            **{k: v for k, v in os.environ.items() if k not in set(ENV_VARS.values())},
            **emulator_env(emulator),  # the same settings as for a real tenant
            "HOME": str(home),
            "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
            "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
            "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
            "IPYTHONDIR": str(home / "ipython"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        port = _free_port()
        command = [sys.executable, "-m", "ci_toolkit.cli", "app", "--no-browser", f"--port={port}"]
        log = base / "app.log"
        with log.open("w") as out:
            proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        if proc.poll() is not None or time.monotonic() > deadline:
                            pytest.fail(f"the app did not start: see {log}")
                        time.sleep(0.3)
                yield App(url=f"http://127.0.0.1:{port}/", emulator=emulator, log=log)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture(scope="module")
def pinned_browser(app: App) -> Iterator[Browser]:
    """Chromium trusting the emulator's certificates by their public keys (for /devicelogin)."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is required here (CI_TOOLKIT_REQUIRE_BROWSER=1)")
    from playwright.sync_api import sync_playwright

    s = app.emulator.settings
    where = urlsplit(s.authority)
    server_pem = ssl.get_server_certificate((where.hostname or "127.0.0.1", where.port or 443))
    pins = ",".join(
        [spki_sha256(Path(s.ca_file).read_text(encoding="ascii")), spki_sha256(server_pem)]
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                f"--ignore-certificate-errors-spki-list={pins}",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


def _device_code(page: Page) -> tuple[str, str]:
    """Wait for the sign-in prompt in the page; return its link and code."""
    code = page.locator(".widget-html code").first
    code.wait_for(timeout=60_000)
    link = page.locator(".widget-html a[href*='devicelogin']").first
    return str(link.get_attribute("href")), code.inner_text().strip()


def _visible_select(page: Page, label: str) -> object:
    return page.locator(".widget-dropdown:visible", has_text=label).locator("select")


def test_the_app_signs_in_explores_and_watches_a_job(pinned_browser: Browser, app: App) -> None:
    context = pinned_browser.new_context(viewport={"width": 1300, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app.url.rstrip("/"))
    page = context.new_page()
    page.goto(app.url, timeout=60_000)

    # --- sign in: the code is text to select or copy, not only a link to click ---------------
    uri, code = _device_code(page)
    assert urlsplit(uri).path == "/devicelogin"
    assert re.fullmatch(r"[A-Z0-9]{6,}", code), code
    page.locator(".widget-html code").first.click()
    assert page.evaluate("() => window.getSelection().toString().trim()") == code
    page.get_by_role("button", name="Copy code").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == code
    assert uri in page.inner_text("body"), "the link is written out, for where it cannot be clicked"
    screenshot(page, "app-device-code")

    login = context.new_page()
    login.goto(uri, timeout=15_000)
    login.fill("#user_code", code)
    login.select_option("#user", "admin")
    login.click("button[value='approve']")
    login.wait_for_selector("#result[data-status='approved']", timeout=15_000)
    login.close()
    wait_for(lambda: "role admin" in page.inner_text("body"), timeout=60, what="the sign-in")

    # --- pick a segment, refresh it and watch the job ----------------------------------------
    page.get_by_role("tab", name="Segments").click()
    segment = page.locator(".widget-dropdown:visible", has_text="Segment").locator("select")
    wait_for(lambda: segment.locator("option").count() > 1, timeout=60, what="the segments")
    segment.select_option(label="Young adults (YoungAdults)")
    body = page.locator(".widget-tab")
    wait_for(lambda: "BirthDate" in body.inner_text(), timeout=60, what="the definition")
    page.get_by_role("button", name="Refresh").click()
    wait_for(
        lambda: "1/1 tasks finished" in body.inner_text() and "successful" in body.inner_text(),
        timeout=90,
        what="the refresh job to finish",
    )
    screenshot(page, "app-segment-refreshed")
    page.get_by_role("tab", name="Jobs").click()
    wait_for(lambda: "segmentation" in body.inner_text(), timeout=60, what="the job in the list")

    # --- look up a customer ------------------------------------------------------------------
    page.get_by_role("tab", name="Customers").click()
    search = page.locator(".widget-text:visible input")
    search.fill("Patel")
    search.press("Enter")
    customer = page.locator(".widget-dropdown:visible", has_text="Customer").locator("select")
    wait_for(lambda: customer.locator("option").count() > 0, timeout=60, what="search results")
    customer.select_option(index=0)
    chart = page.locator(".widget-tab img:visible")
    wait_for(
        lambda: "Patel" in body.inner_text() and chart.count() > 0,
        timeout=60,
        what="the profile card and its chart",
    )
    screenshot(page, "app-customer")

    # --- nothing secret in the page, its widget state or its source ---------------------------
    shown = page.content() + page.evaluate(
        "() => JSON.stringify(Array.from(document.querySelectorAll('*'), e => e.outerHTML))"
    )
    assert app.emulator.settings.subscription_key not in shown
    assert not JWT.search(shown), "a token is in the page"
    assert "Traceback" not in page.inner_text("body")

    # --- a second viewer: a kernel and a sign-in of their own ---------------------------------
    other = context.new_page()
    other.goto(app.url, timeout=60_000)
    _, second_code = _device_code(other)
    assert second_code != code, "a second viewer shares the first one's sign-in"
    assert "Signed in as" not in other.inner_text("body")
    context.close()
