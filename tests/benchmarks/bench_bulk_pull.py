"""Scenario 1: 100,000 ``Customer`` rows at 30 ms per request, three ways in one run.

- the toolkit: ``ci.query("Customer")`` (parallel key ranges, concurrency ceiling 10);
- the official client ``customerinsights==1.0.8`` paging sequentially (``$skiptoken`` read
  from each raw response, since its ``ODataEntityPayload`` has no nextLink) plus
  ``pandas.json_normalize``;
- a plain sequential httpx loop following ``@odata.nextLink`` plus ``DataFrame.from_records``.

The latency-bound limit is ``requests x latency / concurrency + emulator serving cost``,
where the serving cost is the CPU time the emulator process spent during the toolkit's
pull (its Python work is serialized by one interpreter lock). A transfer-only run (same
plan, pages fetched and decoded, no DataFrame) is printed too. Every variant runs in a
fresh process against one emulator process; runs are interleaved, medians reported.

Run: ``./dev bench bulk_pull`` (``CI_BENCH_ROWS``, ``CI_BENCH_REPEAT`` to change the size).
"""

from __future__ import annotations

import os
from typing import Any

from tests.benchmarks._common import EmulatorProcess, child, machine, median

LATENCY_MS = 30
CEILING = 10


def main() -> None:
    rows = int(os.environ.get("CI_BENCH_ROWS", "100000"))
    repeat = int(os.environ.get("CI_BENCH_REPEAT", "3"))
    print(machine())
    with EmulatorProcess(profiles=rows, latency_ms=LATENCY_MS) as emu:
        print(f"emulator: {rows:,} profiles, {LATENCY_MS} ms latency, ready in "
              f"{emu.ready_seconds:.1f} s")  # fmt: skip
        token = child("token", emu)["token"]
        runs: dict[str, list[dict[str, Any]]] = {
            "toolkit": [], "official": [], "httpx": [], "transfer": []
        }  # fmt: skip
        for number in range(repeat):
            cpu = emu.cpu_seconds()
            result = child("toolkit", emu, max_concurrency=CEILING)
            result["emulator_cpu"] = emu.cpu_seconds() - cpu
            runs["toolkit"].append(result)
            print("toolkit", result, flush=True)
            result = child("transfer", emu, max_concurrency=CEILING)
            runs["transfer"].append(result)
            print("transfer", result, flush=True)
            if number < max(1, repeat - 1):  # the slow baselines: one run fewer
                result = child("official", emu, token=token)
                runs["official"].append(result)
                print("official", result, flush=True)
                result = child("httpx_seq", emu, token=token)
                runs["httpx"].append(result)
                print("httpx", result, flush=True)
    tk = median([r["seconds"] for r in runs["toolkit"]])
    off = median([r["seconds"] for r in runs["official"]])
    seq = median([r["seconds"] for r in runs["httpx"]])
    moved = median([r["seconds"] for r in runs["transfer"]])
    requests = median([r["requests"] for r in runs["toolkit"]])
    serving = median([r["emulator_cpu"] for r in runs["toolkit"]])
    limit = requests * LATENCY_MS / 1000 / CEILING + serving
    exact = all(r["rows"] == r["count"] == rows and r["unique"] and r["ordered"]
                for r in runs["toolkit"])  # fmt: skip
    print()
    print("| variant | median s | rows/s |")
    print("|---|---|---|")
    for name, value in (("toolkit", tk), ("official + json_normalize", off),
                        ("httpx sequential", seq), ("transfer only", moved)):  # fmt: skip
        print(f"| {name} | {value:.1f} | {rows / value:,.0f} |")
    print(f"toolkit vs official: {off / tk:.1f}x faster (target >= 10x)")
    print(f"toolkit vs httpx sequential: {seq / tk:.1f}x faster")
    print(f"limit = {requests:.0f} requests x {LATENCY_MS} ms / {CEILING} + serving "
          f"{serving:.1f} s = {limit:.1f} s; toolkit / limit = {tk / limit:.2f} "
          "(target <= 1.5)")  # fmt: skip
    print(f"toolkit / transfer-only = {tk / moved:.2f}")
    client_cpu = median([r["cpu_seconds"] for r in runs["toolkit"]])
    print(f"CPU during the toolkit pull: toolkit process {client_cpu:.1f} s, emulator "
          f"{serving:.1f} s ({serving / requests * 1000:.2f} ms per request)")  # fmt: skip
    print(f"exactly once (rows == $count, unique, key order) in every run: {exact}")
