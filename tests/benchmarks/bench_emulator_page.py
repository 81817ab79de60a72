"""Emulator data room at scale: demo generation time and OData page latency.

Builds the demo with ``CI_BENCH_PROFILES`` profiles (default 1,000,000; about ten
activities each), then serves filtered 100-row pages over real HTTPS and prints the median
latency per query, plus the same queries straight on the DataStore (no HTTP).

Run with ``./dev bench emulator_page`` or ``.venv/bin/python -m tests.benchmarks emulator_page``.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.emulator.data.store import DataStore

QUERIES: list[tuple[str, dict[str, str]]] = [
    ("Customer", {"$filter": "Country eq 'Ireland'"}),
    ("Customer", {"$filter": "LoyaltyTier in ('Gold','Platinum') and EmailOptIn eq true"}),
    ("Customer", {"$filter": "IsMemberOfSegment('HighValueCustomers')"}),
    ("Customer", {"$filter": "startswith(LastName, 'O''')", "$select": "CustomerId,FullName"}),
    ("Customer", {"$search": "murphy"}),
    ("UnifiedActivity", {"$filter": "ActivityType eq 'Purchase' and Amount gt 100"}),
    ("Customer_Measure", {"$filter": "TotalSpend gt 500"}),
]
REPEAT = 25


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def main() -> None:
    """Measure and print generation time, page latencies and peak memory."""
    profiles = int(os.environ.get("CI_BENCH_PROFILES", "1000000"))
    now = datetime.now(UTC)
    started = time.perf_counter()
    for size in (2_000, 500):  # the default demo: production and sandbox instances
        DataStore(instance_id="bench", profiles=size, seed=42, now=now).close()
    print(f"default demo data (2,000 + 500 profiles): {time.perf_counter() - started:.2f} s")
    started = time.perf_counter()
    DataStore(instance_id="bench", profiles=profiles, seed=42, now=now).close()
    print(
        f"DataStore with {profiles:,} profiles (demo, measures, segments): "
        f"{time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    with Emulator(EmulatorConfig(profiles=profiles, seed=42)) as emu:
        ready = time.perf_counter() - started
        print(f"profiles: {profiles:,}; emulator ready (demo built) in {ready:.1f} s")
        settings = emu.settings
        headers = {
            "Authorization": f"Bearer {emu.mint_token(role='admin')}",
            "Ocp-Apim-Subscription-Key": settings.subscription_key,
        }
        store = emu.state.instances[settings.instance_id].data
        with httpx.Client(
            base_url=settings.base_url, verify=settings.ssl_context(), headers=headers, timeout=60
        ) as api:
            base = f"/instances/{settings.instance_id}/data"
            count = api.get(f"{base}/UnifiedActivity", params={"$count": "true", "$top": "0"})
            print(f"activities: {count.json()['@odata.count']:,}")
            all_http: list[float] = []
            for entity, params in QUERIES:
                samples: list[float] = []
                body: dict[str, Any] = {}
                for _ in range(REPEAT):
                    t0 = time.perf_counter()
                    response = api.get(f"{base}/{entity}", params=params)
                    samples.append(time.perf_counter() - t0)
                    assert response.status_code == 200, response.text
                    body = response.json()
                all_http.extend(samples)
                deep = body.get("@odata.nextLink")
                deep_ms = None
                if deep:
                    t0 = time.perf_counter()
                    for _ in range(5):
                        page = api.get(deep).json()
                        deep = page.get("@odata.nextLink") or deep
                    deep_ms = round((time.perf_counter() - t0) / 5 * 1000, 1)
                print(
                    f"HTTPS {entity} {params}: median {_median_ms(samples)} ms "
                    f"({len(body.get('value', []))} rows; next pages {deep_ms} ms)"
                )
            print(f"HTTPS median over all filtered pages: {_median_ms(all_http)} ms")
            if store is not None:
                direct: list[float] = []
                for entity, params in QUERIES:
                    for _ in range(REPEAT):
                        t0 = time.perf_counter()
                        store.odata_page(entity, params)
                        direct.append(time.perf_counter() - t0)
                print(f"DataStore.odata_page median (no HTTP): {_median_ms(direct)} ms")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
