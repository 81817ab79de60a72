"""Deterministic demo data of a retail brand, generated vectorised into DuckDB.

Everything is drawn from one ``numpy`` generator seeded with the instance seed, so the same
seed and size always give the same rows. Columns are built as numpy arrays, handed to DuckDB
as Arrow tables, and string columns are composed in SQL (vectorised, multi-threaded).

Example
-------
>>> import duckdb
>>> con = duckdb.connect(":memory:")
>>> build_demo(con, profiles=100, seed=1, now=datetime(2024, 1, 1, tzinfo=UTC))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = [
    "ACTIVITY_SOURCES",
    "DATA_SOURCES",
    "SourceTable",
    "build_demo",
    "source_tables",
]

logger = logging.getLogger(__name__)

FIRST_NAMES_F = [
    "Emma", "Olivia", "Ava", "Sophia", "Mia", "Amelia", "Isla", "Grace", "Chloe", "Lucy",
    "Aoife", "Siobhan", "Niamh", "Saoirse", "Hannah", "Laura", "Sarah", "Julia", "Marie", "Anna",
    "Lena", "Sofía", "Lucía", "Chiara", "Giulia", "Zoë", "Renée", "Ingrid", "Freya", "Maja",
    "Priya", "Aisha", "Yuki", "Mei", "Fatima", "Chantal", "Élodie", "Margaux", "Nora", "Ella",
]  # fmt: skip
FIRST_NAMES_M = [
    "Liam", "Noah", "Oliver", "James", "Jack", "Harry", "Leo", "Lucas", "Ethan", "Daniel",
    "Seán", "Ciarán", "Oisín", "Patrick", "Conor", "Thomas", "David", "Michael", "Paul", "Mark",
    "Lukas", "Jonas", "Matteo", "Lorenzo", "Mateo", "Hugo", "Louis", "Jules", "Lars", "Erik",
    "Arjun", "Omar", "Hiroshi", "Wei", "Kwame", "José", "André", "Björn", "Finn", "Max",
]  # fmt: skip
LAST_NAMES = [
    "Murphy", "Kelly", "O'Brien", "O'Sullivan", "O'Connor", "O'Neill", "Walsh", "Byrne",
    "Ryan", "McCarthy", "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans",
    "Wilson", "Johnson", "Roberts", "Müller", "Schmidt", "Schneider", "Fischer", "Weber",
    "Rossi", "Russo", "Bianchi", "D'Angelo", "García", "Martínez", "López", "Fernández",
    "Dubois", "Lefèvre", "Moreau", "D'Arcy", "Jansen", "de Vries", "van Dijk", "Andersson",
    "Johansson", "Nielsen", "Hansen", "Kowalski", "Nowak", "Novák", "Silva", "Santos",
    "Patel", "Sharma", "Tanaka", "Sato", "Chen", "Wang", "Nguyen", "Kim", "Mensah", "Okafor",
    "N'Diaye", "Anderson", "Thompson", "White", "Harris", "Clark", "Lewis", "Young", "King",
]  # fmt: skip
CITIES = [
    ("Dublin", "Ireland", "+353"), ("Cork", "Ireland", "+353"), ("Galway", "Ireland", "+353"),
    ("London", "United Kingdom", "+44"), ("Manchester", "United Kingdom", "+44"),
    ("Edinburgh", "United Kingdom", "+44"), ("Bristol", "United Kingdom", "+44"),
    ("Berlin", "Germany", "+49"), ("Munich", "Germany", "+49"), ("Hamburg", "Germany", "+49"),
    ("Paris", "France", "+33"), ("Lyon", "France", "+33"), ("Madrid", "Spain", "+34"),
    ("Barcelona", "Spain", "+34"), ("Milan", "Italy", "+39"), ("Rome", "Italy", "+39"),
    ("Amsterdam", "Netherlands", "+31"), ("Rotterdam", "Netherlands", "+31"),
    ("Stockholm", "Sweden", "+46"), ("Copenhagen", "Denmark", "+45"),
    ("Warsaw", "Poland", "+48"), ("Lisbon", "Portugal", "+351"),
    ("New York", "United States", "+1"), ("Chicago", "United States", "+1"),
    ("Seattle", "United States", "+1"), ("Toronto", "Canada", "+1"),
]  # fmt: skip
CITY_WEIGHTS = np.array(
    [9, 4, 2, 9, 4, 3, 2, 6, 4, 3, 6, 3, 5, 3, 4, 3, 4, 2, 3, 3, 3, 2, 5, 3, 3, 3], dtype=float
)
EMAIL_DOMAINS = ["outlook.com", "gmail.com", "yahoo.com", "icloud.com", "proton.me", "example.org"]
LOYALTY_TIERS = ["Bronze", "Silver", "Gold", "Platinum"]
GENDERS = ["Female", "Male", "Other"]
STORES = ["Dublin Grafton St", "London Oxford St", "Berlin Mitte", "Paris Marais", "Online Outlet"]
PRODUCTS = ["shoes", "jackets", "jeans", "t-shirts", "bags", "accessories", "sale", "new-in"]
CAMPAIGNS = ["Summer Sale", "Black Friday", "New Season", "Loyalty Rewards", "Welcome Series"]
CASE_TOPICS = ["Late delivery", "Refund request", "Wrong size", "Damaged item", "Account help"]


@dataclass(frozen=True)
class SourceTable:
    """An ingested source table ``<DataSource>_<Table>`` and how it maps to the demo rows."""

    data_source: str
    table: str
    primary_key: str
    kind: str  # "profile" or "activity"
    activity_type: str | None = None

    @property
    def name(self) -> str:
        """The qualified entity name, ``<DataSource>_<Table>``."""
        return f"{self.data_source}_{self.table}"

    @property
    def alternate_key(self) -> str:
        """The column that keeps this profile table's key in ``Customer``."""
        return f"{self.name}_{self.primary_key}"


#: Data sources of the demo brand and their tables, in ingestion order.
DATA_SOURCES: dict[str, list[SourceTable]] = {
    "PosSystem": [
        SourceTable("PosSystem", "Customers", "PosCustomerId", "profile"),
        SourceTable("PosSystem", "Transactions", "TransactionId", "activity", "Purchase"),
    ],
    "Webshop": [
        SourceTable("Webshop", "Accounts", "AccountId", "profile"),
        SourceTable("Webshop", "PageViews", "PageViewId", "activity", "WebVisit"),
    ],
    "LoyaltyApp": [SourceTable("LoyaltyApp", "Members", "MemberId", "profile")],
    "EmailMarketing": [
        SourceTable("EmailMarketing", "Contacts", "ContactId", "profile"),
        SourceTable("EmailMarketing", "EmailOpens", "OpenId", "activity", "EmailOpen"),
    ],
    "ServiceDesk": [SourceTable("ServiceDesk", "Cases", "CaseId", "activity", "SupportCase")],
}

#: ActivityType -> the source table its activities come from.
ACTIVITY_SOURCES: dict[str, str] = {
    t.activity_type: t.name
    for tables in DATA_SOURCES.values()
    for t in tables
    if t.activity_type is not None
}

_ACTIVITY_TYPES = ["Purchase", "WebVisit", "EmailOpen", "SupportCase"]
_ACTIVITY_WEIGHTS = np.array([0.3, 0.4, 0.25, 0.05])
_PROFILE_SHARE = {"PosSystem": 0.7, "Webshop": 0.6, "LoyaltyApp": 0.45, "EmailMarketing": 0.75}


def source_tables() -> list[SourceTable]:
    """Every source table of every data source."""
    return [t for tables in DATA_SOURCES.values() for t in tables]


def _dict_array(indices: np.ndarray[Any, Any], values: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)), pa.array(values))


def _guids(rng: np.random.Generator, n: int) -> pa.StringArray:
    """``n`` distinct-looking customer ids, sorted ascending (vectorised).

    Each is a version-4 GUID written as 32 lowercase hex digits without hyphens, the form
    Microsoft's "OData query examples" give for ``{CID}`` (``ce759201f786d590bf2134bff576c369``).
    Fixed width and lowercase, they sort the same as text in Python and in DuckDB.
    """
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # variant
    order = np.lexsort(raw.T[::-1])
    raw = raw[order]
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = hexdigits[raw >> 4]
    nibbles[:, 1::2] = hexdigits[raw & 0x0F]
    offsets = np.arange(0, 32 * (n + 1), 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(nibbles.tobytes()))


def _masked(values: np.ndarray[Any, Any], present: np.ndarray[Any, Any]) -> pa.Array:
    return pa.array(values, mask=~present)


def build_demo(con: Any, *, profiles: int, seed: int, now: datetime) -> None:
    """Create ``Customer``, ``UnifiedActivity`` and the source tables in ``con``.

    Parameters
    ----------
    con
        A DuckDB connection; tables are created (or replaced) in it.
    profiles
        Number of unified customer profiles.
    seed
        Seed of the random generator: same seed, same rows.
    now
        The emulator's "now"; activity times and creation dates lie before it.
    """
    rng = np.random.default_rng(seed)
    n = max(int(profiles), 0)
    now_naive = now.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    now_us = np.datetime64(now_naive, "us")

    # ----- unified profiles ------------------------------------------------------------------
    ids = _guids(rng, n)
    gender = rng.choice(3, size=n, p=[0.5, 0.47, 0.03])
    first_f = rng.integers(0, len(FIRST_NAMES_F), n)
    first_m = rng.integers(0, len(FIRST_NAMES_M), n)
    # Names: female list for Female, male list for Male, either for Other.
    use_female = (gender == 0) | ((gender == 2) & (rng.random(n) < 0.5))
    first_idx = np.where(use_female, first_f, len(FIRST_NAMES_F) + first_m)
    last_idx = rng.integers(0, len(LAST_NAMES), n)
    city_idx = rng.choice(len(CITIES), size=n, p=CITY_WEIGHTS / CITY_WEIGHTS.sum())
    age_days = rng.integers(18 * 365, 85 * 365, n)
    birth = (now_us.astype("datetime64[D]") - age_days.astype("timedelta64[D]")).astype(
        "datetime64[us]"
    )
    created = now_us - rng.integers(30 * 86_400, 6 * 365 * 86_400, n).astype("timedelta64[s]")
    member = rng.random(n) < _PROFILE_SHARE["LoyaltyApp"]
    tier = rng.choice(4, size=n, p=[0.5, 0.3, 0.15, 0.05])
    in_source = {name: rng.random(n) < share for name, share in _PROFILE_SHARE.items()}
    # every profile comes from at least one source: default to the POS system
    anywhere = np.zeros(n, dtype=bool)
    for present in in_source.values():
        anywhere |= present
    in_source["PosSystem"] |= ~anywhere
    in_source["LoyaltyApp"] = member
    base = pa.table(
        {
            "CustomerId": ids,
            "idx": pa.array(np.arange(n, dtype=np.int64)),
            "FirstName": _dict_array(first_idx, FIRST_NAMES_F + FIRST_NAMES_M),
            "LastName": _dict_array(last_idx, LAST_NAMES),
            "Gender": _masked(np.array(GENDERS, dtype=object)[gender], rng.random(n) >= 0.04),
            "BirthDate": _masked(birth, rng.random(n) >= 0.08),
            "City": _dict_array(city_idx, [c[0] for c in CITIES]),
            "Country": _dict_array(city_idx, [c[1] for c in CITIES]),
            "CountryCode": _dict_array(city_idx, [c[2] for c in CITIES]),
            "Domain": _dict_array(rng.integers(0, len(EMAIL_DOMAINS), n), EMAIL_DOMAINS),
            "PhoneNumber": _masked(
                rng.integers(100_000_000, 999_999_999, n), rng.random(n) >= 0.15
            ),
            "HasEmail": pa.array(rng.random(n) >= 0.03),
            "EmailOptIn": pa.array(rng.random(n) < 0.62),
            "LoyaltyTier": _masked(np.array(LOYALTY_TIERS, dtype=object)[tier], member),
            "CreatedOn": pa.array(created.astype("datetime64[us]")),
            **{f"in_{name}": pa.array(present) for name, present in in_source.items()},
        }
    )
    con.register("demo_base", base)
    con.execute(
        """
        CREATE OR REPLACE TABLE Customer AS
        SELECT
            CustomerId,
            FirstName,
            LastName,
            FirstName || ' ' || LastName AS FullName,
            CASE WHEN HasEmail THEN
                lower(strip_accents(replace(replace(FirstName, '''', ''), ' ', ''))) || '.'
                || lower(strip_accents(replace(replace(LastName, '''', ''), ' ', '')))
                || CAST(idx % 997 AS VARCHAR) || '@' || Domain
            END AS Email,
            CASE WHEN PhoneNumber IS NOT NULL THEN
                CountryCode || ' ' || CAST(PhoneNumber AS VARCHAR)
            END AS Phone,
            Gender,
            BirthDate,
            City,
            Country,
            LoyaltyTier,
            EmailOptIn,
            CreatedOn,
            CASE WHEN in_PosSystem THEN 'POS-' || lpad(CAST(idx + 100001 AS VARCHAR), 10, '0')
                END AS PosSystem_Customers_PosCustomerId,
            CASE WHEN in_Webshop THEN 'WEB' || lpad(CAST(idx * 7 + 500000 AS VARCHAR), 10, '0')
                END AS Webshop_Accounts_AccountId,
            CASE WHEN in_LoyaltyApp THEN 'LOY-' || lpad(CAST(idx + 1 AS VARCHAR), 10, '0')
                END AS LoyaltyApp_Members_MemberId,
            CASE WHEN in_EmailMarketing
                THEN 'EM' || lpad(CAST(idx * 3 + 9000000 AS VARCHAR), 10, '0')
                END AS EmailMarketing_Contacts_ContactId
        FROM demo_base
        ORDER BY idx
        """
    )
    con.unregister("demo_base")
    del base

    # ----- activities ------------------------------------------------------------------------
    counts = rng.poisson(10, n)
    total = int(counts.sum())
    cust = np.repeat(np.arange(n, dtype=np.int64), counts)
    kind = rng.choice(len(_ACTIVITY_TYPES), size=total, p=_ACTIVITY_WEIGHTS)
    age_s = (rng.random(total) ** 1.6 * 730 * 86_400).astype(np.int64)
    times = now_us - age_s.astype("timedelta64[s]")
    amount = np.round(rng.lognormal(3.8, 0.8, total), 2)
    is_purchase = kind == 0
    detail = rng.integers(0, 40, total)
    activities = pa.table(
        {
            "n": pa.array(np.arange(total, dtype=np.int64)),
            "cust": pa.array(cust),
            "ActivityType": _dict_array(kind, _ACTIVITY_TYPES),
            "ActivityTime": pa.array(times.astype("datetime64[us]")),
            "Amount": _masked(amount, is_purchase),
            "Detail": pa.array(detail.astype(np.int32)),
        }
    )
    con.register("demo_activities", activities)
    con.register("demo_ids", pa.table({"CustomerId": ids, "idx": np.arange(n, dtype=np.int64)}))
    activity_sources = [ACTIVITY_SOURCES[t] for t in _ACTIVITY_TYPES]
    con.execute(
        """
        CREATE OR REPLACE TABLE UnifiedActivity AS
        SELECT
            'ACT-' || lpad(CAST(a.n + 1 AS VARCHAR), 10, '0') AS ActivityId,
            c.CustomerId,
            CAST(a.ActivityType AS VARCHAR) AS ActivityType,
            CASE a.ActivityType
                WHEN 'Purchase' THEN 'Purchase' WHEN 'WebVisit' THEN 'Web visit'
                WHEN 'EmailOpen' THEN 'Email open' ELSE 'Support case'
            END AS ActivityTypeDisplay,
            CAST(a.ActivityType AS VARCHAR) AS ActivityName,
            a.ActivityTime,
            a.Amount,
            CASE a.ActivityType
                WHEN 'Purchase' THEN 'Purchase at ' || list_extract($1, a.Detail % 5 + 1)
                WHEN 'WebVisit' THEN 'Viewed /products/' || list_extract($2, a.Detail % 8 + 1)
                WHEN 'EmailOpen' THEN 'Opened ''' || list_extract($3, a.Detail % 5 + 1) || ''''
                ELSE 'Case: ' || list_extract($4, a.Detail % 5 + 1)
            END AS Title,
            CASE a.ActivityType
                WHEN 'Purchase' THEN CASE WHEN a.Detail % 5 = 4 THEN 'Online' ELSE 'Store' END
                WHEN 'WebVisit' THEN 'Online'
                WHEN 'EmailOpen' THEN 'Email'
                ELSE 'Phone'
            END AS Channel,
            CASE a.ActivityType
                WHEN 'Purchase' THEN $5 WHEN 'WebVisit' THEN $6
                WHEN 'EmailOpen' THEN $7 ELSE $8
            END AS SourceEntity
        FROM demo_activities a
        JOIN demo_ids c ON c.idx = a.cust
        ORDER BY a.n
        """,
        [STORES, PRODUCTS, CAMPAIGNS, CASE_TOPICS, *activity_sources],
    )
    con.unregister("demo_activities")
    con.unregister("demo_ids")
    _create_source_views(con)
    logger.debug("demo data: %s profiles, %s activities", n, total)


def _create_source_views(con: Any) -> None:
    """Source tables as views over the unified tables (no copies of the rows).

    Every key is fixed-width and grows with the row position, so each view (like the unified
    tables) is stored in key order; OData paging relies on that.
    """
    for table in source_tables():
        name = table.name
        if table.kind == "profile":
            key = table.alternate_key
            con.execute(
                f"""
                CREATE OR REPLACE VIEW "{name}" AS
                SELECT "{key}" AS "{table.primary_key}", FirstName, LastName, Email, Phone,
                       City, Country, CreatedOn AS ModifiedOn
                FROM Customer WHERE "{key}" IS NOT NULL
                """
            )
        else:
            con.execute(
                f"""
                CREATE OR REPLACE VIEW "{name}" AS
                SELECT ActivityId AS "{table.primary_key}", CustomerId AS CustomerRef,
                       ActivityTime AS EventTime, Amount, Title AS Subject, Channel
                FROM UnifiedActivity WHERE SourceEntity = '{name}'
                """
            )
