"""One measured task in a fresh interpreter: ``python -m tests.benchmarks._child TASK JSON``.

Prints one JSON line with the figures. The emulator's settings come from ``CI_*`` variables.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any


def _rss_mb() -> float:
    """This process's peak RSS in MiB: ``VmHWM``, which starts afresh at ``exec``.

    ``ru_maxrss`` survives ``exec``: a child of a large process (``./dev bench`` after
    ``emulator_page`` has built a million profiles in-process) reports its parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _api(token: str) -> tuple[str, dict[str, str]]:
    base = os.environ["CI_BASE_URL"].rstrip("/")
    headers = {
        "Authorization": f"Bearer {token}",
        "Ocp-Apim-Subscription-Key": os.environ["CI_SUBSCRIPTION_KEY"],
    }
    return f"{base}/instances/{os.environ['CI_INSTANCE_ID']}/data", headers


def token(p: dict[str, Any]) -> dict[str, Any]:
    import ci_toolkit

    ci = ci_toolkit.connect(prompt=lambda *a: None)
    credential = ci.session.credential
    assert credential is not None
    return {"token": credential.get_token()}


def toolkit(p: dict[str, Any]) -> dict[str, Any]:
    import ci_toolkit

    ci = ci_toolkit.connect(prompt=lambda *a: None)
    entity = p.get("entity", "Customer")
    ci.attributes(entity)  # sign in and metadata: not part of the pull
    stats: dict[str, Any] = {}
    original = type(ci)._bulk

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        bulk = original(self, *args, **kwargs)
        if bulk is not None:
            stats["pull"] = bulk.pull
        return bulk

    type(ci)._bulk = spy  # type: ignore[method-assign]
    before = _rss_mb()
    cpu_started = time.process_time()  # this process, all threads: decode, typing, httpx, TLS
    started = time.perf_counter()
    if p.get("parquet"):
        rows = ci.to_parquet(p["parquet"], entity, progress=False,
                             max_concurrency=p.get("max_concurrency"))  # fmt: skip
        seconds = time.perf_counter() - started
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(p["parquet"]).metadata
        return {"seconds": seconds, "rows": rows, "row_groups": meta.num_row_groups,
                "rss_mb": _rss_mb(), "rss_before_mb": before}  # fmt: skip
    df = ci.query(
        entity,
        count=True,
        progress=False,
        parallel=p.get("parallel", True),
        max_concurrency=p.get("max_concurrency"),
        top=p.get("top"),
    )
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    peak = _rss_mb()  # before the checks below: is_unique hashes every key as a Python str
    key = "CustomerId" if entity == "Customer" else "ActivityId"
    pull = stats.get("pull")
    out = {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rows": len(df),
        "count": df.attrs["odata"]["count"],
        "rss_mb": peak,
        "rss_before_mb": before,
        "df_mb": float(df.memory_usage(deep=True).sum() / 2**20),
        "unique": bool(df[key].is_unique),
        "ordered": bool(df[key].is_monotonic_increasing),
        "rss_after_checks_mb": _rss_mb(),
    }
    if pull is not None:
        s = pull.stats
        out.update(requests=s.requests, throttled=s.throttled, errors=s.transport_errors,
                   refetched=s.refetched_partitions, partitions=s.partitions,
                   peak_concurrency=s.peak_concurrency, pull_seconds=s.seconds)  # fmt: skip
    return out


def httpx_seq(p: dict[str, Any]) -> dict[str, Any]:
    import httpx
    import pandas as pd

    root, headers = _api(p["token"])
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    requests = 0
    with httpx.Client(verify=os.environ["CI_CA_FILE"], headers=headers, timeout=60) as client:
        url: str | None = f"{root}/Customer"
        while url:
            body = client.get(url).json()
            requests += 1
            rows.extend(body["value"])
            url = body.get("@odata.nextLink")
    df = pd.DataFrame.from_records(rows)
    return {"seconds": time.perf_counter() - started, "rows": len(df), "requests": requests,
            "unique": bool(df["CustomerId"].is_unique), "rss_mb": _rss_mb()}  # fmt: skip


def official(p: dict[str, Any]) -> dict[str, Any]:
    from urllib.parse import parse_qs, urlsplit

    import pandas as pd
    from dynamics.customerinsights.api import CustomerInsights

    ca = os.environ["CI_CA_FILE"]
    os.environ["REQUESTS_CA_BUNDLE"] = ca  # requests takes its CA bundle from here
    os.environ["SSL_CERT_FILE"] = ca
    _, headers = _api(p["token"])
    client = CustomerInsights(base_url=os.environ["CI_BASE_URL"])
    client.config.connection.verify = ca
    instance = os.environ["CI_INSTANCE_ID"]
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    token: str | None = None
    requests = 0
    while True:
        # ODataEntityPayload has no nextLink attribute: read it from the raw response and
        # continue with its $skiptoken (cheap keyset paging, like the nextLink itself).
        raw = client.get_entities_with_odata_path(
            instance, "Customer", skiptoken=token, custom_headers=headers, raw=True
        )
        requests += 1
        rows.extend(raw.output.value)
        link = raw.response.json().get("@odata.nextLink")
        if not link:
            break
        token = parse_qs(urlsplit(link).query)["$skiptoken"][0]
    df = pd.json_normalize(rows)
    return {"seconds": time.perf_counter() - started, "rows": len(df), "requests": requests,
            "unique": bool(df["CustomerId"].is_unique), "rss_mb": _rss_mb()}  # fmt: skip


def transfer(p: dict[str, Any]) -> dict[str, Any]:
    """The same key-range plan, pages only fetched and decoded: no DataFrame work."""
    from concurrent.futures import ThreadPoolExecutor

    import orjson

    import ci_toolkit
    from ci_toolkit.bulk.planner import partition_filter
    from ci_toolkit.bulk.runner import BulkPull

    ci = ci_toolkit.connect(prompt=lambda *a: None)
    types = ci._column_types("Customer")
    client = ci.session.client
    path = ci._path("data/Customer")
    started = time.perf_counter()
    pull = BulkPull(ci.session, path, key="CustomerId", columns=list(types), types=types,
                    max_concurrency=p["max_concurrency"])  # fmt: skip
    pull.plan()
    assert pull._partitions is not None

    def run(part: Any) -> tuple[int, int]:
        url: str | None = path
        params: dict[str, Any] | None = {}
        text = partition_filter(None, "CustomerId", part)
        if text:
            params = {"$filter": text}
        rows = requests = 0
        while url:
            body = orjson.loads(client.get(url, params=params).content)
            requests += 1
            rows += len(body["value"])
            url, params = body.get("@odata.nextLink"), None
        return rows, requests

    with ThreadPoolExecutor(p["max_concurrency"]) as pool:
        results = list(pool.map(run, pull._partitions))
    return {"seconds": time.perf_counter() - started, "rows": sum(r for r, _ in results),
            "requests": sum(q for _, q in results) + pull.stats.requests}  # fmt: skip


def convert(p: dict[str, Any]) -> dict[str, Any]:
    """Scenario 4: the same JSON pages to a DataFrame, toolkit versus orjson+from_records."""
    import statistics

    import httpx
    import orjson
    import pandas as pd

    from ci_toolkit import frames
    from ci_toolkit.bulk.accumulator import ColumnAccumulator

    root, headers = _api(p["token"])
    with httpx.Client(verify=os.environ["CI_CA_FILE"], headers=headers, timeout=60) as client:
        meta = client.get(f"{root.rsplit('/data', 1)[0]}/manage/entities/{p['entity']}").json()
        types = {a["name"]: a["dataType"] for a in meta["attributes"]}
        pages: list[bytes] = []
        url: str | None = f"{root}/{p['entity']}"
        while url and len(pages) < p["pages"]:
            response = client.get(url)
            pages.append(response.content)
            url = response.json().get("@odata.nextLink")
    columns = list(types)

    def baseline() -> pd.DataFrame:
        rows = [r for page in pages for r in orjson.loads(page)["value"]]
        return pd.DataFrame.from_records(rows)

    def toolkit() -> pd.DataFrame:
        acc = ColumnAccumulator(key=columns[0], types=types, columns=columns)
        for page in pages:
            acc.add(orjson.loads(page)["value"])
        return acc.finish()

    def per_page() -> pd.DataFrame:
        parts = [frames.entity_frame(orjson.loads(page)["value"], types) for page in pages]
        return pd.concat(parts, ignore_index=True)

    # Wall time (the figure of record) and this process's CPU time, which other sessions'
    # load on the shared machine disturbs much less (all three variants run in one thread).
    times: dict[str, list[float]] = {"baseline": [], "toolkit": [], "per_page": []}
    cpu: dict[str, list[float]] = {name: [] for name in times}
    for _ in range(p["repeat"]):  # interleaved A/B/C
        for name, fn in (("baseline", baseline), ("toolkit", toolkit), ("per_page", per_page)):
            started, cpu_started = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
    typed = toolkit()
    return {
        "pages": len(pages),
        "rows": len(typed),
        **{name: statistics.median(v) for name, v in times.items()},
        **{f"{name}_cpu": statistics.median(v) for name, v in cpu.items()},
        "dtypes": sorted({str(t) for t in typed.dtypes}),
    }


def page_latency(p: dict[str, Any]) -> dict[str, Any]:
    """Scenario 6: filtered 100-row pages, timed from a client process (median)."""
    import statistics

    import httpx

    root, headers = _api(p["token"])
    out: dict[str, Any] = {}
    with httpx.Client(verify=os.environ["CI_CA_FILE"], headers=headers, timeout=120) as client:
        for name, entity, params in p["queries"]:
            client.get(f"{root}/{entity}", params=params)  # warm
            samples = []
            rows = 0
            for _ in range(p["repeat"]):
                started = time.perf_counter()
                response = client.get(f"{root}/{entity}", params=params)
                samples.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text[:300]
                rows = len(response.json()["value"])
            out[name] = {"median_ms": statistics.median(samples) * 1000, "rows": rows}
    return out


def matrix(p: dict[str, Any]) -> dict[str, Any]:
    """The matrix's cells (entity x filter) pulled as a user would, one after another.

    ``p["cells"]`` is a list of ``[entity, filter or null]``; each cell is pulled with
    ``ci.query(entity, filter=..., count=True)`` after its metadata is read (sign-in and
    metadata are not part of the pull), after one warm-up pull that opens the connections.
    Every HTTP request the pull sends is counted (and the most in flight at once) by
    wrapping the session's ``httpx.Client.request``; the emulator's CPU time during the
    pull is read from its process (``p["emulator_pid"]``).
    """
    import threading

    if p.get("code"):  # an A/B: another checkout's ci_toolkit, this harness
        sys.path.insert(0, p["code"])
    import ci_toolkit

    ci = ci_toolkit.connect(prompt=lambda *a: None)
    assert not p.get("code") or ci_toolkit.__file__.startswith(p["code"])
    # Every request, paged or bulk, leaves through httpx.Client.send (ApiSession.send since
    # issue 13; Client.request calls it too): count there, once per request.
    client = ci.session.client
    send = client.send
    lock = threading.Lock()
    counts = {"requests": 0, "in_flight": 0, "peak": 0}

    def counted(*args: Any, **kwargs: Any) -> Any:
        with lock:
            counts["requests"] += 1
            counts["in_flight"] += 1
            counts["peak"] = max(counts["peak"], counts["in_flight"])
        try:
            return send(*args, **kwargs)
        finally:
            with lock:
                counts["in_flight"] -= 1

    client.send = counted  # type: ignore[method-assign]
    stats: dict[str, Any] = {}
    original = type(ci)._bulk

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        bulk = original(self, *args, **kwargs)
        stats["pull"] = None if bulk is None else bulk.pull
        return bulk

    type(ci)._bulk = spy  # type: ignore[method-assign]

    def emulator_cpu() -> tuple[float, float]:
        return _process_cpu(int(p["emulator_pid"])), _process_ticks(int(p["emulator_pid"]))

    warm = p["cells"][0][0]
    ci.query(warm, progress=False, max_concurrency=p.get("max_concurrency"))
    # one request after another: a page of 100 Customer rows (decoded, not typed)
    samples = []
    for _ in range(15):
        started = time.perf_counter()
        ci.session.request_json("GET", ci._path("data/Customer"), params={"$top": 100})
        samples.append(time.perf_counter() - started)
    out: list[dict[str, Any]] = []
    for entity, where in p["cells"]:
        ci.attributes(entity)  # metadata, cached on the client: not part of the pull
        key = ci._entity_key(entity)
        stats.clear()
        counts.update(requests=0, peak=0)
        cpu_emulator = emulator_cpu()
        cpu_started = time.process_time()
        started = time.perf_counter()
        df = ci.query(entity, filter=where, count=True, progress=False,
                      max_concurrency=p.get("max_concurrency"))  # fmt: skip
        seconds = time.perf_counter() - started
        cell: dict[str, Any] = {
            "entity": entity,
            "filter": where,
            "seconds": seconds,
            "cpu_seconds": time.process_time() - cpu_started,
            "emulator_cpu": _cpu_delta(cpu_emulator, emulator_cpu()),
            "requests": counts["requests"],
            "peak_in_flight": counts["peak"],
            "rows": len(df),
            "count": df.attrs["odata"].get("count"),
            "unique": bool(key is None or df[key].is_unique),
            "ordered": bool(key is None or df[key].is_monotonic_increasing),
        }
        pull = stats.get("pull")
        cell["mode"] = "sequential" if pull is None else "parallel"
        if pull is not None:
            cell["partitions"] = pull.stats.partitions
            cell["final_limit"] = pull.controller.limit  # below the ceiling: it backed off
        out.append(cell)
    return {"cells": out, "round_trip": sorted(samples)[len(samples) // 2]}


def _process_cpu(pid: int) -> float:
    """CPU seconds of every thread of a process, to the nanosecond (``schedstat``).

    ``psutil``'s figure counts clock ticks (10 ms here): too coarse for a pull of a page.
    Threads that ended are not counted (the emulator's worker threads live on).
    """
    import psutil

    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as stat:
                total += int(stat.read().split()[0])
    except OSError:
        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    return total / 1e9


def _process_ticks(pid: int) -> float:
    """CPU seconds of a process in clock ticks, threads that ended included."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _cpu_delta(before: tuple[float, float], after: tuple[float, float]) -> float:
    """CPU seconds between two readings: the nanosecond figure, unless a thread ended
    between them (then it lost that thread's time: the ticks figure differs by more than
    their resolution), in which case the ticks figure."""
    fine, ticks = after[0] - before[0], after[1] - before[1]
    return fine if abs(fine - ticks) <= 0.03 else ticks


def entity_list(p: dict[str, Any]) -> dict[str, Any]:
    """``ci.entities()``: each entity's name, type and data flow (source tables: powerQuery)."""
    import ci_toolkit

    ci = ci_toolkit.connect(prompt=lambda *a: None)
    frame = ci.entities()
    return {
        "entities": [
            {"name": str(r.name), "type": str(r.entityType), "flow": str(r.dataflowType)}
            for r in frame.itertuples()
        ]
    }


if __name__ == "__main__":
    task, params = sys.argv[1], json.loads(sys.argv[2])
    result = globals()[task](params)
    print(json.dumps(result), flush=True)
