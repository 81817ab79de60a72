"""``ci-toolkit emulator``: flags, one-line errors, the printed settings, Ctrl-C."""

from __future__ import annotations

import io
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import msal
import pytest

from ci_toolkit.cli import build_parser, main
from ci_toolkit.emulator.cli import config_from_args, run
from ci_toolkit.emulator.state import demo_instance_id

ENV_NAMES = [
    "CI_BASE_URL",
    "CI_AUTHORITY",
    "CI_TENANT_ID",
    "CI_CLIENT_ID",
    "CI_SUBSCRIPTION_KEY",
    "CI_INSTANCE_ID",
    "CI_CA_FILE",
]


def parse_exports(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = value
    return found


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--fault-rate", "2"], "--fault-rate: '2' must be between 0 and 1"),
        (["--port", "http"], "--port: 'http' is not a number"),
        (["--port", "70000"], "--port: '70000' is not a port"),
        (["--profiles", "0"], "--profiles: '0' must be at least 1"),
        (["--rate-limit", "0"], "--rate-limit: '0' must be greater than 0"),
        (["--latency-ms", "-1"], "--latency-ms: '-1' must not be negative"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_bad_flags_give_one_line(
    capsys: pytest.CaptureFixture[str], flags: list[str], fragment: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["emulator", *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "emulator" in capsys.readouterr().out


def test_flags_map_onto_the_config(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "emulator",
            "--port=0",
            "--profiles=123",
            "--seed=9",
            "--latency-ms=5",
            "--rate-limit=7.5",
            "--fault-rate=0.25",
            "--token-lifetime=60",
            "--time-scale=0.1",
            "--no-auto-approve",
            f"--data-dir={tmp_path / 'data'}",
            f"--output-dir={tmp_path / 'out'}",
        ]
    )
    config = config_from_args(args)
    assert config.profiles == 123
    assert config.seed == 9
    assert config.latency_ms == 5
    assert config.rate_limit == 7.5
    assert config.fault_rate == 0.25
    assert config.token_lifetime == 60
    assert config.time_scale == 0.1
    assert config.auto_approve is False
    assert config.data_dir == tmp_path / "data"
    assert config.output_dir == tmp_path / "out"
    defaults = config_from_args(build_parser().parse_args(["emulator"]))
    assert defaults.auto_approve is True
    assert defaults.rate_limit is None


def test_run_prints_working_settings_and_stops() -> None:
    args = build_parser().parse_args(["emulator", "--profiles=50", "--seed=4"])
    out = io.StringIO()
    stop = threading.Event()
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(run(args, out=out, stop=stop)))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while "export CI_CA_FILE" not in out.getvalue():
            assert time.monotonic() < deadline, out.getvalue()
            assert thread.is_alive(), out.getvalue()
            time.sleep(0.05)
        text = out.getvalue()
        env = parse_exports(text)
        assert list(env) == ENV_NAMES
        assert env["CI_SUBSCRIPTION_KEY"] in text.split("export")[0]  # shown to the person
        # The printed values are enough to sign in with MSAL and call the API.
        with httpx.Client(verify=ssl.create_default_context(cafile=env["CI_CA_FILE"])) as http:
            app = msal.PublicClientApplication(
                env["CI_CLIENT_ID"],
                authority=env["CI_AUTHORITY"],
                instance_discovery=False,
                http_client=http,
            )
            flow = app.initiate_device_flow(
                scopes=["https://api.ci.ai.microsoft.com/user_impersonation"]
            )
            token = app.acquire_token_by_device_flow(flow)["access_token"]
            response = http.get(
                f"{env['CI_BASE_URL']}/instances/{env['CI_INSTANCE_ID']}",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Ocp-Apim-Subscription-Key": env["CI_SUBSCRIPTION_KEY"],
                },
            )
            assert response.status_code == 200
    finally:
        stop.set()
        thread.join(30)
    assert codes == [0]
    assert not Path(env["CI_CA_FILE"]).exists()  # temporary files are gone


def test_port_in_use_is_a_one_line_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = build_parser().parse_args(["emulator", f"--port={port}", "--profiles=50"])
        out = io.StringIO()
        assert run(args, out=out) == 1
    assert out.getvalue().startswith("ci-toolkit emulator: error: could not start:")
    assert out.getvalue().count("\n") == 1


def test_console_script_serves_until_ctrl_c() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ci_toolkit.cli", "emulator", "--profiles=50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("export CI_CA_FILE") for line in lines):
            assert time.monotonic() < deadline
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            lines.append(line)
        exports = parse_exports("".join(lines))
        with httpx.Client(verify=ssl.create_default_context(cafile=exports["CI_CA_FILE"])) as http:
            assert http.get(exports["CI_BASE_URL"] + "/instances").status_code == 401
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "Stopping" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("ci-toolkit ")


def test_an_unreadable_data_dir_file_is_a_one_line_error(tmp_path: Path) -> None:
    """The file is named, with the fix, and left as it was (never overwritten)."""
    path = tmp_path / demo_instance_id(42, 0) / "segments-and-measures.json"
    path.parent.mkdir()
    path.write_bytes(b'{"segments": [{"name": "MySegment", ')
    args = build_parser().parse_args(
        ["emulator", "--profiles=50", "--seed=42", f"--data-dir={tmp_path}"]
    )
    out = io.StringIO()
    assert run(args, out=out) == 1
    text = out.getvalue()
    assert text.startswith(f"ci-toolkit emulator: error: could not start: cannot read {path}: ")
    assert "repair the file or move it out of the way" in text
    assert text.count("\n") == 1
    assert path.read_bytes() == b'{"segments": [{"name": "MySegment", '
