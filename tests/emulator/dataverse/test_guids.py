"""SQL Server's GUID order, in Python and in the emulator's SQL, and the deterministic keys."""

from __future__ import annotations

import random
import uuid

import duckdb
import pytest

from ci_toolkit.emulator.dataverse.guids import guid_sql, sort_key, sort_key_sql, table_guid


def test_sort_key_follows_the_documented_byte_order() -> None:
    assert sort_key("00112233-4455-6677-8899-AABBCCDDEEFF") == "aabbccddeeff88997766554433221100"
    # The example of "Comparing GUID and uniqueidentifier values" (sorted as SqlGuid).
    sql_order = [
        "2aaaaaaa-bbbb-cccc-dddd-1eeeeeeeeeee",
        "3aaaaaaa-bbbb-cccc-dddd-2eeeeeeeeeee",
        "1aaaaaaa-bbbb-cccc-dddd-3eeeeeeeeeee",
    ]
    assert sorted(sql_order, key=sort_key) == sql_order
    assert sorted(sql_order) != sql_order
    assert sort_key("{00112233-4455-6677-8899-aabbccddeeff}", order="lexicographic") == (
        "00112233-4455-6677-8899-aabbccddeeff"
    )
    with pytest.raises(ValueError, match="hexadecimal"):
        sort_key("not-a-guid")


def test_sort_key_matches_dotnet_sqlguid_rule() -> None:
    order = (10, 11, 12, 13, 14, 15, 8, 9, 6, 7, 4, 5, 0, 1, 2, 3)
    rng = random.Random(1)
    guids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(500)]

    def dotnet(g: str) -> bytes:
        raw = uuid.UUID(g).bytes_le
        return bytes(raw[i] for i in order)

    assert sorted(guids, key=sort_key) == sorted(guids, key=dotnet)


def test_the_sql_computes_the_same_keys() -> None:
    rng = random.Random(2)
    guids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(50)]
    con = duckdb.connect()
    digest = "md5('t|' || g)"
    for guid in guids:
        row = con.execute(
            f"SELECT {sort_key_sql('g')}, {guid_sql(digest)} FROM (SELECT ? AS g)", [guid]
        ).fetchone()
        assert row == (sort_key(guid), table_guid("t", guid))
