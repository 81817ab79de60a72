"""The error of a pull cut short because the service stopped answering, with what it read.

A pull that loses the service part-way (after the retries) raises
:class:`PullInterruptedError`, a :class:`~ci_toolkit.exceptions.ServiceUnreachableError`
that keeps everything needed to carry on without reading a row twice:

- ``partial``: the rows already read and not yet handed to you, typed as the pull types
  them (for ``query``: every row read in order; for ``iter_batches``: the rows after the
  last batch it yielded; for ``iter_pages``: empty, you hold every page already);
- ``resume``: keyword arguments for the same call (``ci.query(entity, **err.resume)``,
  ``ci.iter_pages`` or ``ci.iter_batches``) that read exactly the rows still missing: the
  key-range ``filter`` after the last key read for a pull in key order, or the
  ``next_link`` of the page that failed for a pull following ``@odata.nextLink``;
- ``rows_fetched`` and ``pages_fetched``: how far the pull got;
- ``saved_to`` and ``rows_saved``: for ``to_parquet``, the kept ``<path>.partial`` file (a
  valid Parquet file) holding the rows read, in order.

Example
-------
>>> import pandas as pd
>>> err = PullInterruptedError(
...     "the service is unreachable", entity="Customer", rows_fetched=200, pages_fetched=2,
...     partial=pd.DataFrame({"CustomerId": ["a", "b"]}), resume={"filter": "CustomerId gt 'b'"})
>>> err.resume
{'filter': "CustomerId gt 'b'"}
>>> isinstance(err, ServiceUnreachableError)
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_toolkit.exceptions import ServiceUnreachableError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PullInterruptedError", "interrupted_message"]


class PullInterruptedError(ServiceUnreachableError):
    """A pull stopped because the service became unreachable; the rows read are kept.

    Parameters
    ----------
    message : str
        What happened, how far the pull got and how to resume (scrubbed of secrets).
    entity : str
        The entity being read.
    rows_fetched : int
        Rows read before the service was lost (including rows already handed over).
    pages_fetched : int
        Pages (responses) read before the service was lost.
    partial : pandas.DataFrame or None
        The rows read and not yet handed over, typed; ``None`` when there are none to keep.
    resume : Mapping[str, Any]
        Keyword arguments that make the same call read only the rows still missing.
    secrets : Iterable[str or None]
        Secret values to scrub from ``message``.

    Attributes
    ----------
    entity, rows_fetched, pages_fetched, partial, resume
        As the parameters.
    saved_to : pathlib.Path or None
        Where ``to_parquet`` kept the rows read (``<path>.partial``), if anywhere.
    rows_saved : int
        Rows in ``saved_to``.

    Examples
    --------
    >>> try:  # doctest: +SKIP
    ...     df = ci.query("Customer")
    ... except PullInterruptedError as err:
    ...     df = pd.concat([err.partial, ci.query("Customer", **err.resume)])
    """

    def __init__(
        self,
        message: str,
        *,
        entity: str,
        rows_fetched: int,
        pages_fetched: int,
        partial: pd.DataFrame | None = None,
        resume: Mapping[str, Any] | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        super().__init__(message, secrets=secrets)
        self.entity = entity
        self.rows_fetched = rows_fetched
        self.pages_fetched = pages_fetched
        self.partial = partial
        self.resume: dict[str, Any] = dict(resume or {})
        self.saved_to: Path | None = None
        self.rows_saved = 0

    @property
    def next_link(self) -> str | None:
        """The ``@odata.nextLink`` to continue from, for a pull that follows links."""
        link = self.resume.get("next_link")
        return None if link is None else str(link)


def interrupted_message(
    *,
    cause: BaseException,
    entity: str,
    rows: int,
    pages: int,
    call: str,
    resume: Mapping[str, Any],
    kept: str,
    hint: str | None = None,
) -> str:
    """The message of a :class:`PullInterruptedError`: unreachable, how far, how to resume.

    Parameters
    ----------
    cause : BaseException
        The last error, naming the request that failed (its message is quoted).
    entity : str
        The entity being read.
    rows, pages : int
        Rows and pages read before the failure.
    call : str
        The method to call again (``query``, ``iter_pages``, ``iter_batches``).
    resume : Mapping[str, Any]
        The keyword arguments of :attr:`PullInterruptedError.resume`.
    kept : str
        Where the rows read are (e.g. ``err.partial holds them``).
    hint : str or None
        How to resume, when not ``ci.<call>(entity, **err.resume)``.

    Returns
    -------
    str
        One paragraph.

    Examples
    --------
    >>> interrupted_message(cause=OSError("GET /x: refused"), entity="T", rows=200, pages=2,
    ...     call="query", resume={"filter": "Id gt 'b'"}, kept="err.partial holds them")
    ... # doctest: +ELLIPSIS
    "The service is unreachable: GET /x: refused The pull of 'T' stopped after 2 pages ..."
    """
    if hint is None:
        hint = f"ci.{call}({entity!r}, **err.resume)"
        if "next_link" in resume:
            hint += " reads only the rest, from the page that failed (err.next_link)"
        elif "filter" in resume and rows:
            hint += f" reads only the rest ($filter {resume['filter']})"
        else:
            hint += " starts it again"
    reason = str(getattr(cause, "message", None) or cause or type(cause).__name__).strip()
    if not reason.endswith("."):
        reason += "."
    return (
        f"The service is unreachable: {reason} The pull of {entity!r} stopped after "
        f"{pages:,} pages ({rows:,} rows read); {kept}. When the service answers again, "
        f"{hint}."
    )
