"""The DataStore directly: demo data, segment and measure evaluation (checked against pandas),
persistence, thread safety and the methods the workflow engine calls."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from ci_toolkit.emulator.data.keyindex import KeyIndex
from ci_toolkit.emulator.data.persistence import DEFINITIONS_FILE, DataDirError
from ci_toolkit.emulator.data.rowcache import RowBlockCache
from ci_toolkit.emulator.data.segment_store import segment_relation
from ci_toolkit.emulator.data.store import DataStore, DefinitionError, NotFoundError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def store() -> Any:
    data = DataStore(instance_id="00000000-0000-0000-0000-000000000001", profiles=400, seed=3,
                     now=NOW)  # fmt: skip
    yield data
    data.close()


@pytest.fixture(scope="module")
def frames(store: DataStore) -> dict[str, pd.DataFrame]:
    return {
        name: store.export_table(name).to_pandas()
        for name in ("Customer", "UnifiedActivity", "Customer_Measure")
    }


def test_demo_is_deterministic_and_sized(store: DataStore, frames: dict[str, pd.DataFrame]) -> None:
    again = DataStore(instance_id="x", profiles=400, seed=3, now=NOW)
    try:
        assert again.export_table("Customer").equals(store.export_table("Customer"))
        other = DataStore(instance_id="x", profiles=400, seed=4, now=NOW)
        assert not other.export_table("Customer").equals(store.export_table("Customer"))
        other.close()
    finally:
        again.close()
    customers, activities = frames["Customer"], frames["UnifiedActivity"]
    assert len(customers) == 400
    assert customers.CustomerId.is_unique
    assert 8 * 400 < len(activities) < 12 * 400
    assert set(activities.ActivityType) == {"Purchase", "WebVisit", "EmailOpen", "SupportCase"}
    assert customers.LastName.str.contains("'").any()
    assert (activities.ActivityTime < NOW.replace(tzinfo=None)).all()
    assert set(activities.CustomerId) <= set(customers.CustomerId)


def test_alternate_keys_and_source_tables(
    store: DataStore, frames: dict[str, pd.DataFrame]
) -> None:
    customers = frames["Customer"]
    for column in ("PosSystem_Customers_PosCustomerId", "LoyaltyApp_Members_MemberId"):
        assert column in customers.columns
    pos = store.export_table("PosSystem_Customers").to_pandas()
    assert len(pos) == customers.PosSystem_Customers_PosCustomerId.notna().sum()
    assert {"PosSystem_Customers", "ServiceDesk_Cases"} <= set(store.entity_names())


def test_every_entity_is_stored_in_key_order(store: DataStore) -> None:
    for name in store.entity_names():
        key = store.entity(name).key
        keys = store.export_table(name).column(key).to_pylist()
        assert keys == sorted(keys), name
        assert len(set(keys)) == len(keys), name
        assert len({len(k) for k in keys}) <= 1, f"{name}: keys of varying width"


def test_profile_measures_match_pandas(frames: dict[str, pd.DataFrame]) -> None:
    acts, measures = frames["UnifiedActivity"], frames["Customer_Measure"].set_index("CustomerId")
    purchases = acts[acts.ActivityType == "Purchase"].groupby("CustomerId")
    spend = purchases.Amount.sum().reindex(measures.index, fill_value=0)
    assert measures.TotalSpend.round(2).tolist() == spend.round(2).tolist()
    counts = purchases.size().reindex(measures.index, fill_value=0)
    assert measures.PurchaseCount.tolist() == counts.tolist()
    cases = acts[acts.ActivityType == "SupportCase"].groupby("CustomerId").size()
    assert measures.SupportCases.tolist() == cases.reindex(measures.index, fill_value=0).tolist()


def test_segments_match_pandas(store: DataStore, frames: dict[str, pd.DataFrame]) -> None:
    customers = frames["Customer"]
    measures = frames["Customer_Measure"].set_index("CustomerId")
    acts = frames["UnifiedActivity"]

    def members(name: str) -> set[str]:
        return set(store.export_table(name).to_pandas().CustomerId)

    gold = set(customers[customers.LoyaltyTier.isin(["Gold", "Platinum"])].CustomerId)
    assert members("GoldAndPlatinumMembers") == gold
    irish = customers[(customers.Country == "Ireland") & customers.EmailOptIn]
    assert members("IrishEmailSubscribers") == set(irish.CustomerId)
    high = set(measures.index[measures.TotalSpend > 400])
    assert members("HighValueCustomers") == high
    since = NOW.replace(tzinfo=None) - timedelta(days=30)
    recent = acts[(acts.ActivityType == "WebVisit") & (acts.ActivityTime >= since)]
    assert members("RecentWebVisitors") == set(recent.CustomerId)
    complainers = set(measures.index[measures.SupportCases > 0])
    only_gold = set(customers[customers.LoyaltyTier == "Gold"].CustomerId)
    assert members("GoldWithoutComplaints") == only_gold - complainers
    for name in ("GoldAndPlatinumMembers", "HighValueCustomers", "RecentWebVisitors"):
        assert 0 < len(members(name)) < len(customers)
        assert store.segment(name)["evaluationStatus"]["entityCount"] == len(members(name))


def test_segment_metadata_history_and_states(store: DataStore) -> None:
    segments = store.segments(include_history=True, history_days=90)
    assert len(segments) >= 6
    states = {s["state"] for s in segments}
    assert {"active", "inactive"} <= states
    for segment in segments:
        history = segment["evaluationStatusHistory"]
        assert len(history) >= 50
        dates = [p["evaluationDate"] for p in history]
        assert dates == sorted(dates)
    assert "evaluationStatusHistory" not in store.segments()[0]
    assert len(store.segments(limit=2)) == 2


def test_odata_filter_by_segment_membership(store: DataStore) -> None:
    page = store.odata_page(
        "Customer",
        {"$filter": "IsMemberOfSegment('GoldAndPlatinumMembers')", "$count": "true"},
    )
    assert page.count == store.segment("GoldAndPlatinumMembers")["evaluationStatus"]["entityCount"]
    assert all(r["LoyaltyTier"] in {"Gold", "Platinum"} for r in page.rows)


def test_create_update_delete_segment_and_persistence(tmp_path: Path) -> None:
    data = DataStore(instance_id="i", profiles=200, seed=5, now=NOW, data_dir=tmp_path)
    body = {
        "name": "Dubliners",
        "segmentQueryExpression": {
            "rowsets": [
                {"criteria": {"attribute": "Customer.City", "comparisonOperator": "equals",
                              "value": "dublin", "ignoreCase": True}}
            ]
        },
    }  # fmt: skip
    try:
        created = data.create_segment(body, actor="tester")
        customers = data.export_table("Customer").to_pandas()
        assert created["evaluationStatus"]["entityCount"] == int((customers.City == "Dublin").sum())
        with pytest.raises(DefinitionError, match="already exists"):
            data.create_segment(body)
        bad = json.loads(json.dumps(body))
        bad["segmentQueryExpression"]["rowsets"][0]["criteria"]["attribute"] = "Customer.Shoe"
        with pytest.raises(DefinitionError, match="no attribute 'Shoe'"):
            data.create_segment({**bad, "name": "Broken"})
        bad["segmentQueryExpression"]["rowsets"][0]["criteria"].update(
            attribute="Customer.City", comparisonOperator="sortOf"
        )
        with pytest.raises(DefinitionError, match="Unknown comparison operator 'sortOf'"):
            data.create_segment({**bad, "name": "Broken"})
        data.delete_segment("YoungAdults")
        data.set_segment_state("Dubliners", False)
    finally:
        data.close()
    reopened = DataStore(instance_id="i", profiles=200, seed=5, now=NOW, data_dir=tmp_path)
    try:
        assert "Dubliners" in reopened.segment_names()
        assert "YoungAdults" not in reopened.segment_names()
        assert reopened.segment("Dubliners")["state"] == "inactive"
        assert "Dubliners" in reopened.entity_names()
    finally:
        reopened.close()


def test_measures_outputs_and_history(store: DataStore, frames: dict[str, pd.DataFrame]) -> None:
    acts = frames["UnifiedActivity"]
    revenue = acts[acts.ActivityType == "Purchase"].Amount.sum()
    measure = store.measure("TotalRevenue", include_history=True, history_days=5)
    assert float(measure["output"]["values"]["TotalRevenue"]) == pytest.approx(revenue, abs=0.01)
    history = measure["outputHistory"]
    assert len(history) == 5
    values = [float(p["values"]["TotalRevenue"]) for p in history]
    assert values == sorted(values)
    assert values[-1] <= revenue + 0.01
    assert {m["name"] for m in store.measures()} >= {"TotalSpend", "AverageBasket"}


def test_measure_lifecycle(tmp_path: Path) -> None:
    data = DataStore(instance_id="i", profiles=150, seed=6, now=NOW)
    try:
        body = {
            "name": "WebVisitCount",
            "definition": {
                "isProfile": True,
                "linkedEntities": [{"kind": "base", "entity": "UnifiedActivity"}],
                "aggregates": [{"operation": "count", "field": "ActivityId"}],
                "filteringCriteria": {"attribute": "ActivityType", "comparisonOperator": "equals",
                                      "value": "WebVisit"},
            },
        }  # fmt: skip
        data.create_measure(body)
        table = data.export_table("Customer_Measure").to_pandas()
        acts = data.export_table("UnifiedActivity").to_pandas()
        expected = (acts.ActivityType == "WebVisit").sum()
        assert table.WebVisitCount.sum() == expected
        with pytest.raises(DefinitionError, match="Unsupported aggregate operation 'median'"):
            data.update_measure(
                "WebVisitCount",
                {"definition": {**body["definition"], "aggregates": [{"operation": "median",
                                                                       "field": "Amount"}]}},
            )  # fmt: skip
        data.delete_measure("WebVisitCount")
        assert "WebVisitCount" not in data.columns("Customer_Measure")
        with pytest.raises(NotFoundError):
            data.measure("WebVisitCount")
    finally:
        data.close()


def test_workflow_methods(store: DataStore) -> None:
    sources = store.data_sources()
    assert {s["name"] for s in sources} >= {"PosSystem", "Webshop", "LoyaltyApp"}
    assert all(s["dataSourceId"] == s["dataSourceMetadata"]["dataSourceId"] for s in sources)
    before = store.segment("RecentWebVisitors")["evaluationStatus"]["evaluationDate"]
    count = store.evaluate_segment("RecentWebVisitors")
    status = store.segment("RecentWebVisitors")["evaluationStatus"]
    assert status["entityCount"] == count
    assert status["evaluationDate"] >= before
    store.evaluate_measure("TotalSpend")
    table = store.export_table("HighValueCustomers")
    assert isinstance(table, pa.Table)
    assert table.num_rows > 0
    with pytest.raises(NotFoundError):
        store.export_table("NoSuchThing")
    with pytest.raises(NotFoundError):
        store.evaluate_segment("NoSuchSegment")


def test_parallel_reads_and_writes(store: DataStore) -> None:
    expected = store.segment("GoldAndPlatinumMembers")["evaluationStatus"]["entityCount"]

    def read(i: int) -> int:
        if i % 2:
            page = store.odata_page(
                "Customer",
                {"$filter": "IsMemberOfSegment('GoldAndPlatinumMembers')", "$count": "true"},
            )
            return page.count or 0
        page = store.odata_page("Customer", {"$filter": f"Country ne 'Nowhere{i}'", "$top": "5"})
        return len(page.rows)

    def write(_: int) -> int:
        return store.evaluate_segment("GoldAndPlatinumMembers")

    with ThreadPoolExecutor(8) as pool:
        reads = [pool.submit(read, i) for i in range(40)]
        writes = [pool.submit(write, i) for i in range(6)]
        results = [f.result() for f in reads]
        counts = {f.result() for f in writes}
    assert results == [expected if i % 2 else 5 for i in range(40)]
    assert counts == {expected}


def test_reads_do_not_wait_for_a_running_evaluation(store: DataStore) -> None:
    def read() -> int:
        page = store.odata_page("Customer", {"$filter": "IsMemberOfSegment('YoungAdults')"})
        return len(store.segments()) + len(store.measures()) + len(page.rows)

    pool = ThreadPoolExecutor(1)
    store._lock.acquire()  # as if a long evaluation were running
    try:
        result = pool.submit(read).result(timeout=10)
    finally:
        store._lock.release()
        pool.shutdown()
    assert result > 0


def _pages(store: DataStore, entity: str, options: dict[str, str], limit: int = 5) -> list[Any]:
    """The first ``limit`` pages of a query, following the skip tokens."""
    out = []
    options = dict(options)
    for _ in range(limit):
        page = store.odata_page(entity, options)
        out.append((page.value, page.count, page.next_token, page.select))
        if page.next_token is None:
            break
        options["$skiptoken"] = page.next_token
    return out


def _key_range_queries(store: DataStore) -> list[tuple[str, dict[str, str]]]:
    keys = store.export_table("Customer").column("CustomerId").to_pylist()
    acts = store.export_table("UnifiedActivity").column("ActivityId").to_pylist()
    n = len(keys)
    return [
        ("Customer", {}),
        ("Customer", {"$count": "true", "$top": "130"}),
        ("Customer", {"$skip": "37", "$top": "150", "$count": "true"}),
        ("Customer", {"$filter": f"CustomerId ge '{keys[40]}' and CustomerId lt '{keys[290]}'"}),
        ("Customer", {"$filter": f"CustomerId gt '{keys[10]}' and CustomerId le '{keys[300]}'",
                      "$select": "FirstName,BirthDate", "$count": "true", "$top": "120"}),
        ("Customer", {"$filter": f"'{keys[50]}' lt CustomerId", "$skip": "3"}),
        ("Customer", {"$filter": f"CustomerId eq '{keys[5]}'", "$count": "true"}),
        ("Customer", {"$filter": "CustomerId ge '8' and CustomerId lt '9'"}),
        ("Customer", {"$filter": "CustomerId ge '9' and CustomerId lt '8'", "$count": "true"}),
        ("Customer", {"$filter": "CustomerId ne null", "$count": "true", "$top": "0",
                      "$select": "CustomerId"}),
        ("Customer", {"$filter": "CustomerId eq null", "$count": "true"}),
        *[("Customer", {"$select": "CustomerId", "$orderby": "CustomerId", "$top": "1",
                        "$skip": str(k)}) for k in (0, 99, 100, n - 1, n, n + 5)],
        ("Customer", {"$orderby": "CustomerId asc", "$skip": "7", "$top": "230"}),
        ("UnifiedActivity", {"$filter": f"ActivityId ge '{acts[100]}' and ActivityId lt "
                                        f"'{acts[450]}'", "$count": "true"}),
        ("Customer_Measure", {"$filter": f"CustomerId ge '{keys[100]}'", "$top": "150"}),
        ("HighValueCustomers", {"$count": "true", "$top": "250"}),
    ]  # fmt: skip


def test_key_range_pages_equal_the_sql_pages() -> None:
    store = DataStore(instance_id="x", profiles=400, seed=3, now=NOW)
    try:
        queries = _key_range_queries(store)
        fast = [_pages(store, entity, options) for entity, options in queries]
        indexes = dict(store._key_ranges.indexes)
        assert indexes["Customer"] is not None  # the key index served them
        assert indexes["UnifiedActivity"] is not None
        store._key_ranges.indexes = dict.fromkeys(indexes)  # no index: every page from SQL
        slow = [_pages(store, entity, options) for entity, options in queries]
        store._key_ranges.indexes = indexes
        for query, fast_pages, slow_pages in zip(queries, fast, slow, strict=True):
            assert fast_pages == slow_pages, query
        page = store.odata_page("Customer", {"$filter": "CustomerId ge '8'", "$count": "true"})
        everything = _all_rows(store, "CustomerId ge '8'")
        assert page.count == len(everything)
        assert [r["CustomerId"] for r in everything] == sorted(r["CustomerId"] for r in everything)
    finally:
        store.close()


def test_key_range_pages_equal_the_sql_pages_whatever_the_text() -> None:
    """Blocks DuckDB writes as JSON, and blocks with a control character it escapes otherwise."""
    store = DataStore(instance_id="x", profiles=400, seed=3, now=NOW)
    try:
        relation = store.entity("Customer").relation
        keys = store.export_table("Customer").column("CustomerId").to_pylist()
        texts = {
            keys[3]: 'O\'Brien "q" \\ é 日本 😀 \u2028 \x7f /',
            keys[150]: "tab\tnl\n\x01\x1f end",  # DuckDB: \\u001F, so rendered as before
            keys[390]: "literal \\u001F text",
        }
        for key, text in texts.items():
            store.cursor().execute(
                f"UPDATE {relation} SET FirstName = ? WHERE CustomerId = ?", [text, key]
            )
        options = {"$filter": "CustomerId ne null", "$count": "true"}
        fast = _pages(store, "Customer", options)
        assert store._key_ranges.indexes["Customer"] is not None  # the key index served them
        assert (
            store._key_ranges.row_blocks.misses == 1
        )  # one block of 1,024: every row rendered at once
        store._key_ranges.indexes = {"Customer": None}
        assert fast == _pages(store, "Customer", options)
        served = {r["CustomerId"]: r["FirstName"] for page in fast for r in json.loads(page[0])}
        assert {key: served[key] for key in texts} == texts
    finally:
        store.close()


def _all_rows(store: DataStore, text: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    options = {"$filter": text}
    while True:
        page = store.odata_page("Customer", options)
        rows.extend(page.rows)
        if page.next_token is None:
            return rows
        options["$skiptoken"] = page.next_token


def test_stale_key_index_falls_back_to_sql(store: DataStore) -> None:
    options = {"$filter": "CustomerId ge '4'", "$count": "true", "$top": "120"}
    expected = _pages(store, "Customer", options)
    keys = store.export_table("Customer").column("CustomerId").to_pylist()
    # As if the table had just been replaced by one with other rows: positions are wrong.
    store._key_ranges.indexes["Customer"] = KeyIndex(pa.array(keys[1:]))
    try:
        assert _pages(store, "Customer", options)[0][0] == expected[0][0]
    finally:
        store._key_ranges.indexes.pop("Customer")
    assert _pages(store, "Customer", options) == expected
    # Re-evaluating a segment replaces its table and forgets the table's key index.
    store.odata_page("GoldAndPlatinumMembers", {"$top": "3"})
    relation = segment_relation("GoldAndPlatinumMembers")
    assert store._key_ranges.indexes[relation] is not None
    store.evaluate_segment("GoldAndPlatinumMembers")
    assert relation not in store._key_ranges.indexes


def test_memory_page_is_the_page_when_its_rows_are_rendered_already() -> None:
    store = DataStore(instance_id="x", profiles=400, seed=3, now=NOW)
    try:
        options = {"$filter": "CustomerId ge '2' and CustomerId lt 'c'", "$count": "true"}
        assert store.memory_page("Customer", options) is None  # nothing in memory yet
        first = store.odata_page("Customer", options)
        assert store.memory_page("Customer", options) == first
        following = {**options, "$skiptoken": str(first.next_token)}
        assert store.memory_page("Customer", following) == store.odata_page("Customer", following)
        # pages that need the database are not cut from memory
        for other in (
            {"$filter": "Country eq 'Ireland'"},
            {"$orderby": "LastName"},
            {**options, "$top": "5"},
            {**options, "$select": "CustomerId"},
        ):
            assert store.memory_page("Customer", other) is None, other
        assert store.memory_page("UnifiedActivity", {}) is None  # no key index built yet
        with pytest.raises(NotFoundError):
            store.memory_page("Nope", {})
    finally:
        store.close()


def test_row_block_cache_keeps_the_most_recent_blocks_within_its_size() -> None:
    cache = RowBlockCache(max_bytes=1000)
    rows = [b"x" * 60] * 4  # 4 x (60 + 40) = 400 bytes a block
    for block in range(3):
        cache.put(("T", 1, ("A",), block), rows)
    assert cache.get(("T", 1, ("A",), 0)) is None  # the oldest went
    assert cache.get(("T", 1, ("A",), 1)) == rows
    cache.put(("T", 1, ("A",), 3), rows)  # block 2 is now the least recently used
    assert cache.get(("T", 1, ("A",), 2)) is None
    assert cache.get(("T", 1, ("A",), 1)) == rows
    assert cache.get(("T", 2, ("A",), 1)) is None  # another key index version
    cache.put(("U", 1, ("A",), 0), [b"y"])
    cache.drop("T")
    assert cache.get(("T", 1, ("A",), 1)) is None
    assert cache.get(("U", 1, ("A",), 0)) == [b"y"]
    cache.put(("T", 1, ("A",), 9), [b"z" * 2000])  # larger than the cache: not kept
    assert cache.get(("T", 1, ("A",), 9)) is None


def test_saved_names_differing_only_in_case_keep_their_own_tables(tmp_path: Path) -> None:
    """A file written before names were compared without case loads whole: nothing shared."""
    DataStore(instance_id="i", profiles=200, seed=5, now=NOW, data_dir=tmp_path).close()
    data = DataStore(instance_id="i", profiles=200, seed=5, now=NOW, data_dir=tmp_path)
    try:
        data.delete_segment("YoungAdults")  # writes the file
    finally:
        data.close()
    path = tmp_path / DEFINITIONS_FILE
    saved = json.loads(path.read_text(encoding="utf-8"))
    other = next(s for s in saved["segments"] if s["name"] == "RecentWebVisitors")
    saved["segments"].append({**other, "name": "highvaluecustomers"})
    spend = next(m for m in saved["measures"] if m["name"] == "TotalSpend")
    saved["measures"].append({**spend, "name": "totalspend"})
    path.write_text(json.dumps(saved), encoding="utf-8")
    data = DataStore(instance_id="i", profiles=200, seed=5, now=NOW, data_dir=tmp_path)
    try:
        high = data.segment("HighValueCustomers")["evaluationStatus"]["entityCount"]
        lower = data.segment("highvaluecustomers")["evaluationStatus"]["entityCount"]
        assert high != lower  # two definitions, two tables
        assert data.odata_page("highvaluecustomers", {"$count": "true"}).count == lower
        data.delete_segment("highvaluecustomers")
        assert data.odata_page("HighValueCustomers", {"$count": "true"}).count == high
        names = {m["name"] for m in data.all_entity_metadata()}
        assert "HighValueCustomers" in names
        assert "highvaluecustomers" not in names
        assert data.measure("TotalSpend")["latestEvaluation"]["state"] == "completed"
        failed = data.measure("totalspend")["latestEvaluation"]
        assert failed["state"] == "failed"
        assert "'TotalSpend'" in failed["error"]
    finally:
        data.close()


def test_a_vanished_table_is_not_found_never_a_database_error(tmp_path: Path) -> None:
    """A segment deleted between listing and reading (another request) is a 404, and the
    entity list leaves it out instead of failing."""
    data = DataStore(instance_id="i", profiles=150, seed=6, now=NOW)
    try:
        data.cursor().execute(f"DROP TABLE {segment_relation('YoungAdults')}")
        data._invalidate("YoungAdults")
        for read in (data.entity_metadata, data.entity_size, data.export_table):
            with pytest.raises(NotFoundError):
                read("YoungAdults")
        with pytest.raises(NotFoundError):
            data.entity_profile("YoungAdults", include_attributes=False)
        names = {m["name"] for m in data.all_entity_metadata()}
        assert "YoungAdults" not in names
        assert "Customer" in names
    finally:
        data.close()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"segments": [', "not valid JSON"),
        (b'{"segments": [], "measures": [{"name": "Caf\xe9"}]}', "not UTF-8"),  # Latin-1
        (b"[]", "an array where an object was expected"),
        (b'{"segments": [{"nom": "x"}]}', "'segments' is not an array of objects with a 'name'"),
        (b'{"segmentHistory": {"A": 3}}', "'segmentHistory'"),
        (None, "Is a directory"),  # unreadable: a folder where the file should be
    ],
)  # fmt: skip
def test_an_unreadable_definitions_file_stops_the_start_and_is_kept(
    tmp_path: Path, content: bytes | None, reason: str
) -> None:
    """Refusing to start is the safe choice: starting from the demo definitions would
    overwrite the file (the user's definitions) at the first change."""
    path = tmp_path / DEFINITIONS_FILE
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(DataDirError) as info:
        DataStore(instance_id="i", profiles=50, seed=5, now=NOW, data_dir=tmp_path)
    message = str(info.value)
    assert str(path) in message
    assert reason in message
    assert "repair the file or move it out of the way" in message
    assert "\n" not in message
    assert isinstance(info.value, ValueError)  # the CLI reports it in one line
    if content is None:
        assert path.is_dir()
    else:
        assert path.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == [DEFINITIONS_FILE]
