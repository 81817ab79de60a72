"""Dataverse bulk read: a million profiles at 30 ms per request, toolkit vs Microsoft's SDK.

- the toolkit: ``ci.dataverse.query("msdynci_customerprofile")`` (key ranges the service
  cut, 16 requests in flight at most);
- Microsoft's ``PowerPlatform-Dataverse-Client``: ``records.list_pages(...)`` following
  ``@odata.nextLink`` one page after another (500 rows a page), then
  ``pandas.DataFrame.from_records``;
- the limit: ``pages x latency / concurrency`` (pages of 500 rows, 16 in flight) plus the
  CPU time the emulator process spent serving the toolkit's read (sum form), or the larger
  of the two (max form), as in ``bench_bulk_pull.py`` and ``bench_matrix.py``; and the CPU
  bound: the emulator's and the toolkit's CPU time together over the machine's cores.

Rows are checked exact (count and uniqueness against the emulator's profiles), and the
toolkit's peak RSS is set against the DataFrame's own size. Every variant runs in a fresh
process against one emulator process.

Run: ``./dev bench dataverse`` (``CI_BENCH_ROWS`` to change the size, a million by
default; ``CI_BENCH_ROWS=20000`` for a smoke run).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit

from tests.benchmarks._common import PYTHON, ROOT, EmulatorProcess, code_env, machine

LATENCY_MS = 30
CONCURRENCY = 16
PAGE = 500
TABLE = "msdynci_customerprofile"


def _peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _toolkit(p: dict[str, Any]) -> dict[str, Any]:
    import ci_toolkit

    ci = ci_toolkit.connect(prompt=lambda *a: None, source="dataverse")
    ci.dataverse.columns(TABLE)  # sign-in and metadata: not part of the read
    before = _peak_rss_mb()
    cpu = time.process_time()
    started = time.perf_counter()
    frame = ci.dataverse.query(TABLE, max_concurrency=p["concurrency"], progress=False)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    ids = frame["msdynci_customerprofileid"]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rows": len(frame),
        "unique": bool(ids.is_unique),
        "frame_mb": frame.memory_usage(deep=True).sum() / 2**20,
        "peak_mb": _peak_rss_mb(),
        "before_mb": before,
    }


def _warm(p: dict[str, Any]) -> dict[str, Any]:
    """Sign in and read a few rows: the emulator builds its Dataverse table on first use."""
    import ci_toolkit

    ci = ci_toolkit.connect(prompt=lambda *a: None, source="dataverse")
    return {"rows": len(ci.dataverse.query(TABLE, top=5, progress=False))}


def _sdk(p: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd
    from azure.core.credentials import AccessToken
    from PowerPlatform.Dataverse.client import DataverseClient

    import ci_toolkit

    ci = ci_toolkit.connect(prompt=lambda *a: None, source="dataverse")
    url = ci.dataverse.url
    credential_ = ci.session.credential
    assert credential_ is not None
    token = credential_.token_source([f"{url}/user_impersonation"]).get_token()

    class _Token:  # the toolkit's Dataverse token, as an azure-core TokenCredential
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken(token, int(time.time()) + 3000)

    with DataverseClient(url, _Token()) as client:
        started = time.perf_counter()
        rows: list[dict[str, Any]] = []
        for page in client.records.list_pages(TABLE, page_size=PAGE):
            rows.extend(dict(record) for record in page)  # Record objects are mappings
        frame = pd.DataFrame.from_records(rows)
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": len(frame),
        "unique": bool(frame["msdynci_customerprofileid"].is_unique),
        "peak_mb": _peak_rss_mb(),
    }


def _run(task: str, emu: EmulatorProcess, **params: Any) -> dict[str, Any]:
    env = code_env(ROOT)
    env.update(emu.env)
    env["REQUESTS_CA_BUNDLE"] = emu.env["CI_CA_FILE"]
    origin = urlsplit(emu.env["CI_BASE_URL"])  # the emulator serves its org on its origin
    env["CI_DATAVERSE_URL"] = f"{origin.scheme}://{origin.netloc}"
    cache = tempfile.mkdtemp(prefix="ci-bench-")
    env["XDG_CACHE_HOME"] = env["XDG_CONFIG_HOME"] = cache
    done = subprocess.run(
        [PYTHON, "-m", "tests.benchmarks.bench_dataverse", task, json.dumps(params)],
        capture_output=True, text=True, cwd=ROOT, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{task} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    rows = int(os.environ.get("CI_BENCH_ROWS", "1000000"))
    print(machine())
    with EmulatorProcess(profiles=rows, latency_ms=LATENCY_MS) as emu:
        print(f"emulator: {rows:,} profiles, {LATENCY_MS} ms latency, ready in "
              f"{emu.ready_seconds:.1f} s")  # fmt: skip
        # A few rows first, not a whole read: Dataverse allows a user 6,000 requests per
        # 300 s, and the two measured reads (about 2,000 pages each at a million rows) must
        # both fit in one window, as they would for one user on the real service.
        _run("_warm", emu)
        cpu = emu.cpu_seconds()
        toolkit = _run("_toolkit", emu, concurrency=CONCURRENCY)
        serving = emu.cpu_seconds() - cpu
        print("toolkit", toolkit, flush=True)
        sdk = _run("_sdk", emu)
        print("sdk", sdk, flush=True)
    pages = math.ceil(rows / PAGE)
    latency_part = pages * LATENCY_MS / 1000 / CONCURRENCY
    limit = latency_part + serving
    cores = os.cpu_count() or 1
    cpu_bound = (serving + toolkit["cpu_seconds"]) / cores
    exact = all(r["rows"] == rows and r["unique"] for r in (toolkit, sdk))
    print()
    print("| variant | s | rows/s | peak RSS MiB |")
    print("|---|---|---|---|")
    for name, r in (("toolkit", toolkit), ("Microsoft SDK, list_pages", sdk)):
        rate = rows / r["seconds"]
        print(f"| {name} | {r['seconds']:.1f} | {rate:,.0f} | {r['peak_mb']:.0f} |")
    print(f"limit = {pages:,} pages x {LATENCY_MS} ms / {CONCURRENCY} + emulator serving "
          f"{serving:.1f} s = {limit:.1f} s; "
          f"toolkit / limit = {toolkit['seconds'] / limit:.2f} (target <= 1.5)")  # fmt: skip
    print(f"max form: max({latency_part:.2f} s, serving {serving:.1f} s) = "
          f"{max(latency_part, serving):.1f} s; toolkit / limit = "
          f"{toolkit['seconds'] / max(latency_part, serving):.2f}")  # fmt: skip
    print(f"CPU: emulator {serving:.1f} s + toolkit {toolkit['cpu_seconds']:.1f} s on {cores} "
          f"cores = {cpu_bound:.1f} s at the least; toolkit / that = "
          f"{toolkit['seconds'] / cpu_bound:.2f}")  # fmt: skip
    print(f"toolkit vs SDK: {sdk['seconds'] / toolkit['seconds']:.1f}x faster")
    growth = toolkit["peak_mb"] - toolkit["before_mb"]
    frame_mb = toolkit["frame_mb"]
    ratio = growth / max(frame_mb, 1)
    print(f"toolkit peak RSS growth {growth:.0f} MiB vs the DataFrame's {frame_mb:.0f} MiB "
          f"({ratio:.1f}x)")  # fmt: skip
    print(f"rows exact and unique in both: {exact}")


if __name__ == "__main__":
    task, params = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()[task](params)), flush=True)
