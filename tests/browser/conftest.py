"""JupyterLab and Notebook 7 on 127.0.0.1 driven by Debian's Chromium through Playwright.

No browser is ever downloaded: Playwright launches ``/usr/bin/chromium``. Without it the
browser tests skip, unless ``CI_TOOLKIT_REQUIRE_BROWSER=1`` (set by ``.ci/run``), where a
missing browser is a failure. Notebooks are copied to a temporary folder first, so the
browser's autosave can never write outputs into the committed notebooks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ci_toolkit._defaults import ENV_VARS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
#: ci-toolkit's connection settings (CI_TENANT_ID, ...).
CONNECTION_SETTINGS = frozenset(ENV_VARS.values())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder as a browser test; skip or fail without Chromium."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                if os.environ.get("CI_TOOLKIT_REQUIRE_BROWSER") == "1":
                    continue  # the fixture fails with the reason
                reason = "Debian's chromium is not installed (apt-get install chromium)"
                item.add_marker(pytest.mark.skip(reason=reason))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    """A running JupyterLab: where it serves, its token and the folder it serves."""

    url: str
    token: str
    root: Path
    env: dict[str, str]

    def api(self, path: str) -> Any:
        """GET a Jupyter server REST endpoint and decode its JSON."""
        with urllib.request.urlopen(f"{self.url}{path}?token={self.token}", timeout=10) as r:
            return json.loads(r.read())


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab serving a copy of ``notebooks/``, with dialogs and news turned off."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(ROOT / "notebooks", root)
    home = base / "home"
    settings = base / "settings"
    for name, content in {
        # windowingMode "none": every cell is rendered, so all outputs can be read and
        # a screenshot shows the whole notebook (not only the cells scrolled into view)
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
            "autoStartDefaultKernel": True,
            "windowingMode": "none",
        },
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    }.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content), encoding="utf-8")
    env = {
        # ci-toolkit's CI_* connection settings stay out: the notebooks run on the emulator
        **{k: v for k, v in os.environ.items() if k not in CONNECTION_SETTINGS},
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    port, token = _free_port(), "browser-tests"
    command = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
        f"--LabApp.user_settings_dir={settings}",
        # Notebook 7 (/notebooks/...) is served by the same server, with the same settings
        f"--JupyterNotebookApp.user_settings_dir={settings}",
        f"--JupyterNotebookApp.workspaces_dir={base / 'workspaces'}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (base / "lab.log").open("w")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    instance = Lab(url=f"http://127.0.0.1:{port}", token=token, root=root, env=env)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                instance.api("/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start: see {base / 'lab.log'}")
                time.sleep(0.3)
        yield instance
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless.

    Module-scoped on purpose: Playwright's sync API keeps an asyncio loop marked as running
    in the main thread while it is open, which would break later tests that (rightly) call
    ``asyncio.run``; closing it at the end of each module keeps the rest of the suite clean.
    """
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is required here (CI_TOOLKIT_REQUIRE_BROWSER=1)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser page, 1400x1000."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def spki_sha256(pem: str) -> str:
    """Base64 SHA-256 of a certificate's SubjectPublicKeyInfo (Chromium's SPKI pin format)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under ``test-artifacts/browser/`` and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
