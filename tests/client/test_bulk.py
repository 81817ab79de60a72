"""Bulk pulls: parallel, exactly once, in key order, under faults, in bounded memory.

Against a dedicated emulator over real HTTPS (faults injected on the running gateway), and
against a small fake OData service (``httpx.MockTransport``) for misbehaviour the emulator
cannot produce on demand: a short range, a duplicated row, a nextLink that stops working,
data changing under the pull.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import ci_toolkit
from ci_toolkit.bulk import BulkPull, IncompletePullWarning
from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.exceptions import CustomerInsightsError, QueryError, ThrottledError
from ci_toolkit.http.session import ApiSession
from ci_toolkit.odata import F
from ci_toolkit.resources.query import DataQuery
from tests.client.conftest import make_session
from tests.support import emulator_env, isolate_user_settings

PROFILES = 3_000


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(profiles=PROFILES, seed=11)) as emulator:
        yield emulator


@pytest.fixture
def bulk_ci(emu: Emulator) -> Iterator[CustomerInsights]:
    emu.set_faults(latency_ms=0, rate_limit=None, fault_rate=0.0, seed=1)
    client = CustomerInsights(make_session(emu), instance_id=emu.settings.instance_id)
    yield client
    client.close()
    emu.set_faults(latency_ms=0, rate_limit=None, fault_rate=0.0)


@pytest.fixture(scope="module")
def reference(emu: Emulator) -> pd.DataFrame:
    """Every Customer row, read sequentially (one page after another)."""
    client = CustomerInsights(make_session(emu), instance_id=emu.settings.instance_id)
    with client:
        return client.query("Customer", parallel=False, progress=False)


def _pull(ci: CustomerInsights, entity: str = "Customer", **options: Any) -> BulkPull:
    """A planned BulkPull as query() builds it (to read its statistics)."""
    query = DataQuery.build(
        entity, filter=options.get("filter"), select=options.get("select"),
        top=options.get("top"), skip=options.get("skip"),
    )  # fmt: skip
    bulk = ci._bulk(
        query,
        max_concurrency=options.get("max_concurrency"),
        partition_rows=options.get("partition_rows"),
    )
    assert bulk is not None
    return bulk.pull


# -- correctness on a healthy service ------------------------------------------------------------


def test_parallel_equals_sequential_in_key_order(
    bulk_ci: CustomerInsights, reference: pd.DataFrame
) -> None:
    df = bulk_ci.query("Customer", count=True, progress=False)
    assert len(reference) == PROFILES
    pd.testing.assert_frame_equal(df, reference)  # values, dtypes, key order
    assert df["CustomerId"].is_monotonic_increasing
    assert df["CustomerId"].is_unique
    assert df.attrs["odata"]["count"] == PROFILES
    assert df.index.equals(pd.RangeIndex(PROFILES))


def test_pull_is_planned_in_key_ranges_and_runs_concurrently(bulk_ci: CustomerInsights) -> None:
    pull = _pull(bulk_ci, max_concurrency=6)
    assert pull.total == PROFILES
    frames = list(pull.frames())
    assert pull.stats.partitions >= 12  # at least twice the ceiling
    # small partitions finished together are handed on joined (one conversion)
    assert 1 <= len(frames) <= pull.stats.partitions
    ids = [i for f in frames for i in f["CustomerId"]]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids)) == PROFILES
    assert 2 <= pull.stats.peak_concurrency <= 6
    assert pull.stats.refetched_partitions == 0


def test_page_sized_partitions_join_and_give_the_sequential_frame(
    bulk_ci: CustomerInsights,
) -> None:
    """A rest of up to 5,000 rows is read by row offset, one page per range, all at once:
    the ranges are handed on joined (one DataFrame conversion for several), and the result
    is exactly the page-by-page read."""
    pull = _pull(bulk_ci)
    frames = list(pull.frames())
    assert pull.stats.partitions >= 20
    assert len(frames) < pull.stats.partitions
    got = pd.concat(frames, ignore_index=True)
    seq = bulk_ci.query("Customer", parallel=False, progress=False)
    pd.testing.assert_frame_equal(got[list(seq.columns)], seq)


def test_next_request_starts_before_the_rows_just_received_are_typed(
    bulk_ci: CustomerInsights,
) -> None:
    """Typing a chunk takes milliseconds: the request it made due must already be in flight."""
    pull = _pull(bulk_ci, max_concurrency=1, partition_rows=1000)
    planned = pull.stats.requests  # $count and boundary probes
    answered_in_plan = pull.pages_read
    seen: list[tuple[int, int]] = []  # (page requests sent, pages answered) as rows are added

    def on_rows(rows: int) -> None:
        seen.append((pull.stats.requests - planned, pull.pages_read - answered_in_plan))

    pull.on_rows = on_rows
    rows = sum(len(f) for f in pull.frames())
    assert rows == PROFILES
    assert len(seen) >= 25  # pages with rows (a range's last page may be empty)
    # every page with rows but the last: its successor (the range's next page, or the
    # next range) was already sent when its rows were added
    assert all(sent == answered + 1 for sent, answered in seen[:-1]), seen[:5]


def test_filter_select_skip_top_match_sequential(bulk_ci: CustomerInsights) -> None:
    where = F.in_("Country", ["Ireland", "Spain", "United States"])
    options: dict[str, Any] = {"filter": where, "select": ["FirstName", "Country"]}
    seq = bulk_ci.query("Customer", parallel=False, progress=False, **options)
    par = bulk_ci.query("Customer", progress=False, **options)
    pd.testing.assert_frame_equal(par, seq)
    assert list(par.columns) == ["FirstName", "Country"]  # the key was fetched, then dropped
    window = bulk_ci.query("Customer", skip=250, top=1234, progress=False)
    everything = bulk_ci.query("Customer", parallel=False, progress=False)
    pd.testing.assert_frame_equal(window, everything.iloc[250:1484].reset_index(drop=True))


def test_empty_result_has_typed_columns(bulk_ci: CustomerInsights) -> None:
    df = bulk_ci.query("Customer", filter=F.eq("LastName", "Nobody"), progress=False)
    assert df.empty
    assert list(df.columns) == bulk_ci.attributes("Customer")["name"].tolist()
    assert str(df["EmailOptIn"].dtype) == "boolean"


def test_orderby_or_a_keyless_table_fall_back_to_next_link(bulk_ci: CustomerInsights) -> None:
    assert bulk_ci._bulk(DataQuery.build("Customer", orderby="LastName")) is None
    df = bulk_ci.query("Customer", orderby="LastName desc", select=["LastName"], progress=False)
    assert len(df) == PROFILES
    assert df["LastName"].is_monotonic_decreasing


def test_a_small_pull_reads_its_pages_by_offset_after_one_planning_request(
    bulk_ci: CustomerInsights,
) -> None:
    """No boundary probes for one partition's worth: the first page (with $count) is the
    only planning request, and every other page is one offset request, all in one round."""
    where = F.eq("Country", "Ireland")
    seq = bulk_ci.query("Customer", filter=where, parallel=False, progress=False)
    assert 100 < len(seq) <= 1_000  # a few pages: fewer than the ceiling of requests
    pull = _pull(bulk_ci, filter=where)
    assert pull.stats.requests == 1  # the first page, with $count
    pages = -(-len(seq) // 100)
    assert pull.stats.partitions == pages
    df = pd.concat(list(pull.frames()), ignore_index=True)
    assert pull.stats.requests == pages  # each page once
    assert pull.stats.peak_concurrency == pages - 1  # the rest at once
    pd.testing.assert_frame_equal(df, seq)
    one = bulk_ci.query("Customer", filter=F.eq("LastName", seq["LastName"].iloc[0]),
                        progress=False)  # fmt: skip
    assert 0 < len(one) <= 100


def test_a_table_without_key_filters_is_pulled_in_parallel_by_offset(
    bulk_ci: CustomerInsights,
) -> None:
    """Ingested source tables refuse $filter: larger than a partition, they are read in
    offset ranges ($orderby=<key>&$skip&$top, following the nextLinks), in parallel."""
    entity = "PosSystem_Transactions"
    seq = bulk_ci.query(entity, parallel=False, progress=False)
    assert len(seq) > 5_000  # more than a partition: key ranges are tried first
    pull = _pull(bulk_ci, entity)
    assert pull.key_filters is False
    df = pd.concat(list(pull.frames()), ignore_index=True)
    assert pull.stats.peak_concurrency > 1
    assert pull.stats.refetched_partitions == 0
    pd.testing.assert_frame_equal(df, seq)
    key = df.columns[0]
    assert df[key].is_unique
    assert df[key].is_monotonic_increasing
    window = bulk_ci.query(entity, skip=150, top=5_500, progress=False)
    pd.testing.assert_frame_equal(window, seq.iloc[150:5_650].reset_index(drop=True))


def test_an_interrupted_offset_pull_resumes_by_offset(bulk_ci: CustomerInsights) -> None:
    """Where the key cannot be filtered on, ``err.resume`` continues by ``skip``, not by a
    key ``filter`` the service would refuse."""
    entity = "PosSystem_Transactions"
    query = DataQuery.build(entity, skip=10, top=7_000)
    bulk = bulk_ci._bulk(query)
    assert bulk is not None
    assert bulk.pull.key_filters is False
    frames = bulk.pull.frames()
    first = next(frames)  # handed on before the service "went away"
    frames.close()
    resume = bulk.resume()
    assert resume == {"skip": 10 + len(first), "top": 7_000 - len(first)}
    rest = bulk_ci.query(entity, progress=False, **resume)
    whole = bulk_ci.query(entity, skip=10, top=7_000, parallel=False, progress=False)
    pd.testing.assert_frame_equal(pd.concat([first, rest], ignore_index=True), whole)


def test_iter_batches_and_to_parquet(
    bulk_ci: CustomerInsights, reference: pd.DataFrame, tmp_path: Path
) -> None:
    batches = list(bulk_ci.iter_batches("Customer", batch_rows=700, progress=False))
    assert [len(b) for b in batches] == [700, 700, 700, 700, 200]
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), reference)
    target = tmp_path / "customers.parquet"
    written = bulk_ci.to_parquet(target, "Customer", row_group_rows=1000, progress=False)
    assert written == PROFILES
    import pyarrow.parquet as pq

    assert pq.ParquetFile(target).metadata.num_row_groups == 3
    back = pd.read_parquet(target)
    assert back["CustomerId"].tolist() == reference["CustomerId"].tolist()
    assert str(back["BirthDate"].dtype).startswith("datetime64")
    assert not (tmp_path / "customers.parquet.partial").exists()
    empty = tmp_path / "none.parquet"
    assert bulk_ci.to_parquet(empty, "Customer", filter="LastName eq 'Nobody'") == 0
    assert list(pd.read_parquet(empty).columns) == list(reference.columns)


# -- faults ----------------------------------------------------------------------------------------


def test_exactly_once_under_injected_faults(
    emu: Emulator, bulk_ci: CustomerInsights, reference: pd.DataFrame
) -> None:
    bulk_ci._entity_metadata("Customer")  # metadata first: its retries are the session's
    emu.set_faults(fault_rate=0.2, slow_seconds=0.3, retry_after=1, seed=5)
    pull = _pull(bulk_ci, max_concurrency=8, partition_rows=400)
    df = pd.concat(list(pull.frames()), ignore_index=True)
    assert pull.stats.throttled > 0  # 429 and 503 answers were injected...
    assert pull.stats.transport_errors > 0  # ...and dropped connections
    pd.testing.assert_frame_equal(df, reference)  # ...and every row came once, in order


def test_rate_limit_is_honoured_without_losing_rows(
    emu: Emulator, bulk_ci: CustomerInsights, reference: pd.DataFrame
) -> None:
    bulk_ci._entity_metadata("Customer")
    emu.set_faults(rate_limit=15)
    pull = _pull(bulk_ci, max_concurrency=10)
    df = pd.concat(list(pull.frames()), ignore_index=True)
    assert pull.stats.throttled > 0
    assert pull.controller.throttles == pull.stats.throttled
    pd.testing.assert_frame_equal(df, reference)


def test_token_refresh_mid_pull_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_user_settings(tmp_path, monkeypatch)
    with Emulator(EmulatorConfig(profiles=1500, token_lifetime=2, latency_ms=40, seed=4)) as e:
        for name, value in emulator_env(e).items():
            monkeypatch.setenv(name, value)
        with ci_toolkit.connect(prompt=lambda *a: None) as ci:
            credential = ci.session.credential
            assert credential is not None
            ci.query("Customer", top=1, progress=False)  # sign in
            pull = _pull(ci, max_concurrency=4, partition_rows=100)
            revoked = threading.Event()
            frames = []
            for frame in pull.frames():
                frames.append(frame)
                if not revoked.is_set():  # the service now refuses the token the client holds
                    credential._token = e.mint_token(role="admin", lifetime=-60)
                    revoked.set()
            df = pd.concat(frames, ignore_index=True)
            assert len(df) == df["CustomerId"].nunique() == 1500
            assert df["CustomerId"].is_monotonic_increasing
            assert credential.acquisitions >= 2  # refreshed silently, pull went on
            assert pull.stats.refetched_partitions == 0  # nothing was read twice


# -- misbehaviour from a fake service ----------------------------------------------------------

BASE = "https://ci.example/v1/"
META = {
    "name": "Thing",
    "attributes": [{"name": "Id", "dataType": "String"}, {"name": "N", "dataType": "Int64"}],
    "keys": [[{"name": "Id", "dataType": "String"}]],
}
_BOUND = re.compile(r"Id (ge|gt|lt) '([^']*)'")


class FakeService:
    """OData over sorted rows with ``Id`` keys, 100 rows a page, keyset nextLinks."""

    def __init__(self, rows: int) -> None:
        self.rows = [{"Id": f"k{i:05d}", "N": i} for i in range(rows)]
        self.short_once: set[str] = set()  # partition lows answered one row short, once
        self.duplicate_once = False
        self.bad_links = 0
        self.count_offset = 0
        self.link_host: str | None = None  # nextLinks point at this host instead
        self.long_throttles = 0  # key-range requests answered 429 with Retry-After: 90
        self.hosts: list[str] = []  # the host of every request received
        self.paths: list[str] = []  # and its path
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.hosts.append(request.url.host)
            self.paths.append(request.url.path)
        if request.url.path.endswith("/manage/entities/Thing"):
            return httpx.Response(200, json=META)
        p = request.url.params
        if "$skiptoken" in p and self.bad_links > 0:
            with self.lock:
                self.bad_links -= 1
            return httpx.Response(400, json={"errorCode": "BadRequest", "message": "bad token"})
        text = p.get("$filter", "")
        if self.long_throttles and "Id ge" in text:
            with self.lock:
                self.long_throttles -= 1
            return httpx.Response(429, headers={"Retry-After": "90"}, json={"message": "slow"})
        rows = self.rows
        for op, value in _BOUND.findall(text):
            rows = [r for r in rows if {"ge": r["Id"] >= value, "gt": r["Id"] > value,
                                        "lt": r["Id"] < value}[op]]  # fmt: skip
        if "$skiptoken" in p:
            rows = [r for r in rows if r["Id"] > p["$skiptoken"]]
        body: dict[str, Any] = {}
        if p.get("$count") == "true":
            body["@odata.count"] = len(rows) + self.count_offset
        skip = int(p.get("$skip", "0"))
        top = int(p["$top"]) if "$top" in p else None
        page = rows[skip : skip + min(100, top if top is not None else 100)]
        more = top is None and "$skip" not in p and len(rows) > len(page) and bool(page)
        link = page[-1]["Id"] if page else None
        low = next((v for op, v in _BOUND.findall(text) if op == "ge"), "")
        with self.lock:
            if low in self.short_once and "$skiptoken" not in p and len(page) > 1:
                self.short_once.discard(low)
                page = page[:10] + page[11:]  # a row goes missing, the link goes on
            elif self.duplicate_once and "$skiptoken" in p and page:
                self.duplicate_once = False
                previous = [r for r in self.rows if r["Id"] <= p["$skiptoken"]][-1]
                page = [previous, *page]  # the previous page's last row again
        body["value"] = page
        if more:
            nxt = httpx.URL(str(request.url)).copy_set_param("$skiptoken", link)
            if self.link_host:
                nxt = nxt.copy_with(host=self.link_host)
            body["@odata.nextLink"] = str(nxt)
        return httpx.Response(200, json=body)


def fake_client(service: FakeService) -> CustomerInsights:
    session = ApiSession(httpx.Client(base_url=BASE, transport=httpx.MockTransport(service)))
    return CustomerInsights(session, instance_id="i1")


PULLS = {
    "query": lambda ci, **o: ci.query("Thing", progress=False, **o),
    "iter_batches": lambda ci, **o: list(ci.iter_batches("Thing", progress=False, **o)),
    "to_parquet": lambda ci, path, **o: ci.to_parquet(path, "Thing", progress=False, **o),
}


def _run(call: str, ci: CustomerInsights, tmp_path: Path, **options: Any) -> Any:
    if call == "to_parquet":
        return PULLS[call](ci, tmp_path / "thing.parquet", **options)
    return PULLS[call](ci, **options)


def test_two_to_parquet_calls_to_one_path_at_once_each_write_a_whole_file(
    bulk_ci: CustomerInsights, reference: pd.DataFrame, tmp_path: Path
) -> None:
    """Concurrent writers to one path are safe: each writes its own temporary file."""
    target = tmp_path / "customers.parquet"
    errors: list[BaseException] = []

    def write() -> None:
        try:
            bulk_ci.to_parquet(target, "Customer", row_group_rows=500, progress=False)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    written = pd.read_parquet(target)
    assert written["CustomerId"].tolist() == reference["CustomerId"].tolist()


def test_to_parquet_into_a_missing_folder_is_refused_before_any_request(
    tmp_path: Path,
) -> None:
    service = FakeService(10)
    with pytest.raises(ValueError, match="does not exist: create it first"):
        fake_client(service).to_parquet(tmp_path / "no" / "t.parquet", "Thing", progress=False)
    assert service.paths == []


@pytest.mark.parametrize("call", list(PULLS))
def test_a_parallel_pull_never_follows_a_next_link_to_another_host(
    call: str, tmp_path: Path
) -> None:
    """The parallel path sends through the session, whose origin check refuses the link."""
    service = FakeService(6_000)  # key ranges of 300 rows: each follows a nextLink
    service.link_host = "evil.example"
    with pytest.raises(CustomerInsightsError, match="Refusing to send credentials"):
        _run(call, fake_client(service), tmp_path)
    assert "evil.example" not in service.hosts
    assert set(service.hosts) == {"ci.example"}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("call", list(PULLS))
def test_a_parallel_pull_does_not_wait_out_a_retry_after_the_policy_refuses(
    call: str, tmp_path: Path
) -> None:
    """One Retry-After rule: over ``max_retry_after`` (60 s) a ThrottledError at once."""
    service = FakeService(6_000)  # more than a partition: read in (throttled) key ranges
    service.long_throttles = 1
    with pytest.raises(ThrottledError) as info:
        _run(call, fake_client(service), tmp_path)
    assert info.value.retry_after == 90


def test_fake_service_healthy_pull_is_exact() -> None:
    service = FakeService(2_345)
    df = fake_client(service).query("Thing", progress=False)
    assert df["Id"].tolist() == [r["Id"] for r in service.rows]
    assert df["N"].tolist() == list(range(2_345))


def test_a_short_range_is_fetched_again() -> None:
    service = FakeService(2_000)
    service.short_once = {"k00500", "k01200"}
    ci = fake_client(service)
    pull = _pull(ci, "Thing", partition_rows=100)
    df = pd.concat(list(pull.frames()), ignore_index=True)
    assert pull.stats.refetched_partitions == 2
    assert df["N"].tolist() == list(range(2_000))


def test_duplicated_rows_are_dropped_by_key() -> None:
    service = FakeService(1_000)
    service.duplicate_once = True
    ci = fake_client(service)
    pull = _pull(ci, "Thing", partition_rows=1000, max_concurrency=1)
    df = pd.concat(list(pull.frames()), ignore_index=True)
    assert pull.stats.duplicates_dropped == 1
    assert df["N"].tolist() == list(range(1_000))


def test_a_broken_next_link_resumes_after_the_last_key() -> None:
    service = FakeService(1_000)
    service.bad_links = 1
    ci = fake_client(service)
    pull = _pull(ci, "Thing", partition_rows=1000, max_concurrency=1)
    df = pd.concat(list(pull.frames()), ignore_index=True)
    assert pull.stats.resumed_from_key == 1
    assert pull.stats.refetched_partitions == 0
    assert df["N"].tolist() == list(range(1_000))


def test_count_mismatch_warns_after_refetching() -> None:
    service = FakeService(500)
    service.count_offset = 3  # $count says 503: rows vanished while the pull ran
    with pytest.warns(IncompletePullWarning, match="503"):
        df = fake_client(service).query("Thing", progress=False)
    assert df["N"].tolist() == list(range(500))


def test_service_errors_surface_as_typed_exceptions() -> None:
    service = FakeService(1_000)
    service.bad_links = 100  # every nextLink fails: resuming does not help for long
    with pytest.raises(QueryError):
        fake_client(service).query("Thing", progress=False, max_concurrency=1)


# -- memory ---------------------------------------------------------------------------------------


MEMORY_PROBE = """
import json, os, sys, tracemalloc
import httpx, pyarrow as pa
cfg = json.loads(sys.argv[1])
pool = pa.proxy_memory_pool(pa.default_memory_pool())
pa.set_memory_pool(pool)  # counts the Arrow buffers behind the string columns
from ci_toolkit.client import CustomerInsights
from ci_toolkit.http.session import ApiSession
client = httpx.Client(base_url=cfg["base_url"], verify=cfg["ca_file"], headers=cfg["headers"])
ci = CustomerInsights(ApiSession(client), instance_id=cfg["instance_id"])
ci.query("UnifiedActivity", top=300, progress=False)  # imports and metadata, not measured
list(ci.iter_batches("UnifiedActivity", top=300, batch_rows=100, progress=False))
arrow_before = pool.bytes_allocated()
tracemalloc.start()
rows, size = 0, 0
if cfg["mode"] == "query":
    df = ci.query("UnifiedActivity", top=cfg["rows"], max_concurrency=4, progress=False)
    rows, size = len(df), int(df.memory_usage(deep=True).sum())
else:
    for batch in ci.iter_batches("UnifiedActivity", top=cfg["rows"], batch_rows=1000,
                                 max_concurrency=2, progress=False):
        rows += len(batch)
        del batch
python_peak = tracemalloc.get_traced_memory()[1]
arrow_peak = pool.max_memory() - arrow_before
print(json.dumps({"rows": rows, "size": size, "python": python_peak, "arrow": arrow_peak,
                  "peak": python_peak + arrow_peak}), flush=True)
os._exit(0)  # skip interpreter teardown (the proxy pool must outlive every array)
"""


def _memory_probe(emu: Emulator, mode: str, rows: int) -> dict[str, int]:
    import json
    import subprocess
    import sys

    s = emu.settings
    cfg = {
        "mode": mode,
        "rows": rows,
        "base_url": s.base_url.rstrip("/") + "/",
        "ca_file": str(s.ca_file),
        "instance_id": s.instance_id,
        "headers": {
            "Authorization": f"Bearer {emu.mint_token(role='admin')}",
            "Ocp-Apim-Subscription-Key": s.subscription_key,
        },
    }
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, json.dumps(cfg)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_memory_peak_is_bounded_by_the_result_and_streaming_holds_less(emu: Emulator) -> None:
    emu.set_faults(latency_ms=0, rate_limit=None, fault_rate=0.0)
    pulled = _memory_probe(emu, "query", 30_000)
    streamed = _memory_probe(emu, "stream", 30_000)
    assert pulled["rows"] == streamed["rows"] == 30_000
    # Python allocations plus Arrow buffers at their peak, against the final frame
    assert pulled["peak"] < 2.5 * pulled["size"], pulled
    # streaming in batches holds a few key ranges at a time, not the whole result
    assert streamed["peak"] < 0.5 * pulled["peak"], (streamed, pulled)


def test_iter_batches_yields_before_the_pull_is_complete(
    bulk_ci: CustomerInsights, monkeypatch: pytest.MonkeyPatch
) -> None:
    pulls: list[BulkPull] = []
    plan = CustomerInsights._bulk

    def spy(self: CustomerInsights, *args: Any, **kwargs: Any) -> Any:
        bulk = plan(self, *args, **kwargs)
        pulls.append(bulk.pull)
        return bulk

    monkeypatch.setattr(CustomerInsights, "_bulk", spy)
    fetched_at_first_batch = None
    rows = 0
    for batch in bulk_ci.iter_batches(
        "Customer", batch_rows=200, max_concurrency=2, progress=False
    ):
        if fetched_at_first_batch is None:
            fetched_at_first_batch = pulls[0].stats.rows
        rows += len(batch)
    assert rows == PROFILES
    assert fetched_at_first_batch is not None
    assert fetched_at_first_batch <= PROFILES // 4, fetched_at_first_batch
