"""The message of a pull cut short because the service stopped answering.

The error itself is :class:`~ci_toolkit.exceptions.PullInterruptedError` (with the rows read
in ``partial`` and the arguments to resume in ``resume``); this module words its message
the same way for every kind of pull.

Example
-------
>>> msg = interrupted_message(cause=OSError("refused"), entity="T", rows=0, pages=0,
...     call="query", resume={}, kept="nothing was read")
>>> msg.startswith("The service is unreachable: refused.")
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ci_toolkit.exceptions import PullInterruptedError

__all__ = ["interrupted_message", "saved_interruption"]


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


def saved_interruption(
    exc: PullInterruptedError, entity: str, *, call: str
) -> PullInterruptedError:
    """``exc`` again, its message saying where ``to_parquet`` kept the rows read.

    ``call`` is the method as the user wrote it (``to_parquet``, ``dataverse.to_parquet``):
    the hint shows how to write only the rest with it.
    """
    message = interrupted_message(
        cause=exc.__cause__ or exc, entity=entity, rows=exc.rows_fetched,
        pages=exc.pages_fetched, call=call, resume=exc.resume,
        kept=f"the {exc.rows_saved:,} rows read are saved in order in {exc.saved_to} "
        "(a valid Parquet file)",
        hint=f"ci.{call}('rest.parquet', {entity!r}, **err.resume) writes only the rest, "
        "and pd.read_parquet of both files is the whole pull",
    )  # fmt: skip
    error = PullInterruptedError(
        message, entity=entity, rows_fetched=exc.rows_fetched, pages_fetched=exc.pages_fetched,
        resume=exc.resume,
    )  # fmt: skip
    error.saved_to, error.rows_saved = exc.saved_to, exc.rows_saved
    return error
