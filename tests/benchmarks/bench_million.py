"""Scenario 3: 1,000,000 ``Customer`` rows: throughput and peak RSS versus the DataFrame.

One emulator process with 1,000,000 profiles (30 ms latency); the pull runs in a fresh
process whose peak RSS (``ru_maxrss``, the whole process including the interpreter and
libraries) is compared with ``DataFrame.memory_usage(deep=True).sum()`` of the result
(target <= 2.5x). ``to_parquet`` of the same pull, in its own fresh process, is measured too.

Run: ``./dev bench million`` (``CI_BENCH_ROWS`` to change the size).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from tests.benchmarks._common import EmulatorProcess, child, machine


def main() -> None:
    rows = int(os.environ.get("CI_BENCH_ROWS", "1000000"))
    print(machine())
    started = time.perf_counter()
    with EmulatorProcess(profiles=rows, latency_ms=30) as emu:
        print(f"emulator: {rows:,} profiles ready in {time.perf_counter() - started:.1f} s "
              f"(RSS {emu.rss_mb():,.0f} MiB)")  # fmt: skip
        cpu = emu.cpu_seconds()
        pulled = child("toolkit", emu, max_concurrency=10)
        pulled["emulator_cpu"] = emu.cpu_seconds() - cpu
        print("query", pulled, flush=True)
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "customers.parquet"
            written = child("toolkit", emu, max_concurrency=10, parquet=str(target))
            written["file_mb"] = target.stat().st_size / 2**20
            print("to_parquet", written, flush=True)
    print()
    print(f"query: {pulled['rows']:,} rows in {pulled['seconds']:.1f} s = "
          f"{pulled['rows'] / pulled['seconds']:,.0f} rows/s; emulator CPU "
          f"{pulled['emulator_cpu']:.1f} s for {pulled['requests']:,} requests")  # fmt: skip
    print(f"peak RSS {pulled['rss_mb']:,.0f} MiB (before the pull {pulled['rss_before_mb']:,.0f}"
          f" MiB); DataFrame {pulled['df_mb']:,.0f} MiB; ratio "
          f"{pulled['rss_mb'] / pulled['df_mb']:.2f} (target <= 2.5); growth / DataFrame "
          f"{(pulled['rss_mb'] - pulled['rss_before_mb']) / pulled['df_mb']:.2f}")  # fmt: skip
    print(f"exact: rows == $count == {rows:,}: {pulled['rows'] == pulled['count'] == rows}, "
          f"unique {pulled['unique']}, key order {pulled['ordered']}")  # fmt: skip
    print(f"to_parquet: {written['rows']:,} rows in {written['seconds']:.1f} s, "
          f"{written['row_groups']} row groups, peak RSS {written['rss_mb']:,.0f} MiB "
          f"(before {written['rss_before_mb']:,.0f} MiB)")  # fmt: skip
