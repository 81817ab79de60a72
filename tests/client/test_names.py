"""Names in URL paths, as a property: every entity, segment, measure or job name reaches its
own endpoint (one path segment, quoted) or is refused before any request.

``"."`` and ``".."`` were normalised away by URL handling (``ci.query("..")`` read
``GET /instances/{id}`` and returned an empty frame). A fake service (``MockTransport``)
records the raw path of every request: the emulator cannot tell which path a client meant.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ci_toolkit.client import CustomerInsights
from ci_toolkit.exceptions import CustomerInsightsError
from ci_toolkit.http.retry import RetryPolicy
from ci_toolkit.http.session import ApiSession

INSTANCE = "44f7db50-8f44-5db8-b411-887d91e0f775"
BASE = "https://ci.example/v1/"

ROOT = f"/v1/instances/{INSTANCE}/"
#: public calls that put a name in a path, and the paths (before the name) they may use:
#: a data read also reads the entity's metadata
DATA = (f"{ROOT}data/", f"{ROOT}manage/entities/")
CALLS: dict[str, tuple[Callable[[CustomerInsights, str], Any], tuple[str, ...]]] = {
    "query": (lambda ci, n: ci.query(n, progress=False), DATA),
    "iter_pages": (lambda ci, n: list(ci.iter_pages(n)), DATA),
    "to_parquet": (lambda ci, n: ci.to_parquet(f"{tempfile.gettempdir()}/names.parquet", n), DATA),
    "attributes": (lambda ci, n: ci.attributes(n), (f"{ROOT}manage/entities/",)),
    "measure": (lambda ci, n: ci.measure(n), (f"{ROOT}manage/measures/",)),
    "delete_segment": (lambda ci, n: ci.delete_segment(n), (f"{ROOT}manage/segments/",)),
    "job": (lambda ci, n: ci.job(n), (f"{ROOT}workflows/main/jobs/",)),
}


def _client(seen: list[str]) -> CustomerInsights:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode("ascii").split("?")[0])
        return httpx.Response(404, json={"errorCode": "NotFound", "message": "no such thing"})

    client = httpx.Client(base_url=BASE, transport=httpx.MockTransport(answer))
    return CustomerInsights(
        ApiSession(client, retry_policy=RetryPolicy(max_attempts=1)), instance_id=INSTANCE
    )


def _check(call: str, name: str) -> None:
    run, prefixes = CALLS[call]
    seen: list[str] = []
    try:
        run(_client(seen), name)
    except ValueError:
        if name not in (".", ".."):
            assert seen == [], f"{call}({name!r}) was refused after {seen}"
            return
    except CustomerInsightsError:
        pass  # the fake service's 404
    if name in (".", ".."):
        assert seen == [], f"{call}({name!r}) sent {seen}"
        return
    quoted = quote(name, safe="")
    assert seen, f"{call}({name!r}) sent nothing"
    for path in seen:  # the name's own endpoint: exactly one path segment after a prefix
        assert any(path == p + quoted or path.startswith(p + quoted + "/") for p in prefixes), (
            quoted,
            seen,
        )


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("name", [".", "..", "./..", "..%2F", "a/../b", "%2e%2e", " .. "])
def test_dot_names_are_refused_and_odd_ones_reach_their_own_endpoint(call: str, name: str) -> None:
    _check(call, name)


@settings(max_examples=150, deadline=None)
@given(
    call=st.sampled_from(sorted(CALLS)),
    name=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12)
    | st.sampled_from([".", "..", "...", "./", "/", "?", "#", "%", "%2e", "\\.."]),
)
def test_every_name_reaches_its_own_endpoint_or_is_refused_first(call: str, name: str) -> None:
    _check(call, name)
