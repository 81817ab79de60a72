"""The wheel a user installs works on its own, away from this repository.

The module builds the wheel from the files git knows (so nothing left over in ``build/`` can
hide a missing asset), installs it with its dependencies into a new virtual environment in a
temporary folder outside the repository, and runs everything from that environment with no
``PYTHONPATH``: the embedded emulator behind ``connect()``, a typed query, and the
``ci-toolkit emulator`` command answering over HTTPS with its own CA. The contract, the
device-login page and every other file of the package must therefore ship in the wheel.

Building needs setuptools from the package index and installing needs the runtime
dependencies: pip's cache (filled by ``./dev``'s own install) keeps both to about a minute.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import msal
import pytest

from ci_toolkit._defaults import ENV_VARS

ROOT = Path(__file__).resolve().parents[2]

# Building and installing the wheel counts towards the first test's time limit.
pytestmark = pytest.mark.timeout(600)


def _run(args: list[str | Path], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _outside_env() -> dict[str, str]:
    """This process's environment without what would import the repository's code."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _user_env(home: Path) -> dict[str, str]:
    """The installed package's environment: no ``CI_*`` setting, config and cache in ``home``."""
    env = {k: v for k, v in _outside_env().items() if k not in ENV_VARS.values()}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        PYTHONUNBUFFERED="1",
    )
    return env


def _package_files() -> list[str]:
    """The package's files git knows (committed or new), as paths inside the wheel."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "ci_toolkit"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(line for line in out.splitlines() if (ROOT / line).is_file())


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    assert not folder.resolve().is_relative_to(ROOT)
    return folder


@pytest.fixture(scope="module")
def wheel(outside: Path) -> Path:
    """The wheel built from a copy of the repository's files (committed or new, never ignored)."""
    source = outside / "source"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = outside / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", dist, source],
        cwd=outside,
        env=_outside_env(),
        timeout=300,
    )
    (built,) = dist.glob("ci_toolkit-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(outside: Path, wheel: Path) -> Path:
    """A new virtual environment outside the repository with the wheel and its dependencies."""
    folder = outside / "venv"
    _run([sys.executable, "-m", "venv", folder], cwd=outside, env=_outside_env(), timeout=120)
    python = folder / "bin" / "python"
    # As a user would, less the byte-compiling of every dependency (a third of the time here):
    # Python compiles what it imports.
    install = [python, "-m", "pip", "install", "--no-compile", wheel]
    _run(install, cwd=outside, env=_outside_env(), timeout=500)
    return folder


def test_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
    shipped = sorted(n for n in names if not n.startswith("ci_toolkit-"))
    assert shipped == _package_files()  # the contract, the device-login page, py.typed, ...
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requires = re.search(r"^Requires-Python: (.+)$", metadata, re.MULTILINE)
    assert requires, metadata[:2000]
    wanted = pyproject["project"]["requires-python"]
    assert sorted(requires[1].split(",")) == sorted(wanted.split(","))


def test_installed_wheel_connects_to_the_embedded_emulator(venv: Path, outside: Path) -> None:
    script = """
import json, pathlib, sys
import ci_toolkit

ci = ci_toolkit.connect()  # no settings: the embedded emulator, code approved by itself
customers = ci.query("Customer", select=["CustomerId", "BirthDate"], top=5, orderby="CustomerId")
print(json.dumps({
    "module": ci_toolkit.__file__,
    "prefix": sys.prefix,
    "segments": len(ci.segments()),
    "rows": len(customers),
    "dtypes": {name: str(dtype) for name, dtype in customers.dtypes.items()},
}))
ci.close()
"""
    home = outside / "home-connect"
    out = _run(
        [venv / "bin" / "python", "-c", script], cwd=outside, env=_user_env(home), timeout=180
    )
    found = json.loads(out.strip().splitlines()[-1])
    assert Path(found["module"]).is_relative_to(venv)  # the wheel's code, not the repository's
    assert Path(found["prefix"]) == venv
    assert found["segments"] > 0
    assert found["rows"] == 5
    assert found["dtypes"]["BirthDate"].startswith("datetime64")  # typed from the metadata


def _read_settings(proc: subprocess.Popen[str]) -> tuple[dict[str, str], str]:
    """The ``export`` lines and the device-login address ``ci-toolkit emulator`` prints."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while not any(line.startswith("export CI_CA_FILE") for line in lines):
        assert time.monotonic() < deadline, "".join(lines)
        line = proc.stdout.readline()
        assert line, "".join(lines) + (proc.stderr.read() if proc.stderr else "")
        lines.append(line)
    text = "".join(lines)
    exports = {}
    for line in lines:
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = value
    login = re.search(r"device login:\s+(\S+)", text)
    assert login, text
    return exports, login.group(1)


def test_installed_console_script_serves_the_emulator_over_https(venv: Path, outside: Path) -> None:
    proc = subprocess.Popen(
        [str(venv / "bin" / "ci-toolkit"), "emulator", "--profiles=50", "--no-auto-approve"],
        cwd=outside,
        env=_user_env(outside / "home-cli"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        env, devicelogin = _read_settings(proc)
        trust = ssl.create_default_context(cafile=env["CI_CA_FILE"])
        with httpx.Client(verify=trust, timeout=30) as http:
            assert http.get(f"{env['CI_BASE_URL']}/instances").status_code == 401
            app = msal.PublicClientApplication(
                env["CI_CLIENT_ID"],
                authority=env["CI_AUTHORITY"],
                instance_discovery=False,
                http_client=http,
            )
            flow = app.initiate_device_flow(
                scopes=["https://api.ci.ai.microsoft.com/user_impersonation"]
            )
            page = http.get(devicelogin, params={"otc": flow["user_code"]})
            assert page.status_code == 200
            assert '<form method="post" action="/devicelogin">' in page.text  # the shipped page
            approved = http.post(
                devicelogin,
                data={"user_code": flow["user_code"], "user": "admin", "action": "approve"},
            )
            assert "data-status='approved'" in approved.text
            token = app.acquire_token_by_device_flow(flow)["access_token"]
            instance = http.get(
                f"{env['CI_BASE_URL']}/instances/{env['CI_INSTANCE_ID']}",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Ocp-Apim-Subscription-Key": env["CI_SUBSCRIPTION_KEY"],
                },
            )
            assert instance.status_code == 200, instance.text
            assert instance.json()["instanceId"] == env["CI_INSTANCE_ID"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert not Path(env["CI_CA_FILE"]).exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(autouse=True, scope="module")
def _no_leftovers(outside: Path) -> Iterator[None]:
    """The build and the venv (a gigabyte) go when the module is done, in the background."""
    yield
    remove = 'rm -rf "$1" >/dev/null 2>&1 &'  # the shell returns at once, rm carries on
    subprocess.run(["sh", "-c", remove, "sh", str(outside)], check=True, timeout=30)
