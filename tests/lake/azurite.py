"""Azurite (Microsoft's Azure Storage emulator, npm) for the lake tests: a real Blob endpoint.

``.ci/run`` installs it into ``.cache/azurite`` (or ``$CI_TOOLKIT_AZURITE_DIR``); locally the
tests skip with the install command when it is absent, in CI (``CI=true`` or
``CI_TOOLKIT_REQUIRE_AZURITE=1``, which ``.ci/run`` sets) they fail.
It always runs with ``--disableTelemetry`` (nothing here may call an outside host), on
127.0.0.1, in memory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

#: Azure's public, documented development account (not a secret).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ROOT = Path(__file__).resolve().parents[2]


def azurite_binary() -> Path | None:
    # relative to the repository (``.ci/run`` exports a relative path; Azurite runs elsewhere)
    folder = ROOT / (os.environ.get("CI_TOOLKIT_AZURITE_DIR") or Path(".cache", "azurite"))
    binary = folder / "node_modules" / ".bin" / "azurite-blob"
    return binary if binary.exists() else None


def require_azurite() -> Path:
    binary = azurite_binary()
    if binary is None:
        reason = (
            "Azurite is not installed: npm install --no-audit --no-fund --prefix "
            ".cache/azurite azurite@3 (what .ci/run does)"
        )
        if os.environ.get("CI", "").lower() == "true" or os.environ.get(
            "CI_TOOLKIT_REQUIRE_AZURITE"
        ):
            pytest.fail(f"in CI the Azurite tests must run: {reason}")
        pytest.skip(reason)
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connection_string(port: int, key: str = KEY) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


@contextmanager
def azurite(binary: Path, workdir: Path) -> Iterator[int]:
    """Run azurite-blob on a free port until the block ends; yields the port."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(binary),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--silent",  # no access log: nobody reads the pipe after start-up
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if "successfully listens" in line:
                break
            if not line and process.poll() is not None:
                raise RuntimeError(f"azurite-blob exited with {process.returncode}")
        else:
            raise RuntimeError("azurite-blob did not start within 30 s")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
