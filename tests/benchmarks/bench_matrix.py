"""The bulk-pull matrix (issue 13): every demo entity x latency x filtered or not.

Each cell is a pull as a user writes it, ``ci.query(entity, filter=..., count=True)``,
against an emulator in its own process (one per latency). A cell's **limit** is what the
latency and the emulator's serving allow any client reading the same rows through the same
API with the same ceiling of ``C`` requests in flight:

- latency part: ``L x (1 + ceil((pages - 1) / C))``, where ``pages = ceil(rows / 100)``
  (the service's page size): one round trip to learn how many rows there are (its answer
  can carry the first page), then the other pages ``C`` at a time;
- serving part: ``S``, the CPU time the emulator process spent during the pull (its Python
  work holds one interpreter lock and shares the machine's 2 cores with the client);
- limit = latency part + ``S`` (sum form), or ``max(latency part, S)`` (max form).

A cell meets the target when its median time is within 1.5x of its limit. Filtered cells
filter on a non-key column (10-30% of the rows); the service refuses ``$filter`` on
ingested source tables, so those have no filtered cell. Every pull is checked exact
(rows == ``$count``, keys unique and in key order).

Run: ``./dev bench matrix``. Environment: ``CI_BENCH_PROFILES`` (default 10,000 profiles:
``Customer`` rows; ``UnifiedActivity`` holds about 10 per profile), ``CI_BENCH_REPEAT``
(rounds, default 3; cells interleaved, the order rotated each round),
``CI_BENCH_LATENCIES`` (default ``10,30,100`` ms), ``CI_BENCH_ENTITIES`` (comma-separated
names; default every entity of ``ci.entities()``), ``CI_BENCH_PIN=1`` (emulator on core 1,
the pulling process on core 0), ``CI_BENCH_BASE=<commit>`` (an A/B: every round pulls each
cell with that commit's ``ci_toolkit`` too, alternating which goes first, against the same
emulator; per-cell medians of both are printed).
"""

from __future__ import annotations

import math
import os
from contextlib import ExitStack
from typing import Any

from tests.benchmarks._common import EmulatorProcess, child, machine, median
from tests.benchmarks.bench_ab import _worktree

CEILING = 10
PAGE = 100

#: The filter of each kind of entity: a non-key column selecting 10-30% of the demo rows.
FILTERS = {
    "Customer": "Country eq 'Ireland'",  # about 15%
    "UnifiedActivity": "ActivityType eq 'Purchase'",  # about 30%
    "Customer_Measure": "TotalSpend gt 250",  # about 25%
    "segment": "Country eq 'Ireland'",  # segment tables hold profile columns: about 15%
}


def cells_of(entities: list[dict[str, str]], names: set[str] | None) -> list[list[Any]]:
    """``[entity, filter]`` for each entity, unfiltered and (when it can be) filtered."""
    cells: list[list[Any]] = []
    for e in entities:
        if names is not None and e["name"] not in names:
            continue
        cells.append([e["name"], None])
        where = FILTERS.get(e["name"]) or FILTERS.get(e["type"])
        if where is not None and e["flow"] != "powerQuery":
            cells.append([e["name"], where])
    return cells


def limit_of(rows: int, latency_s: float, serving_s: float) -> tuple[float, float, float]:
    """(latency part, sum-form limit, max-form limit) of a pull of ``rows`` rows."""
    pages = max(1, math.ceil(rows / PAGE))
    latency = latency_s * (1 + math.ceil((pages - 1) / CEILING))
    return latency, latency + serving_s, max(latency, serving_s)


def main() -> None:
    profiles = int(os.environ.get("CI_BENCH_PROFILES", "10000"))
    repeat = int(os.environ.get("CI_BENCH_REPEAT", "3"))
    latencies = [float(x) for x in os.environ.get("CI_BENCH_LATENCIES", "10,30,100").split(",")]
    chosen = os.environ.get("CI_BENCH_ENTITIES")
    names = {n.strip() for n in chosen.split(",")} if chosen else None
    pin = os.environ.get("CI_BENCH_PIN") == "1"
    emu_prefix = ("taskset", "-c", "1") if pin else ()
    child_prefix = ("taskset", "-c", "0") if pin else ()
    base = os.environ.get("CI_BENCH_BASE")
    print(machine())
    print(f"profiles: {profiles:,}; rounds: {repeat}; ceiling: {CEILING}; pinned: {pin}")
    if base:
        with ExitStack() as stack:
            _ab(str(_worktree(stack, base)), base, profiles, repeat, latencies, names)
        return
    rows_out: list[dict[str, Any]] = []
    for latency_ms in latencies:
        with EmulatorProcess(profiles=profiles, latency_ms=latency_ms, prefix=emu_prefix) as emu:
            print(f"emulator: {latency_ms:g} ms latency, ready in {emu.ready_seconds:.1f} s",
                  flush=True)  # fmt: skip
            entities = child("entity_list", emu, prefix=child_prefix)["entities"]
            cells = cells_of(entities, names)
            runs: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
            trips: list[float] = []
            for number in range(repeat):
                shift = (number * len(cells)) // max(repeat, 1)
                order = cells[shift:] + cells[:shift]  # interleaved: a new order each round
                result = child("matrix", emu, prefix=child_prefix, cells=order,
                               emulator_pid=emu.pid, max_concurrency=CEILING)  # fmt: skip
                for cell in result["cells"]:
                    runs.setdefault((cell["entity"], cell["filter"]), []).append(cell)
                trips.append(result["round_trip"])
                print(f"  round {number + 1}/{repeat} done", flush=True)
            print(f"  one 100-row page, one request after another: {median(trips) * 1000:.1f} ms "
                  f"at {latency_ms:g} ms latency", flush=True)  # fmt: skip
            for entity, where in cells:
                rs = runs[(entity, where)]
                seconds = median([r["seconds"] for r in rs])
                serving = median([r["emulator_cpu"] for r in rs])
                rows = rs[0]["rows"]
                part, limit_sum, limit_max = limit_of(rows, latency_ms / 1000, serving)
                row = {
                    "entity": entity, "filter": where, "latency_ms": latency_ms, "rows": rows,
                    "mode": rs[0]["mode"], "requests": median([r["requests"] for r in rs]),
                    "peak": max(r["peak_in_flight"] for r in rs), "seconds": seconds,
                    "partitions": rs[0].get("partitions"),
                    "final_limit": min(r.get("final_limit", CEILING) for r in rs),
                    "runs": [round(r["seconds"], 3) for r in rs], "serving": serving,
                    "latency_part": part, "limit": limit_sum, "limit_max": limit_max,
                    "ratio": seconds / limit_sum, "ratio_max": seconds / limit_max,
                    "cpu_per_1k": median([r["cpu_seconds"] for r in rs]) / max(rows, 1) * 1e6,
                    "exact": all(r["rows"] == r["count"] and r["unique"] and r["ordered"]
                                 for r in rs),
                }  # fmt: skip
                rows_out.append(row)
                print(row, flush=True)
    print()
    print("| entity | filter | ms | rows | mode | requests | peak in flight | median s "
          "| limit s (latency + serving) | ratio | ratio (max form) | client CPU ms / 1k rows "
          "| exact |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows_out:
        print(
            f"| {r['entity']} | {'`' + r['filter'] + '`' if r['filter'] else '-'} "
            f"| {r['latency_ms']:g} | {r['rows']:,} | {r['mode']} | {r['requests']:.0f} "
            f"| {r['peak']} | {r['seconds']:.3f} "
            f"| {r['limit']:.3f} ({r['latency_part']:.3f} + {r['serving']:.3f}) "
            f"| **{r['ratio']:.2f}** | {r['ratio_max']:.2f} | {r['cpu_per_1k']:.1f} "
            f"| {'yes' if r['exact'] else 'NO'} |"
        )
    over = [r for r in rows_out if r["ratio"] > 1.5]
    print(f"cells: {len(rows_out)}; over 1.5x the limit: {len(over)}"
          f"{'' if not over else ' (' + ', '.join(_name(r) for r in over) + ')'}")  # fmt: skip
    print(f"worst ratio: {max(r['ratio'] for r in rows_out):.2f}; every pull exact: "
          f"{all(r['exact'] for r in rows_out)}")  # fmt: skip


def _name(r: dict[str, Any]) -> str:
    return f"{r['entity']}{' filtered' if r['filter'] else ''} at {r['latency_ms']:g} ms"


def _ab(
    code: str,
    base: str,
    profiles: int,
    repeat: int,
    latencies: list[float],
    names: set[str] | None,
) -> None:
    """Each cell pulled by ``base``'s code and this checkout's, alternating, one emulator."""
    print(f"A/B: {base} ({code}) against this checkout")
    print("| entity | filter | ms | rows | base median s | this median s | this / base |")
    print("|---|---|---|---|---|---|---|")
    for latency_ms in latencies:
        with EmulatorProcess(profiles=profiles, latency_ms=latency_ms) as emu:
            cells = cells_of(child("entity_list", emu)["entities"], names)
            runs: dict[tuple[str, str, str | None], list[dict[str, Any]]] = {}
            for number in range(repeat):
                shift = (number * len(cells)) // max(repeat, 1)
                order = cells[shift:] + cells[:shift]
                sides = [("base", code), ("this", "")]
                for side, root in sides if number % 2 == 0 else sides[::-1]:
                    result = child("matrix", emu, cells=order, emulator_pid=emu.pid,
                                   max_concurrency=CEILING, code=root)  # fmt: skip
                    for cell in result["cells"]:
                        runs.setdefault((side, cell["entity"], cell["filter"]), []).append(cell)
            for entity, where in cells:
                a = median([r["seconds"] for r in runs[("base", entity, where)]])
                b = median([r["seconds"] for r in runs[("this", entity, where)]])
                rows = runs[("this", entity, where)][0]["rows"]
                print(f"| {entity} | {'`' + where + '`' if where else '-'} | {latency_ms:g} "
                      f"| {rows:,} | {a:.3f} | {b:.3f} | {b / a:.2f} |", flush=True)  # fmt: skip
