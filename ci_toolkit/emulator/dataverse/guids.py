"""GUIDs of the Dataverse tables: deterministic keys and the order SQL Server gives them.

Dataverse keeps ``uniqueidentifier`` values in SQL Server, which compares them by byte
groups with the last six bytes most significant (.NET ``SqlGuid``: bytes of
``Guid.ToByteArray()`` in the order 10..15, 8, 9, 6, 7, 4, 5, 0..3). Python's ``uuid`` and
string order differ, so a client must never cut key ranges by its own ordering. The emulator
orders GUID columns by a *sort key*: the GUID's hex digits rearranged so that comparing the
keys as strings is SQL Server's comparison (or, as the alternative, the plain lower-case
text, ``lexicographic``).

Example
-------
>>> sort_key("00112233-4455-6677-8899-aabbccddeeff")
'aabbccddeeff88997766554433221100'
>>> sort_key("00112233-4455-6677-8899-aabbccddeeff", order="lexicographic")
'00112233-4455-6677-8899-aabbccddeeff'
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Literal

__all__ = ["GUID_ORDERS", "GuidOrder", "guid_sql", "sort_key", "sort_key_sql", "table_guid"]

logger = logging.getLogger(__name__)

GuidOrder = Literal["sqlserver", "lexicographic"]
#: The GUID orders the emulator can apply (``sqlserver`` is the default).
GUID_ORDERS: tuple[GuidOrder, ...] = ("sqlserver", "lexicographic")

#: (start, length) of the hex pairs of a hyphenated GUID, most significant first in SQL Server.
_SQLSERVER_PARTS = (
    (25, 12),  # bytes 10..15: the last group, left to right
    (20, 4),  # bytes 8, 9: the fourth group
    (17, 2), (15, 2),  # the third group, byte-swapped
    (12, 2), (10, 2),  # the second group, byte-swapped
    (7, 2), (5, 2), (3, 2), (1, 2),  # the first group, byte-reversed
)  # fmt: skip


def sort_key(guid: str, *, order: GuidOrder = "sqlserver") -> str:
    """The text whose string order is ``order``'s order of ``guid``.

    Raises
    ------
    ValueError
        When ``guid`` is not a GUID.
    """
    text = str(uuid.UUID(guid.strip().strip("{}")))
    if order == "lexicographic":
        return text
    return "".join(text[start - 1 : start - 1 + length] for start, length in _SQLSERVER_PARTS)


def sort_key_sql(column_sql: str, *, order: GuidOrder = "sqlserver") -> str:
    """DuckDB SQL computing :func:`sort_key` of a lower-case hyphenated GUID column."""
    if order == "lexicographic":
        return column_sql
    parts = [f"substr({column_sql}, {start}, {length})" for start, length in _SQLSERVER_PARTS]
    return "(" + " || ".join(parts) + ")"


def table_guid(table: str, identifier: str) -> str:
    """The deterministic key of a row: an MD5 of ``<table>|<identifier>`` as a GUID.

    Customer Insights says its keys are "generated from Identifier" without the algorithm;
    this is the emulator's (``guid_sql`` computes the same in SQL).

    Example
    -------
    >>> len(table_guid("msdynci_customerprofile", "abc"))
    36
    """
    return str(uuid.UUID(hashlib.md5(f"{table}|{identifier}".encode()).hexdigest()))


def guid_sql(digest_sql: str) -> str:
    """DuckDB SQL formatting a 32-digit MD5 hex expression as a GUID (see :func:`table_guid`)."""
    d = digest_sql
    return (
        f"(substr({d}, 1, 8) || '-' || substr({d}, 9, 4) || '-' || substr({d}, 13, 4) || '-' "
        f"|| substr({d}, 17, 4) || '-' || substr({d}, 21, 12))"
    )
