"""The README's two commands (``./dev lab`` and ``./dev test``) behave on a fresh machine.

These run the real script in subprocesses; the failure paths use a throw-away venv folder.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "dev"


def _supported_minors() -> range:
    """The minor versions pyproject.toml's requires-python allows (``./dev`` reads it too)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    match = re.fullmatch(r">=3\.(\d+),<3\.(\d+)", project["requires-python"])
    assert match, project["requires-python"]
    return range(int(match[1]), int(match[2]))


MINORS = _supported_minors()
SUPPORTED = f"Python 3.{MINORS[0]} to 3.{MINORS[-1]}"


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


def test_missing_python_fails_with_one_line_naming_the_supported_range(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHON": "/nonexistent/python3.11",
        "CI_TOOLKIT_VENV": str(tmp_path / "v"),
    }
    message = _one_line_error(_run("test", env=env))
    assert f"{SUPPORTED} not found at PYTHON=/nonexistent/python3.11" in message
    assert "PYTHON=/path/to/python3.X" in message


def test_broken_python_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "python3.11"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake), "CI_TOOLKIT_VENV": str(tmp_path / "v")}
    message = _one_line_error(_run("lab", env=env))
    assert f"{SUPPORTED} not found" in message
    assert "not a working Python 3" in message


def test_unsupported_python_is_refused_naming_its_version(tmp_path: Path) -> None:
    older = MINORS[0] - 1
    env = {
        **os.environ,
        "PYTHON": str(_fake_python(tmp_path, f"python3.{older}", older)),
        "CI_TOOLKIT_VENV": str(tmp_path / "v"),
    }
    message = _one_line_error(_run("lab", env=env, timeout=60))
    assert f"{SUPPORTED} not found" in message
    assert f"(it is Python 3.{older})" in message
    asked = {**env, "PYTHON": f"3.{older}"}
    message = _one_line_error(_run("lab", env=asked, timeout=60))
    assert f"PYTHON=3.{older} is not a supported version: ci-toolkit runs on {SUPPORTED}" in message


def _fake_python(folder: Path, name: str, minor: int | None) -> Path:
    """A stand-in interpreter that answers ``./dev``'s version probe with ``3.minor``.

    It cannot create a venv, so ``./dev`` stops with an error naming the interpreter it chose.
    ``minor=None`` is a pyenv shim for a version that is not selected: it fails to run.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if minor is None:
        path.write_text(
            '#!/bin/sh\necho "pyenv: $(basename $0): command not found" >&2\nexit 127\n'
        )
    else:
        path.write_text(
            f'#!/bin/sh\nif [ "$1" = -c ]; then echo {minor}; exit 0; fi\n'
            'echo "venv refused" >&2\nexit 1\n'
        )
    path.chmod(0o755)
    return path


def _machine_without_pythons(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A PATH with the tools ``./dev`` needs but no Python, and empty pyenv and uv folders."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("bash", "env", "dirname", "sed", "sort", "cksum", "cut", "cat", "grep", "id"):
        found = shutil.which(tool)
        assert found, tool
        (tools / tool).symlink_to(found)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {
        "PATH": f"{bin_dir}:{tools}",
        "HOME": str(tmp_path / "home"),
        "PYENV_ROOT": str(tmp_path / "pyenv"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "CI_TOOLKIT_VENV": str(tmp_path / "venv"),
    }
    return bin_dir, env


@pytest.mark.parametrize(
    ("python", "on_path", "pyenv", "uv", "chosen"),
    [
        # python3 when it is supported: the interpreter the person already uses
        ("", {"python3": 12, "python3.13": 13}, [], [], "bin/python3"),
        # else the newest supported python3.X on PATH
        ("", {"python3": 10, "python3.11": 11, "python3.13": 13}, [], [], "bin/python3.13"),
        # pyenv's shims refuse unselected versions: its own folders, newest first, not the
        # free-threaded build, not a virtualenv
        (
            "",
            {"python3": 10, "python3.13": None},
            ["3.12.4", "3.12.10", "3.13.0t", "myenv"],
            [],
            "pyenv/versions/3.12.10/bin/python3.12",
        ),
        ("", {}, [], ["cpython-3.13.1-linux-x86_64-gnu"], "x86_64-gnu/bin/python3.13"),
        # PYTHON chooses: a version, the oldest or the newest found
        ("3.12", {"python3.11": 11, "python3.13": 13}, ["3.12.1"], [], "3.12.1/bin/python3.12"),
        ("oldest", {"python3": 13, "python3.11": 11, "python3.13": 13}, [], [], "bin/python3.11"),
        ("newest", {"python3": 11, "python3.12": 12}, ["3.13.0"], [], "3.13.0/bin/python3.13"),
    ],
)
def test_a_supported_python_is_found(
    tmp_path: Path,
    python: str,
    on_path: dict[str, int | None],
    pyenv: list[str],
    uv: list[str],
    chosen: str,
) -> None:
    bin_dir, env = _machine_without_pythons(tmp_path)
    for name, minor in on_path.items():
        _fake_python(bin_dir, name, minor)
    for version in pyenv:
        minor = int(version.split(".")[1]) if version[0].isdigit() else 12
        _fake_python(tmp_path / "pyenv" / "versions" / version / "bin", f"python3.{minor}", minor)
    for name in uv:
        minor = int(name.split(".")[1])
        _fake_python(tmp_path / "data" / "uv" / "python" / name / "bin", f"python3.{minor}", minor)
    if python:
        env["PYTHON"] = python
    message = _one_line_error(_run("lab", env=env, timeout=60))
    # The chosen stand-in cannot create the venv: the error names it.
    found = re.search(r"could not create a virtual environment in \S+ with (\S+):", message)
    assert found, message
    assert found[1].endswith(chosen), message


def test_no_supported_python_anywhere_names_the_range_and_how_to_get_one(tmp_path: Path) -> None:
    bin_dir, env = _machine_without_pythons(tmp_path)
    _fake_python(bin_dir, "python3", MINORS[0] - 1)
    _fake_python(bin_dir, f"python3.{MINORS[-1]}", None)
    message = _one_line_error(_run("lab", env=env, timeout=60))
    assert f"dev: error: {SUPPORTED} not found: install one" in message
    assert "or set PYTHON=/path/to/python3.X or PYTHON=3.X" in message
    asked = {**env, "PYTHON": f"3.{MINORS[-1]}"}
    message = _one_line_error(_run("lab", env=asked, timeout=60))
    assert (
        f"(PYTHON=3.{MINORS[-1]}: no Python 3.{MINORS[-1]} on PATH, in pyenv or in uv)" in message
    )


def test_venv_of_another_python_is_not_silently_reused(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _fake_python(venv / "bin", "python", MINORS[0])
    newer = _fake_python(tmp_path / "other", f"python3.{MINORS[-1]}", MINORS[-1])
    env = {**os.environ, "PYTHON": str(newer), "CI_TOOLKIT_VENV": str(venv)}
    message = _one_line_error(_run("lab", env=env, timeout=60))
    assert f"holds Python 3.{MINORS[0]}, not the Python 3.{MINORS[-1]} PYTHON=" in message
    assert f"CI_TOOLKIT_VENV=.venv-3.{MINORS[-1]}" in message


def _pyproject_checksum() -> str:
    """What ``./dev`` writes into a venv's stamp for this checkout's pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as pyproject:
        out = subprocess.run(["cksum"], stdin=pyproject, capture_output=True, check=True).stdout
    return out.split()[0].decode()


def _running_venv_env() -> dict[str, str]:
    """The environment pointing ``./dev`` at the venv running these tests.

    Only when ``./dev`` installed that venv from this checkout's pyproject.toml (as in CI):
    otherwise it would reinstall this checkout into it, e.g. into a venv shared with another
    checkout, so the test skips.
    """
    stamp = Path(sys.prefix) / ".ci-toolkit-test.stamp"
    if not stamp.is_file() or stamp.read_text().split()[0] != _pyproject_checksum():
        pytest.skip(f"{sys.prefix} was not installed by ./dev from this pyproject.toml")
    return {**os.environ, "CI_TOOLKIT_VENV": sys.prefix}


def _recording_venv(tmp_path: Path) -> dict[str, str]:
    """A venv whose stamp says it is installed and whose tools write down their arguments."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for tool in ("ruff", "mypy", "pytest", "python"):
        script = venv / "bin" / tool
        script.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/{tool}.args\necho 3.{MINORS[0]}.0\n')
        script.chmod(0o755)
    (venv / ".ci-toolkit-test.stamp").write_text(f"{_pyproject_checksum()} [test]\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    return {**env, "CI_TOOLKIT_VENV": str(venv)}


def test_test_runs_every_test_and_notebook_unless_paths_choose(tmp_path: Path) -> None:
    env = _recording_venv(tmp_path)
    nbval = "--nbval-lax --nbval-current-env --nbval-sanitize-with tests/notebooks/sanitize.cfg"
    runs = [
        (["-k", "segments", "-x"], f"tests notebooks {nbval} -k segments -x"),
        (["tests/unit", "notebooks", "-q"], f"{nbval} tests/unit notebooks -q"),
        (["tests/unit/test_odata.py::test_x"], f"{nbval} tests/unit/test_odata.py::test_x"),
    ]
    for args, expected in runs:
        result = _run("test", *args, env=env, timeout=60)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "pytest.args").read_text().splitlines()[-1] == expected
    assert (tmp_path / "ruff.args").read_text().splitlines()[:2] == ["check .", "format --check ."]
    assert (tmp_path / "mypy.args").exists()


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
    env = _running_venv_env()
    _run("lab", "--version", env=env)  # installs nothing: the stamp matches
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
        **_running_venv_env(),
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
