"""Shared by the bulk benchmarks: an emulator in its own process, fresh child processes,
medians and the machine description that goes next to every table in ``BENCHMARKS.md``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CLI = str(Path(PYTHON).with_name("ci-toolkit"))


def machine() -> str:
    """nproc, memory, Python and library versions, date: one markdown block."""
    free = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    versions = []
    for name in ("pandas", "pyarrow", "httpx", "orjson", "customerinsights", "msrest", "duckdb",
                 "uvicorn", "httptools", "uvloop", "starlette"):  # fmt: skip
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return "\n".join(
        [
            f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"nproc: {os.cpu_count()}; {platform.platform()}",
            f"python: {platform.python_version()}",
            "libraries: " + ", ".join(versions),
            "free -h:",
            free.rstrip(),
        ]
    )


def median(values: Sequence[float]) -> float:
    """The median (of a non-empty sequence)."""
    return float(statistics.median(values))


class EmulatorProcess:
    """``ci-toolkit emulator ...`` in its own process; settings parsed from what it prints."""

    def __init__(
        self,
        *,
        profiles: int,
        latency_ms: float = 0,
        root: Path = ROOT,
        prefix: Sequence[str] = (),
        **flags: Any,
    ) -> None:
        # ``prefix``: e.g. ``("taskset", "-c", "1")`` to pin the emulator to a core
        self.args = [*prefix, CLI, "emulator", "--port", "0", "--profiles", str(profiles),
                     "--latency-ms", str(latency_ms)]  # fmt: skip
        self.root = root  # the checkout whose emulator runs (another commit's for an A/B)
        for name, value in flags.items():
            if value is not None:
                self.args += [f"--{name.replace('_', '-')}", str(value)]
        self.env: dict[str, str] = {}
        self.process: subprocess.Popen[str] | None = None
        self.ready_seconds = 0.0

    def __enter__(self) -> EmulatorProcess:
        started = time.perf_counter()
        self.process = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            cwd=self.root, env=code_env(self.root),
        )  # fmt: skip
        assert self.process.stdout is not None
        for line in self.process.stdout:
            match = re.match(r"export (CI_\w+)=(.*)", line.strip())
            if match:
                self.env[match[1]] = match[2].strip("'")
            if line.startswith("export CI_CA_FILE"):
                break
        if "CI_BASE_URL" not in self.env:
            raise RuntimeError(f"the emulator did not start: {self.args}")
        self.ready_seconds = time.perf_counter() - started
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        """CPU time the emulator process has used so far (user + system)."""
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def rss_mb(self) -> float:
        return float(psutil.Process(self.pid).memory_info().rss / 2**20)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def code_env(root: Path) -> dict[str, str]:
    """This environment, importing ``ci_toolkit`` from the checkout at ``root``.

    ``PYTHONPATH`` comes before the venv's editable install of this checkout, so another
    commit's work tree (an A/B, ``bench_ab.py``) runs its own code with the same libraries.
    """
    env = dict(os.environ)
    if root != ROOT:
        env["PYTHONPATH"] = str(root)
    return env


def child(
    task: str,
    emulator: EmulatorProcess | None,
    *,
    root: Path = ROOT,
    prefix: Sequence[str] = (),
    **params: Any,
) -> dict[str, Any]:
    """The JSON result of ``tests.benchmarks._child <task>`` run in a fresh interpreter.

    ``root`` is the checkout whose code runs (this one, or another commit's for an A/B);
    ``prefix`` goes before the command (``("taskset", "-c", "0")`` pins it to a core).
    """
    env = code_env(root)
    if emulator is not None:
        env.update(emulator.env)
    cache = tempfile.mkdtemp(prefix="ci-bench-")
    env["XDG_CACHE_HOME"] = cache
    env["XDG_CONFIG_HOME"] = cache
    env.pop("CI_CLIENT_SECRET", None)
    done = subprocess.run(
        [*prefix, PYTHON, "-m", "tests.benchmarks._child", task, json.dumps(params)],
        capture_output=True, text=True, cwd=root, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{task} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
