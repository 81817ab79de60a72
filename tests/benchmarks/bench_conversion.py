"""Scenario 4: JSON pages to a typed DataFrame versus ``orjson.loads`` + ``from_records``.

The same pages (fetched once from an emulator process) are turned into a DataFrame three
ways, interleaved, medians of several repetitions in one process:

- baseline: ``orjson.loads`` every page, then ``pandas.DataFrame.from_records`` (untyped:
  object columns, text dates);
- toolkit: ``orjson.loads`` + :func:`ci_toolkit.bulk.accumulator.page_columns` per page and
  :class:`~ci_toolkit.bulk.accumulator.ColumnAccumulator` (typed: string, Int64, boolean,
  UTC datetimes), as a bulk pull does;
- per page: ``frames.entity_frame`` on every page then ``concat`` (the sequential path).

Target: toolkit within 1.5x of the baseline (wall time, median of ``CI_BENCH_REPEAT``, 7 by
default); the process's CPU time is printed too, as the figure least disturbed by other
load on a shared machine. Run: ``./dev bench conversion``.
"""

from __future__ import annotations

import os

from tests.benchmarks._common import EmulatorProcess, child, machine


def main() -> None:
    pages = int(os.environ.get("CI_BENCH_PAGES", "200"))
    repeat = int(os.environ.get("CI_BENCH_REPEAT", "7"))
    print(machine())
    with EmulatorProcess(profiles=max(pages * 100, 2000)) as emu:
        token = child("token", emu)["token"]
        for entity in ("Customer", "UnifiedActivity"):
            r = child("convert", emu, token=token, entity=entity, pages=pages, repeat=repeat)
            print(entity, r, flush=True)
            print(f"{entity}: {r['rows']:,} rows; baseline {r['baseline'] * 1000:.0f} ms, "
                  f"toolkit {r['toolkit'] * 1000:.0f} ms ({r['toolkit'] / r['baseline']:.2f}x, "
                  f"target <= 1.5x), per page {r['per_page'] * 1000:.0f} ms "
                  f"({r['per_page'] / r['baseline']:.2f}x)")  # fmt: skip
            print(f"{entity} CPU time: baseline {r['baseline_cpu'] * 1000:.0f} ms, toolkit "
                  f"{r['toolkit_cpu'] * 1000:.0f} ms "
                  f"({r['toolkit_cpu'] / r['baseline_cpu']:.2f}x)")  # fmt: skip
