"""What one OData page is (:class:`ODataPage`) and where it starts (:class:`Paging`).

A page holds at most :data:`PAGE_SIZE` rows. Its ``$skiptoken`` continues after the last
key (keyset paging, when the query is in key order) or at an offset; ``$top`` limits the
rows over all pages and ``$skip`` applies to the first page only.

Example
-------
>>> paging = Paging(fingerprint=1, token=None, skip=10, top=150, keyset=True)
>>> paging.offset, paging.size(PAGE_SIZE)
(10, 100)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ci_toolkit.emulator.data.odata import SkipToken

__all__ = ["PAGE_SIZE", "ODataPage", "Paging"]

#: Rows per page, as the service sends them.
PAGE_SIZE = 100


@dataclass
class ODataPage:
    """One page of an OData query: the rows as JSON text, the count and the next token.

    ``value`` is the JSON array of the rows exactly as the response carries it; ``rows``
    decodes it (for tests and callers that want dicts).

    Examples
    --------
    >>> ODataPage("Customer", b'[{"CustomerId":"a"}]', 1, None, None).rows
    [{'CustomerId': 'a'}]
    """

    entity: str
    value: bytes
    count: int | None
    next_token: str | None
    select: list[str] | None

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready dicts (decoded from :attr:`value`)."""
        rows: list[dict[str, Any]] = orjson.loads(self.value)
        return rows


@dataclass(frozen=True)
class Paging:
    """Where a page starts and how its next token is made (``$skip``, ``$top``, token).

    Examples
    --------
    >>> Paging(1, None, None, 5, keyset=True).next_token(more=True, last_key="k", size=5)
    """

    fingerprint: int
    token: SkipToken | None
    skip: int | None
    top: int | None
    keyset: bool

    @property
    def offset(self) -> int:
        """Rows to skip before the page (``$skip`` on the first page, then the token's)."""
        return (self.skip or 0) if self.token is None else self.token.offset

    @property
    def remaining(self) -> int | None:
        """Rows ``$top`` still allows (``None``: no limit)."""
        return self.top if self.token is None else self.token.remaining

    def size(self, page_size: int) -> int:
        """Rows on this page at most."""
        remaining = self.remaining
        return page_size if remaining is None else min(page_size, remaining)

    def next_token(self, *, more: bool, last_key: str | None, size: int) -> str | None:
        """The next page's ``$skiptoken``, or ``None`` on the last page."""
        remaining = self.remaining
        left = None if remaining is None else remaining - size
        if not more or (left is not None and left <= 0) or last_key is None:
            return None
        if self.keyset:
            return SkipToken(query=self.fingerprint, after=last_key, remaining=left).encode()
        return SkipToken(query=self.fingerprint, offset=self.offset + size, remaining=left).encode()
