"""Scenario 6: the emulator serving a filtered 100-row page from 1,000,000 profiles.

The emulator runs as its own process (``ci-toolkit emulator --profiles 1000000``, no added
latency); a client process times each query (median of several requests, after one warm-up)
over real HTTPS. Target: median under 50 ms. (``bench_emulator_page`` measures the same
queries with the emulator inside the measuring process.)

Run: ``./dev bench emulator_filtered`` (``CI_BENCH_PROFILES``).
"""

from __future__ import annotations

import os
import time

from tests.benchmarks._common import EmulatorProcess, child, machine, median

QUERIES = [
    ("Country eq", "Customer", {"$filter": "Country eq 'Ireland'"}),
    ("in + bool", "Customer",
     {"$filter": "LoyaltyTier in ('Gold','Platinum') and EmailOptIn eq true"}),
    ("segment member", "Customer", {"$filter": "IsMemberOfSegment('HighValueCustomers')"}),
    ("startswith + select", "Customer",
     {"$filter": "startswith(LastName, 'O''')", "$select": "CustomerId,FullName"}),
    ("key range (bulk)", "Customer",
     {"$filter": "CustomerId ge '8' and CustomerId lt '9'"}),
    ("activity filter", "UnifiedActivity",
     {"$filter": "ActivityType eq 'Purchase' and Amount gt 100"}),
]  # fmt: skip


def main() -> None:
    profiles = int(os.environ.get("CI_BENCH_PROFILES", "1000000"))
    print(machine())
    started = time.perf_counter()
    with EmulatorProcess(profiles=profiles) as emu:
        print(f"emulator: {profiles:,} profiles ready in {time.perf_counter() - started:.1f} s")
        token = child("token", emu)["token"]
        result = child("page_latency", emu, token=token, queries=QUERIES, repeat=15)
    for name, figures in result.items():
        print(f"{name}: median {figures['median_ms']:.1f} ms ({figures['rows']} rows)")
    overall = median([f["median_ms"] for f in result.values()])
    print(f"median over the filtered queries: {overall:.1f} ms (target < 50 ms)")
