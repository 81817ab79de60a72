"""Scenario 2: the 100,000-row ``Customer`` pull under a rate limit of 20 requests/s.

The emulator process runs with ``--rate-limit 20`` (a token bucket per subscription key,
429 with ``Retry-After`` when empty) and 30 ms latency. Reported: successful requests per
second over the pull (target >= 90% of the 20 allowed), 429s received, and whether the
result is exact (rows == ``$count``, unique keys, key order). Each run in a fresh process.

Run: ``./dev bench rate_limit`` (``CI_BENCH_ROWS``, ``CI_BENCH_REPEAT``).
"""

from __future__ import annotations

import os

from tests.benchmarks._common import EmulatorProcess, child, machine, median

RATE = 20.0


def main() -> None:
    rows = int(os.environ.get("CI_BENCH_ROWS", "100000"))
    repeat = int(os.environ.get("CI_BENCH_REPEAT", "2"))
    print(machine())
    with EmulatorProcess(profiles=rows, latency_ms=30, rate_limit=RATE) as emu:
        print(f"emulator: {rows:,} profiles, 30 ms latency, rate limit {RATE:g}/s")
        results = []
        for _ in range(repeat):
            result = child("toolkit", emu, max_concurrency=10)
            # the whole pull (count, boundaries, pages) against the allowed rate
            ok = result["requests"] - result["throttled"] - result["errors"]
            result["rate"] = ok / result["seconds"]
            results.append(result)
            print(result, flush=True)
    rate = median([r["rate"] for r in results])
    exact = all(r["rows"] == r["count"] == rows and r["unique"] and r["ordered"] for r in results)
    print()
    print(f"sustained {rate:.1f} requests/s of {RATE:g} allowed = {rate / RATE:.0%} "
          "(target >= 90%)")  # fmt: skip
    print(f"429s per run: {[r['throttled'] for r in results]}; failed pulls: 0; "
          f"exact in every run: {exact}")  # fmt: skip
