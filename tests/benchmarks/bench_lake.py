"""Scenario: reading a data-out export, and ``ci.to_dask`` against ``ci.query``.

1. A ``CI_BENCH_ROWS``-row table (1,000,000 by default; strings, Int64, Float64, boolean,
   UTC datetimes, one text column with commas and quotes) is written as the emulator's
   data-out export writes it (CDM folder, headerless quoted CSV, 250,000 rows per file).
   Each reader runs in a fresh interpreter (peak RSS from ``VmHWM``), interleaved, median
   of ``CI_BENCH_REPEAT`` (3) runs:

   - floor: ``pyarrow.csv.read_csv`` of the same files with the same column types, then
     ``to_pandas`` with the same dtypes (what the toolkit cannot beat);
   - toolkit: ``ci_toolkit.lake.open_export(...).read(table)`` (target: within 1.3x of the
     floor);
   - by hand: ``pandas.read_csv`` with names and dtypes from ``model.json``, then
     ``to_datetime`` (what a user writes without the toolkit).

2. The same table with ``lake.to_dask(...)`` on a ``LocalCluster`` of 2 worker processes.
3. ``ci.to_dask(...).compute()`` on that cluster versus ``ci.query(...)`` for
   ``CI_BENCH_PULL_ROWS`` (1,000,000) ``Customer`` rows with 30 ms per request (reported:
   the point is correctness and the path to a cluster, not beating one process on 2 cores).

Run: ``./dev bench lake``; a smoke run: ``CI_BENCH_ROWS=20000 CI_BENCH_PULL_ROWS=2000
CI_BENCH_REPEAT=1 python -m tests.benchmarks lake``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.benchmarks._common import PYTHON, ROOT, EmulatorProcess, code_env, machine, median

TABLE = "Customer"
PARTITION_ROWS = 250_000


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def write_table(root: Path, rows: int) -> None:
    """The benchmark table as the emulator's data-out export writes it."""
    import numpy as np
    import pyarrow as pa

    from ci_toolkit.emulator.workflows.lake_export import ExportTable, LakeTarget, write_cdm_export

    rng = np.random.default_rng(15)
    start = datetime(2020, 1, 1)
    ids = np.char.add("c", np.arange(rows).astype(str))
    table = pa.table(
        {
            "CustomerId": pa.array(ids),
            "FullName": pa.array(np.char.add('Name, "', np.arange(rows).astype(str))),
            "Visits": pa.array(rng.integers(0, 500, rows)),
            "Spend": pa.array(rng.random(rows) * 1000),
            "EmailOptIn": pa.array(rng.random(rows) < 0.5),
            "CreatedOn": pa.array(
                [start + timedelta(seconds=int(s)) for s in rng.integers(0, 10**8, rows)],
                pa.timestamp("us"),
            ),
        }
    )
    types = {"CustomerId": "string", "FullName": "string", "Visits": "int64",
             "Spend": "double", "EmailOptIn": "boolean", "CreatedOn": "dateTime"}  # fmt: skip
    write_cdm_export(
        [ExportTable(TABLE, table, types)],
        target=LakeTarget(root=str(root), partition_rows=PARTITION_ROWS),
        instance_id="00000000-0000-0000-0000-000000000015",
        destination="DataLakeExport",
        moment=datetime.now(UTC),
    )


# -- the readers (each in a fresh interpreter) ----------------------------------------------


def _files(root: str) -> tuple[list[str], list[str], dict[str, str]]:
    from ci_toolkit.lake import open_export

    lake = open_export(root)
    entity = lake.model.entity(TABLE)
    files = lake.partitions(TABLE)["url"].tolist()
    return files, entity.names, {a.name: a.data_type for a in entity.attributes}


def read_toolkit(root: str) -> int:
    from ci_toolkit.lake import open_export

    return len(open_export(root).read(TABLE))


def read_floor(root: str) -> int:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    files, names, types = _files(root)
    arrow = {"int64": pa.int64(), "double": pa.float64(), "boolean": pa.bool_(),
             "dateTime": pa.timestamp("us", tz="UTC")}  # fmt: skip
    mapper = {pa.int64(): pd.Int64Dtype(), pa.float64(): pd.Float64Dtype(),
              pa.bool_(): pd.BooleanDtype(), pa.string(): pd.StringDtype()}  # fmt: skip
    tables = [
        pa_csv.read_csv(
            f,
            read_options=pa_csv.ReadOptions(column_names=names),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: arrow.get(t, pa.string()) for n, t in types.items()},
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
        for f in files
    ]
    frame = pa.concat_tables(tables).to_pandas(types_mapper=mapper.get)
    return len(frame)


def read_by_hand(root: str) -> int:
    import pandas as pd

    files, names, types = _files(root)
    dtypes = {"int64": "Int64", "double": "Float64", "boolean": "boolean"}
    frames = [
        pd.read_csv(
            f,
            names=names,
            header=None,
            dtype={n: dtypes.get(t, "string") for n, t in types.items()},
            keep_default_na=False,
            na_values=[""],
        )
        for f in files
    ]
    frame = pd.concat(frames, ignore_index=True)
    for name, kind in types.items():
        if kind == "dateTime":
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return len(frame)


def read_dask(root: str) -> int:
    from distributed import Client, LocalCluster

    from ci_toolkit.lake import open_export

    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        lake = open_export(root)
        started = time.perf_counter()
        rows = len(lake.to_dask(TABLE).compute())  # cold: workers import the toolkit
        cold = time.perf_counter() - started
        started = time.perf_counter()
        rows = len(lake.to_dask(TABLE).compute())
        figures = {"compute": time.perf_counter() - started, "cold": cold}
        print(json.dumps(figures), file=sys.stderr)
        return rows


def pull_query(rows: int) -> int:
    import ci_toolkit

    ci = ci_toolkit.connect(prompt=lambda *a: None)
    ci.attributes("Customer")  # sign-in and metadata: not part of the pull
    started = time.perf_counter()
    n = len(ci.query("Customer", progress=False))
    print(json.dumps({"compute": time.perf_counter() - started}), file=sys.stderr)
    return n


def pull_to_dask(rows: int) -> int:
    from distributed import Client, LocalCluster

    import ci_toolkit

    ci = ci_toolkit.connect(prompt=lambda *a: None)  # workers find this token in the cache
    ci.attributes("Customer")
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        started = time.perf_counter()
        ddf = ci.to_dask("Customer", partition_rows=max(rows // 8, 100))
        n = len(ddf.compute())  # cold: workers import the toolkit and sign in
        cold = time.perf_counter() - started
        started = time.perf_counter()
        n = len(ci.to_dask("Customer", partition_rows=max(rows // 8, 100)).compute())
        figures = {"compute": time.perf_counter() - started, "cold": cold}
        print(json.dumps(figures), file=sys.stderr)
        return n


READERS = {f.__name__: f for f in (read_toolkit, read_floor, read_by_hand, read_dask,
                                   pull_query, pull_to_dask)}  # fmt: skip


def run_child(task: str, arg: Any, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``task(arg)`` in a fresh interpreter: seconds, rows, peak RSS (MiB)."""
    environment = code_env(ROOT)
    environment.update(env or {})
    done = subprocess.run(
        [PYTHON, "-m", "tests.benchmarks.bench_lake", task, json.dumps(arg)],
        capture_output=True, text=True, cwd=ROOT, env=environment, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{task} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    for line in done.stderr.splitlines():
        if line.startswith('{"compute"'):
            result.update(json.loads(line))
    return result


def main() -> None:
    rows = int(os.environ.get("CI_BENCH_ROWS", "1000000"))
    pull_rows = int(os.environ.get("CI_BENCH_PULL_ROWS", "1000000"))
    repeat = int(os.environ.get("CI_BENCH_REPEAT", "3"))
    print(machine())
    with tempfile.TemporaryDirectory(prefix="ci-bench-lake-") as folder:
        root = Path(folder)
        started = time.perf_counter()
        write_table(root, rows)
        print(f"wrote {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        results: dict[str, list[dict[str, Any]]] = {}
        for _ in range(repeat):
            for task in ("read_floor", "read_toolkit", "read_by_hand"):
                results.setdefault(task, []).append(run_child(task, str(root)))
        for runs in results.values():
            assert all(r["rows"] == rows for r in runs), runs
        floor = median([r["seconds"] for r in results["read_floor"]])
        for task, runs in results.items():
            seconds = median([r["seconds"] for r in runs])
            peak = max(r["rss_mb"] for r in runs)
            print(f"{task}: {seconds:.2f} s ({seconds / floor:.2f}x the floor), "
                  f"peak RSS {peak:.0f} MiB", flush=True)  # fmt: skip
        ratio = median([r["seconds"] for r in results["read_toolkit"]]) / floor
        print(f"toolkit / floor: {ratio:.2f}x (target <= 1.3x)")
        dask = run_child("read_dask", str(root))
        print(f"read_dask (2 worker processes): compute {dask['compute']:.2f} s warm, "
              f"{dask['cold']:.2f} s the first time, {dask['rows']:,} rows "
              "(cluster start excluded)", flush=True)  # fmt: skip
    with (
        EmulatorProcess(profiles=pull_rows, latency_ms=30) as emu,
        tempfile.TemporaryDirectory(prefix="ci-bench-lake-cache-") as cache,
    ):
        env = {**emu.env, "XDG_CACHE_HOME": cache, "XDG_CONFIG_HOME": cache}
        env.pop("CI_CLIENT_SECRET", None)
        query = run_child("pull_query", pull_rows, env)
        dask_pull = run_child("pull_to_dask", pull_rows, env)
        print(f"query: {query['compute']:.1f} s for {query['rows']:,} rows; to_dask on 2 "
              f"workers: {dask_pull['compute']:.1f} s warm ({dask_pull['cold']:.1f} s the "
              f"first time, workers signing in) for {dask_pull['rows']:,} rows "
              f"({dask_pull['compute'] / query['compute']:.2f}x), 30 ms per request")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in READERS:
        reader = READERS[sys.argv[1]]
        argument = json.loads(sys.argv[2])
        import pandas  # imports are not part of the measurement
        import pyarrow.csv

        import ci_toolkit.lake

        del pandas, pyarrow, ci_toolkit
        t0 = time.perf_counter()
        n = reader(argument)
        print(json.dumps({"seconds": time.perf_counter() - t0, "rows": n, "rss_mb": _rss_mb()}))
    else:
        main()
