"""A service that stops, or never answers: a clear error in bounded time, nothing lost.

- The emulator stopping part-way through a pull raises
  :class:`~ci_toolkit.exceptions.PullInterruptedError` (a ``ServiceUnreachableError``)
  within seconds, saying the service is unreachable, how many pages and rows were read and
  how to resume; the rows read are on the error, and resuming on a restarted emulator gives
  exactly the rows of an uninterrupted pull.
- A server that accepts connections but never answers ends each request at the configured
  timeout, and the call within the retry policy's bound.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.exceptions import PullInterruptedError, ServiceUnreachableError
from ci_toolkit.http.retry import RetryPolicy
from ci_toolkit.http.session import ApiSession
from tests.client.conftest import make_session
from tests.reliability.conftest import connect, customer_ids

PROFILES = 20_000
SEED = 41
#: The default policy's five attempts wait 0.5 + 1 + 2 + 4 s (+ jitter) between them.
GIVE_UP_WITHIN = 30.0


def _config(**changes: object) -> EmulatorConfig:
    return EmulatorConfig(profiles=PROFILES, seed=SEED, **changes)  # type: ignore[arg-type]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """An emulator of this test's own (the test stops it)."""
    emulator = Emulator(_config()).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def restarted() -> Iterator[Callable[[int], Emulator]]:
    """Start the same demo world again (same seed: the same rows) on a given port."""
    started: list[Emulator] = []

    def again(port: int) -> Emulator:
        emulator = Emulator(_config(port=port)).start()
        started.append(emulator)
        return emulator

    yield again
    for emulator in started:
        emulator.stop()


def _port(emu: Emulator) -> int:
    port = urlsplit(emu.settings.base_url).port
    assert port is not None
    return port


def _stop_after(ci: CustomerInsights, emu: Emulator, data_responses: int) -> threading.Thread:
    """Stop ``emu`` (from another thread) once ``ci`` has had this many data responses."""
    seen = 0
    reached = threading.Event()
    lock = threading.Lock()

    def count(response: httpx.Response) -> None:
        nonlocal seen
        if "/data/" in response.request.url.path:
            with lock:
                seen += 1
                if seen >= data_responses:
                    reached.set()

    ci.session.client.event_hooks["response"].append(count)

    def stop() -> None:
        if reached.wait(60):
            emu.stop()

    stopper = threading.Thread(target=stop, name="stop-emulator", daemon=True)
    stopper.start()
    return stopper


def _check_message(err: PullInterruptedError) -> None:
    text = str(err)
    assert "service is unreachable" in text
    assert f"{err.pages_fetched:,} pages ({err.rows_fetched:,} rows read)" in text
    assert "when the service answers again" in text.lower()
    assert "err.resume" in text or "err.next_link" in text
    assert isinstance(err, ServiceUnreachableError)


def _check_resumed(partial: pd.DataFrame, rest: pd.DataFrame, whole: pd.DataFrame) -> None:
    """The rows kept plus the rows resumed are an uninterrupted pull: nothing lost or twice.

    ``whole`` comes from the restarted emulator, whose demo timestamps are relative to its
    start: those columns are compared for the resumed rows only.
    """
    combined = pd.concat([partial, rest], ignore_index=True)
    assert combined["CustomerId"].tolist() == whole["CustomerId"].tolist()
    pd.testing.assert_frame_equal(rest, whole.iloc[len(partial) :].reset_index(drop=True))
    assert list(partial.dtypes.items()) == list(whole.dtypes.items())  # typed, all columns
    stable = [c for c in whole.columns if not pd.api.types.is_datetime64_any_dtype(whole[c])]
    prefix = whole.iloc[: len(partial)][stable]
    pd.testing.assert_frame_equal(partial[stable], prefix)


def test_emulator_stopping_mid_query_raises_with_the_rows_read_and_resumes_exactly(
    emu: Emulator, restarted: Callable[[int], Emulator]
) -> None:
    port = _port(emu)
    truth = customer_ids(emu)
    ci = connect(emu)
    ci.attributes("Customer")
    # 20 key ranges of 10 pages, ten ranges at a time: after 130 of the ~220 responses the
    # first ranges are complete; with 100 ms per page the rest needs seconds more.
    emu.set_faults(latency_ms=100)
    stopper = _stop_after(ci, emu, data_responses=130)
    started = time.monotonic()
    with pytest.raises(PullInterruptedError) as info:
        ci.query("Customer", progress=False)
    elapsed = time.monotonic() - started
    stopper.join(30)
    ci.close()
    err = info.value
    _check_message(err)
    assert elapsed < GIVE_UP_WITHIN + 10, f"took {elapsed:.0f} s to give up"
    assert err.pages_fetched >= 130
    partial = err.partial
    assert partial is not None
    assert 0 < len(partial) < PROFILES
    assert err.rows_fetched >= len(partial)
    assert partial["CustomerId"].tolist() == truth[: len(partial)]  # a prefix in key order
    assert err.resume["filter"] == f"CustomerId gt '{truth[len(partial) - 1]}'"

    again = restarted(port)
    with connect(again) as ci2:
        rest = ci2.query("Customer", progress=False, **err.resume)
        whole = ci2.query("Customer", progress=False)
    _check_resumed(partial, rest, whole)


def test_emulator_stopping_mid_page_by_page_pull_resumes_from_the_next_link(
    emu: Emulator, restarted: Callable[[int], Emulator]
) -> None:
    port = _port(emu)
    ci = connect(emu)
    ci.attributes("Customer")
    stopper = _stop_after(ci, emu, data_responses=7)
    emu.set_faults(latency_ms=50)
    started = time.monotonic()
    with pytest.raises(PullInterruptedError) as info:
        ci.query("Customer", parallel=False, progress=False)
    elapsed = time.monotonic() - started
    stopper.join(30)
    ci.close()
    err = info.value
    _check_message(err)
    assert elapsed < GIVE_UP_WITHIN + 10
    assert err.partial is not None
    assert len(err.partial) == err.rows_fetched == 100 * err.pages_fetched
    assert err.pages_fetched >= 7
    assert err.next_link is not None
    assert "$skiptoken" in err.next_link

    again = restarted(port)  # same address, so the link still points at the service
    with connect(again) as ci2:
        rest = ci2.query("Customer", parallel=False, progress=False, **err.resume)
        whole = ci2.query("Customer", parallel=False, progress=False)
    _check_resumed(err.partial, rest, whole)


def test_emulator_stopping_mid_stream_keeps_the_unyielded_rows_and_resumes(
    emu: Emulator, restarted: Callable[[int], Emulator]
) -> None:
    port = _port(emu)
    truth = customer_ids(emu)
    ci = connect(emu)
    got: list[pd.DataFrame] = []
    stopped = 0.0

    def consume() -> None:
        nonlocal stopped
        for batch in ci.iter_batches("Customer", batch_rows=3_000, progress=False):
            got.append(batch)
            if len(got) == 2:
                stopped = time.monotonic()
                emu.stop()  # the generator waits at its yield: the next page finds no one

    with pytest.raises(PullInterruptedError) as info:
        consume()
    elapsed = time.monotonic() - stopped
    ci.close()
    err = info.value
    _check_message(err)
    assert elapsed < GIVE_UP_WITHIN
    held = [err.partial] if err.partial is not None else []
    read = pd.concat([*got, *held], ignore_index=True)
    assert read["CustomerId"].tolist() == truth[: len(read)]
    assert len(read) >= 6_000

    again = restarted(port)
    with connect(again) as ci2:
        rest = list(ci2.iter_batches("Customer", batch_rows=3_000, progress=False, **err.resume))
    ids = read["CustomerId"].tolist() + [i for b in rest for i in b["CustomerId"]]
    assert ids == truth


def test_emulator_stopping_mid_parquet_write_keeps_a_valid_file_of_the_rows_read(
    emu: Emulator, restarted: Callable[[int], Emulator], tmp_path: Path
) -> None:
    port = _port(emu)
    truth = customer_ids(emu)
    ci = connect(emu)
    ci.attributes("Customer")
    emu.set_faults(latency_ms=100)
    stopper = _stop_after(ci, emu, data_responses=130)
    target = tmp_path / "customers.parquet"
    with pytest.raises(PullInterruptedError) as info:
        ci.to_parquet(target, "Customer", row_group_rows=2_000, progress=False)
    stopper.join(30)
    ci.close()
    err = info.value
    _check_message(err)
    assert not target.exists()  # a file at the target is always a whole pull
    assert err.saved_to == tmp_path / "customers.parquet.partial"
    assert str(err.saved_to) in str(err)
    saved = pd.read_parquet(err.saved_to)  # closed properly: a valid Parquet file
    assert 0 < len(saved) == err.rows_saved < PROFILES
    assert saved["CustomerId"].tolist() == truth[: len(saved)]

    again = restarted(port)
    rest_file = tmp_path / "rest.parquet"
    with connect(again) as ci2:
        ci2.to_parquet(rest_file, "Customer", progress=False, **err.resume)
    whole = pd.read_parquet([err.saved_to, rest_file])
    assert whole["CustomerId"].tolist() == truth


def test_to_parquet_again_while_the_service_is_down_never_deletes_the_saved_rows(
    emu: Emulator, tmp_path: Path
) -> None:
    """A saved partial is never deleted by a call that did not supersede it."""
    ci = connect(emu, retry_policy=RetryPolicy(max_attempts=2))
    ci.attributes("Customer")
    emu.set_faults(latency_ms=100)
    stopper = _stop_after(ci, emu, data_responses=130)
    target = tmp_path / "customers.parquet"
    with pytest.raises(PullInterruptedError) as first:
        ci.to_parquet(target, "Customer", row_group_rows=2_000, progress=False)
    stopper.join(30)
    saved = first.value.saved_to
    assert saved == tmp_path / "customers.parquet.partial"
    kept = saved.read_bytes()
    for _ in range(2):  # the user tries again (twice) before the service is back
        with pytest.raises(PullInterruptedError) as again:
            ci.to_parquet(target, "Customer", row_group_rows=2_000, progress=False)
        assert again.value.saved_to is None  # nothing read, nothing saved
    ci.close()
    assert saved.read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [saved.name]  # no temporary left
    assert len(pd.read_parquet(saved)) == first.value.rows_saved > 0


def test_job_wait_gives_up_when_the_service_is_gone(emu: Emulator) -> None:
    ci = connect(emu, retry_policy=RetryPolicy(max_attempts=2))
    job = ci.refresh("all", force=True)
    emu.stop()
    started = time.monotonic()
    with pytest.raises(ServiceUnreachableError, match="cannot reach"):
        job.wait(poll_interval=0.1, progress=False)  # no timeout: it must not hang
    assert time.monotonic() - started < GIVE_UP_WITHIN
    ci.close()


# -- a server that accepts but never answers -----------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """``https://127.0.0.1:<port>/v1``: accepts TCP connections, never sends a byte."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = listener.accept()
                held.append(conn)  # kept open, never read, never answered

    thread = threading.Thread(target=accept, name="silent-server", daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}/v1"
    done.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()
    assert held, "the client never connected"


def test_every_request_of_a_connection_has_a_timeout(emu: Emulator) -> None:
    with connect(emu) as ci:
        timeout = ci.session.client.timeout
    for phase in (timeout.connect, timeout.read, timeout.write, timeout.pool):
        assert phase is not None
        assert 0 < phase <= 60


CALLS: dict[str, Callable[[CustomerInsights], object]] = {
    "query": lambda ci: ci.query("Customer", progress=False),
    "refresh": lambda ci: ci.refresh("all", force=True),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_a_server_that_never_answers_ends_within_the_configured_timeout(
    silent_server: str, call: str
) -> None:
    # The TLS handshake never completes: each attempt ends at the connect timeout.
    attempts, seconds = 3, 1.0
    policy = RetryPolicy(max_attempts=attempts)
    client = httpx.Client(base_url=silent_server + "/", timeout=httpx.Timeout(seconds))
    ci = CustomerInsights(ApiSession(client, retry_policy=policy), instance_id="i1")
    started = time.monotonic()
    with pytest.raises(ServiceUnreachableError, match="did not answer in time"):
        CALLS[call](ci)
    elapsed = time.monotonic() - started
    ci.close()
    backoff = sum(
        min(policy.backoff_max, policy.backoff_initial * 2**n) + policy.jitter
        for n in range(attempts - 1)
    )
    assert attempts * seconds <= elapsed < attempts * seconds + backoff + 5


def test_a_page_that_never_comes_ends_the_pull_within_the_configured_timeout(
    emu: Emulator,
) -> None:
    # The emulator reads each request, then holds the answer far longer than the client's
    # read timeout: every page request times out, is retried, and the pull gives up.
    attempts, seconds = 3, 1.0
    session = make_session(emu)
    session.retry_policy = RetryPolicy(max_attempts=attempts)
    ci = CustomerInsights(session, instance_id=emu.settings.instance_id)
    ci.attributes("Customer")  # metadata first, at full speed
    session.client.timeout = httpx.Timeout(seconds)
    emu.set_faults(fault_rate=1.0, kinds=("slow",), slow_seconds=30)
    for parallel in (True, False):
        started = time.monotonic()
        with pytest.raises(PullInterruptedError, match="did not answer in time") as info:
            ci.query("Customer", parallel=parallel, progress=False)
        elapsed = time.monotonic() - started
        assert attempts * seconds <= elapsed < attempts * seconds + 10, elapsed
        assert info.value.rows_fetched == 0
        assert info.value.resume == {}  # nothing read: the same call starts it again
    emu.set_faults(fault_rate=0.0)
    ci.close()
