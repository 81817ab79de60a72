"""The README's two commands (``./dev lab`` and ``./dev test``) behave on a fresh machine.

These run the real script in subprocesses; the failure paths use a throw-away venv folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "dev"


def _run(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEV), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("dev: error:")]
    assert result.returncode == 1
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return errors[0]


def test_missing_python_311_fails_with_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHON": "/nonexistent/python3.11",
        "CI_TOOLKIT_VENV": str(tmp_path / "v"),
    }
    message = _one_line_error(_run("test", env=env))
    assert "Python 3.11 not found" in message
    assert "PYTHON=" in message


def test_wrong_python_version_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "python3.11"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake), "CI_TOOLKIT_VENV": str(tmp_path / "v")}
    assert "Python 3.11 not found" in _one_line_error(_run("lab", env=env))


def test_no_network_fails_with_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "CI_TOOLKIT_VENV": str(tmp_path / "v"),
        # No config files, no local wheels, an index nobody answers on.
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
    }
    message = _one_line_error(_run("test", env=env, timeout=300))
    assert "cannot download the dependencies" in message
    assert "PIP_INDEX_URL" in message


def test_unknown_command_is_explained() -> None:
    result = _run("deploy", env=dict(os.environ), timeout=30)
    assert "unknown command 'deploy'" in _one_line_error(result)


def test_second_run_reuses_the_environment() -> None:
    env = {**os.environ, "CI_TOOLKIT_VENV": sys.prefix}
    _run("lab", "--version", env=env)  # may install the first time
    started = time.monotonic()
    second = _run("lab", "--version", env=env)
    assert second.returncode == 0, second.stderr
    assert "installing" not in second.stderr
    assert second.stdout.strip()[0].isdigit()  # JupyterLab's version
    assert time.monotonic() - started < 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_lab_serves_the_notebooks_folder(tmp_path: Path) -> None:
    port, token = _free_port(), "dev-script-test"
    home = tmp_path / "home"
    env = {
        **os.environ,
        "CI_TOOLKIT_VENV": sys.prefix,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    args = [
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    proc = subprocess.Popen(
        [str(DEV), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/contents?token={token}"
        deadline = time.monotonic() + 120
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = response.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        if body is None:
            pytest.fail(f"JupyterLab did not answer on port {port} (exit code {proc.poll()})")
        served = {
            item.name for item in (ROOT / "notebooks").iterdir() if not item.name.startswith(".")
        }
        assert served, "notebooks/ should not be empty"
        for name in served:
            assert f'"name": "{name}"' in body or f'"name":"{name}"' in body
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/lab?token={token}", timeout=10
        ) as page:
            assert page.status == 200
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_readme_first_screen_gives_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    commands = [command for command in commands if command]  # comment lines hold none
    assert commands == ["./dev lab", "./dev test"]
    assert readme.index("```bash") < 600  # on the first screen
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    steps = [line.strip() for line in ci.splitlines() if line.strip() and not line.startswith("#")]
    assert steps[-1] == "./dev test"  # exactly the README's test command, last, under set -e
    assert "set -euo pipefail" in steps
