"""Bulk reads on the Dataverse path: key ranges the service cut, exactly once, in its order.

Against an emulator of this module over real HTTPS, with its GUID order switched between
SQL Server's (the default) and plain string order: the parallel read must give exactly the
rows of the page-by-page read, in the same (the service's) order, under either, for a GUID
key (the primary id) and a String key (``msdynci_customerid``), with a user filter, under
injected faults and Dataverse's service protection limits; a read cut short by the service
going away is resumed exactly from ``err.resume``; a nextLink to another host is refused.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pandas as pd
import pytest

import ci_toolkit
from ci_toolkit.client import CustomerInsights
from ci_toolkit.dataverse import Dataverse
from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.exceptions import CustomerInsightsError, PullInterruptedError
from ci_toolkit.odata import F
from tests.dataverse.conftest import dv_args

PROFILES = 1_500
SEED = 23
PROFILE = "msdynci_customerprofile"
ACTIVITY = "msdynci_unifiedactivity"
PROFILE_ID = "msdynci_customerprofileid"
ACTIVITY_ID = "msdynci_unifiedactivityid"
ORDERS = ("sqlserver", "lexicographic")


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(profiles=PROFILES, seed=SEED)) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def ci(emu: Emulator) -> Iterator[CustomerInsights]:
    connection = ci_toolkit.connect(**dv_args(emu, v1=False))
    yield connection
    connection.close()


@pytest.fixture
def dv(ci: CustomerInsights, emu: Emulator) -> Iterator[Dataverse]:
    """The Dataverse accessor; the emulator's faults, limits and GUID order put back after."""
    service = emu.dataverse
    limits, order = service.protection.limits, service.guid_order
    yield ci.dataverse
    service.protection.configure(**vars(limits))
    service.guid_order = order
    emu.set_faults(latency_ms=0.0, fault_rate=0.0, seed=0)


_references: dict[tuple[str, str, str], pd.DataFrame] = {}


def _reference(dv: Dataverse, order: str, table: str, key: str) -> pd.DataFrame:
    """The page-by-page read in ``key`` order (cached per GUID order and table)."""
    cached = (order, table, key)
    if cached not in _references:
        orderby = None if key in (PROFILE_ID, ACTIVITY_ID) else key
        _references[cached] = dv.query(table, orderby=orderby, parallel=False, progress=False)
    return _references[cached]


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))


# -- exact rows, in the service's order ----------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(
    ("table", "key"),
    [(PROFILE, PROFILE_ID), (PROFILE, "msdynci_customerid"), (ACTIVITY, ACTIVITY_ID)],
)
def test_parallel_read_is_the_page_by_page_read(
    dv: Dataverse, emu: Emulator, order: str, table: str, key: str
) -> None:
    emu.dataverse.guid_order = order  # type: ignore[assignment]
    want = _reference(dv, order, table, key)
    got = dv.query(table, key=key, progress=False)
    assert got.attrs["odata"]["parallel"] is True
    assert got.attrs["source"] == "dataverse"
    _same(got, want)
    assert got[key].is_unique


@pytest.mark.parametrize("order", ORDERS)
def test_guid_ranges_follow_the_service_order_not_python_order(
    dv: Dataverse, emu: Emulator, order: str
) -> None:
    """Under SQL Server order the keys come in an order Python's sort does not give."""
    emu.dataverse.guid_order = order  # type: ignore[assignment]
    batches = list(dv.iter_batches(PROFILE, batch_rows=400, progress=False))
    keys = pd.concat(batches, ignore_index=True)[PROFILE_ID].tolist()
    assert keys == _reference(dv, order, PROFILE, PROFILE_ID)[PROFILE_ID].tolist()
    python_sorted = keys == sorted(keys, key=uuid.UUID)
    assert python_sorted is (order == "lexicographic")
    assert [len(b) for b in batches[:-1]] == [400] * (len(batches) - 1)


def test_the_plan_asks_the_service_for_its_boundaries(dv: Dataverse) -> None:
    """Several ranges, cut at keys that exist, ordered by the service (not by Python)."""
    bulk = dv._dv_bulk(
        ACTIVITY, select=None, filter=None, names="dataverse", key=None, page_size=500,
        max_concurrency=None,
    )  # fmt: skip
    bulk.pull.plan()
    bounds = bulk.pull.boundaries
    assert len(bounds) >= 4
    keys = _reference(dv, "sqlserver", ACTIVITY, ACTIVITY_ID)[ACTIVITY_ID].tolist()
    positions = [keys.index(b) for b in bounds]
    assert positions == sorted(positions)  # the service's order of the boundaries


def test_user_filter_and_select_and_v1_names(dv: Dataverse) -> None:
    flt = F.eq("msdynci_activitytype", "Purchase")
    want = dv.query(ACTIVITY, filter=flt, select=["msdynci_customerid", "msdynci_activitytype"],
                    names="v1", parallel=False, progress=False)  # fmt: skip
    got = dv.query(ACTIVITY, filter=flt, select=["msdynci_customerid", "msdynci_activitytype"],
                   names="v1", progress=False)  # fmt: skip
    assert got.attrs["odata"]["parallel"] is True
    assert 0 < len(got) < len(_reference(dv, "sqlserver", ACTIVITY, ACTIVITY_ID))
    assert set(got["ActivityType"]) == {"Purchase"}
    _same(got, want)


def test_a_read_of_one_page_is_one_request(dv: Dataverse, ci: CustomerInsights) -> None:
    sent: list[httpx.Request] = []
    hook = sent.append
    ci.dataverse.session.client.event_hooks["request"].append(hook)
    try:
        df = dv.query(PROFILE, filter=F.eq("msdynci_customerid", "nobody"), progress=False)
    finally:
        ci.dataverse.session.client.event_hooks["request"].remove(hook)
    assert len(df) == 0
    assert len([r for r in sent if "msdynci_customerprofiles" in r.url.path]) == 1


def test_to_parquet_writes_the_rows_in_order(dv: Dataverse, tmp_path: Path) -> None:
    target = tmp_path / "activities.parquet"
    rows = dv.to_parquet(target, ACTIVITY, row_group_rows=3_000, progress=False)
    want = _reference(dv, "sqlserver", ACTIVITY, ACTIVITY_ID)
    assert rows == len(want)
    written = pd.read_parquet(target)
    assert written[ACTIVITY_ID].tolist() == want[ACTIVITY_ID].tolist()


# -- exactly once under faults and the service protection limits -------------------------------


@pytest.mark.timeout(120)
def test_exactly_once_under_injected_faults(dv: Dataverse, emu: Emulator) -> None:
    want = _reference(dv, "sqlserver", ACTIVITY, ACTIVITY_ID)
    emu.set_faults(fault_rate=0.15, kinds=("drop", "throttle", "unavailable"), seed=5)
    bulk = dv._dv_bulk(
        ACTIVITY, select=None, filter=None, names="dataverse", key=None, page_size=500,
        max_concurrency=None,
    )  # fmt: skip
    got = pd.concat(list(dv._dv_batches(bulk, batch_rows=5_000, progress=False)))
    emu.set_faults(fault_rate=0.0)
    stats = bulk.pull.stats
    assert stats.throttled + stats.transport_errors > 0  # faults were met
    _same(got, want)


@pytest.mark.timeout(120)
def test_exactly_once_under_the_dataverse_limits(dv: Dataverse, emu: Emulator) -> None:
    """Two concurrent requests allowed and 60 per 3 s: 429s with Retry-After, then exact."""
    want = _reference(dv, "sqlserver", PROFILE, PROFILE_ID)
    emu.dataverse.protection.configure(concurrent=2, requests=60, window_seconds=3.0)
    bulk = dv._dv_bulk(
        PROFILE, select=None, filter=None, names="dataverse", key=None, page_size=100,
        max_concurrency=8,
    )  # fmt: skip
    got = pd.concat(list(dv._dv_batches(bulk, batch_rows=10_000, progress=False)))
    assert bulk.pull.stats.throttled > 0
    _same(got, want)


# -- bad input and hosts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_concurrency": 53}, "from 1 to 52"),
        ({"max_concurrency": 0}, "from 1 to 52"),
        ({"key": "_msdynci_contactid_value"}, "cannot key a parallel read"),
        ({"key": "msdynci_nosuchcolumn"}, "cannot key a parallel read"),
        ({"batch_rows": 0}, "batch_rows must be an integer >= 1"),
        ({"page_size": 501}, "page_size must be an integer from 1 to 500"),
    ],
)
def test_bad_options_are_refused_before_any_read(
    dv: Dataverse, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        next(iter(dv.iter_batches(PROFILE, progress=False, **options)))  # type: ignore[arg-type]


def test_max_concurrency_over_the_limit_in_query(dv: Dataverse) -> None:
    with pytest.raises(ValueError, match="Dataverse's limit of concurrent requests"):
        dv.query(PROFILE, max_concurrency=100, progress=False)


class _ForeignLinks(httpx.BaseTransport):
    """The emulator's answers with every nextLink moved to another host (which the emulator
    cannot be asked to do; the rest of the exchange is real)."""

    def __init__(self, inner: httpx.BaseTransport, origin: str) -> None:
        self.inner = inner
        self.origin = origin

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read()
        if b"@odata.nextLink" in body:
            body = body.replace(self.origin.encode(), b"https://evil.example")
        return httpx.Response(response.status_code, headers=response.headers, content=body)


def test_a_next_link_to_another_host_is_never_followed(dv: Dataverse, ci: CustomerInsights) -> None:
    client = ci.dataverse.session.client
    hosts: list[str] = []
    client.event_hooks["request"].append(lambda r: hosts.append(r.url.host))
    original = client._transport
    client._transport = _ForeignLinks(original, dv.url)
    try:
        with pytest.raises(CustomerInsightsError, match="Refusing to send credentials"):
            list(dv.iter_batches(ACTIVITY, page_size=50, progress=False))
    finally:
        client._transport = original
        client.event_hooks["request"].pop()
    assert hosts
    assert "evil.example" not in hosts


# -- interrupted and resumed ------------------------------------------------------------------


def test_an_interrupted_pull_resumes_exactly(tmp_path: Path) -> None:
    config = EmulatorConfig(profiles=PROFILES, seed=SEED)
    first = Emulator(config).start()
    port = urlsplit(first.settings.dataverse_url).port
    assert port is not None
    conn = ci_toolkit.connect(**dv_args(first, v1=False))
    dv = conn.dataverse
    dv.columns(ACTIVITY)
    first.set_faults(latency_ms=150)
    seen = 0
    lock = threading.Lock()

    def stop_after(response: httpx.Response) -> None:
        nonlocal seen
        if not response.request.url.path.endswith("msdynci_unifiedactivities"):
            return
        with lock:
            seen += 1
            if seen == 24:  # the plan (about 9) and the first ranges
                threading.Thread(target=first.stop, daemon=True).start()

    dv.session.client.event_hooks["response"].append(stop_after)
    with pytest.raises(PullInterruptedError) as info:  # two at a time: seconds to go
        dv.query(ACTIVITY, progress=False, max_concurrency=2)
    conn.close()
    err = info.value
    assert "service is unreachable" in str(err)
    assert "ci.dataverse.query('msdynci_unifiedactivity', **err.resume)" in str(err)
    partial = err.partial
    assert partial is not None
    assert len(partial) > 0
    assert err.resume["filter"].startswith(f"{ACTIVITY_ID} gt ")

    again = Emulator(EmulatorConfig(profiles=PROFILES, seed=SEED, port=port)).start()
    try:
        with ci_toolkit.connect(**dv_args(again, v1=False)) as conn2:
            rest = conn2.dataverse.query(ACTIVITY, progress=False, **err.resume)
            whole = conn2.dataverse.query(ACTIVITY, parallel=False, progress=False)
    finally:
        again.stop()
    combined = pd.concat([partial, rest], ignore_index=True)
    assert combined[ACTIVITY_ID].tolist() == whole[ACTIVITY_ID].tolist()
    _same(rest, whole.iloc[len(partial) :])  # same emulator: every column
    # The restarted demo's times are relative to its start: compare the rest of the partial.
    stable = ["msdynci_customerid", "msdynci_activitytype", "msdynci_title", "msdynci_entityname"]
    _same(partial[stable], whole.iloc[: len(partial)][stable])
    assert list(partial.dtypes.items()) == list(whole.dtypes.items())


@pytest.mark.timeout(30)
@pytest.mark.filterwarnings("ignore::ci_toolkit.bulk.IncompletePullWarning")  # the mock's count
def test_a_repeating_next_link_ends_its_range() -> None:
    """A service that keeps sending the same nextLink (the bug the Microsoft SDK guards
    against): the parallel read stops following it instead of looping."""
    from tests.dataverse.mock_service import MockDataverse, mock_dataverse

    service = MockDataverse(rows=7)
    service.repeat_link = True
    dv = mock_dataverse(service)
    batches = list(dv.iter_batches(PROFILE, page_size=500, progress=False))
    frame = pd.concat(batches)
    assert frame[PROFILE_ID].is_unique
    assert len(frame) <= 7
