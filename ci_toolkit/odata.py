"""Safe builders for OData ``$filter`` expressions.

Values are rendered as OData literals (strings quoted with ``'`` doubled, so ``O'Brien``
works; dates, datetimes, numbers, booleans, ``null``), attribute names are checked, and
expressions compose with ``&`` (and), ``|`` (or) and ``~`` (not)::

    >>> from datetime import date
    >>> from ci_toolkit.odata import F
    >>> str(F.eq("LastName", "O'Brien") & F.gt("BirthDate", date(1990, 1, 1)))
    "LastName eq 'O''Brien' and BirthDate gt 1990-01-01"

Every function accepting a ``filter=`` in the toolkit takes either a plain string or a
:class:`Filter` built here.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "F",
    "Filter",
    "all_of",
    "and_",
    "any_of",
    "contains",
    "endswith",
    "eq",
    "ge",
    "gt",
    "in_",
    "is_member_of_segment",
    "is_not_null",
    "is_null",
    "le",
    "literal",
    "lt",
    "ne",
    "not_",
    "or_",
    "raw",
    "render",
    "startswith",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")

# Operator precedence: higher binds tighter.
_PREC_OR = 1
_PREC_AND = 2
_PREC_ATOM = 9


class Filter:
    """An OData filter expression; ``str(f)`` is the text sent as ``$filter``.

    Compose with ``&`` (and), ``|`` (or) and ``~`` (not); parentheses are added only
    where precedence needs them.

    Examples
    --------
    >>> str(~(eq("Country", "US") | eq("Country", "CA")))
    "not (Country eq 'US' or Country eq 'CA')"
    """

    __slots__ = ("_prec", "_text")

    def __init__(self, text: str, *, precedence: int = _PREC_ATOM) -> None:
        self._text = text
        self._prec = precedence

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Filter({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)

    def __bool__(self) -> bool:
        raise TypeError(
            "A Filter has no truth value: combine filters with & | ~, not 'and' 'or' 'not'"
        )

    def _wrap(self, min_prec: int) -> str:
        return self._text if self._prec >= min_prec else f"({self._text})"

    def __and__(self, other: Filter | str) -> Filter:
        return and_(self, other)

    def __rand__(self, other: Filter | str) -> Filter:
        return and_(other, self)

    def __or__(self, other: Filter | str) -> Filter:
        return or_(self, other)

    def __ror__(self, other: Filter | str) -> Filter:
        return or_(other, self)

    def __invert__(self) -> Filter:
        return not_(self)


def _as_filter(value: Filter | str) -> Filter:
    if isinstance(value, Filter):
        return value
    if isinstance(value, str):
        # A hand-written string: parenthesise it to keep its meaning when combined.
        return Filter(value, precedence=_PREC_ATOM if _is_simple(value) else 0)
    raise TypeError(f"expected a Filter or a str, got {type(value).__name__}")


def _is_simple(text: str) -> bool:
    return not re.search(r"\s(and|or)\s|^not\s", text, flags=re.IGNORECASE)


def _name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"not a valid attribute name: {name!r}")
    return name


def literal(value: Any) -> str:
    """Render a Python value as an OData literal.

    ``str`` and ``uuid.UUID`` are quoted with ``'`` doubled; ``date`` renders as
    ``YYYY-MM-DD``; ``datetime`` as UTC ISO 8601 with ``Z`` (naive datetimes are taken
    as UTC); ``bool`` as ``true``/``false``; ``None`` as ``null``.

    Parameters
    ----------
    value : Any
        A str, int, float, Decimal, bool, None, date, datetime or UUID.

    Returns
    -------
    str
        The literal text.

    Raises
    ------
    TypeError
        For values that have no OData literal (lists, dicts, ...).
    ValueError
        For NaN or infinite floats.

    Examples
    --------
    >>> literal("O'Brien")
    "'O''Brien'"
    >>> literal(datetime(2024, 5, 1, 12, 30, tzinfo=UTC))
    '2024-05-01T12:30:00Z'
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, uuid.UUID):
        return f"'{value}'"
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no OData literal")
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value!r} has no OData literal")
        return str(value)
    # numpy / pandas scalars and Timestamps
    if hasattr(value, "to_pydatetime"):
        return literal(value.to_pydatetime())
    if hasattr(value, "item") and not isinstance(value, Iterable):
        return literal(value.item())
    raise TypeError(f"no OData literal for {type(value).__name__}: {value!r}")


def _compare(op: str, name: str, value: Any) -> Filter:
    return Filter(f"{_name(name)} {op} {literal(value)}")


def eq(name: str, value: Any) -> Filter:
    """``name eq value``.

    Examples
    --------
    >>> str(eq("LastName", "O'Brien"))
    "LastName eq 'O''Brien'"
    """
    return _compare("eq", name, value)


def ne(name: str, value: Any) -> Filter:
    """``name ne value``.

    Examples
    --------
    >>> str(ne("Country", "US"))
    "Country ne 'US'"
    """
    return _compare("ne", name, value)


def gt(name: str, value: Any) -> Filter:
    """``name gt value``.

    Examples
    --------
    >>> str(gt("BirthDate", date(1990, 1, 1)))
    'BirthDate gt 1990-01-01'
    """
    return _compare("gt", name, value)


def ge(name: str, value: Any) -> Filter:
    """``name ge value``.

    Examples
    --------
    >>> str(ge("Amount", 10))
    'Amount ge 10'
    """
    return _compare("ge", name, value)


def lt(name: str, value: Any) -> Filter:
    """``name lt value``.

    Examples
    --------
    >>> str(lt("Amount", 9.5))
    'Amount lt 9.5'
    """
    return _compare("lt", name, value)


def le(name: str, value: Any) -> Filter:
    """``name le value``.

    Examples
    --------
    >>> str(le("ActivityTime", datetime(2024, 1, 1, tzinfo=UTC)))
    'ActivityTime le 2024-01-01T00:00:00Z'
    """
    return _compare("le", name, value)


def is_null(name: str) -> Filter:
    """``name eq null``.

    Examples
    --------
    >>> str(is_null("Email"))
    'Email eq null'
    """
    return _compare("eq", name, None)


def is_not_null(name: str) -> Filter:
    """``name ne null``.

    Examples
    --------
    >>> str(is_not_null("Email"))
    'Email ne null'
    """
    return _compare("ne", name, None)


def in_(name: str, values: Iterable[Any]) -> Filter:
    """``name in (v1, v2, ...)``.

    Parameters
    ----------
    name : str
        The attribute.
    values : Iterable[Any]
        At least one value (a plain ``str`` is refused: pass a list).

    Returns
    -------
    Filter
        The expression.

    Examples
    --------
    >>> str(in_("CustomerId", ["a", "b"]))
    "CustomerId in ('a', 'b')"
    """
    if isinstance(values, str | bytes):
        raise TypeError("in_() takes a list of values, not a single string")
    items = [literal(v) for v in values]
    if not items:
        raise ValueError("in_() needs at least one value")
    return Filter(f"{_name(name)} in ({', '.join(items)})")


def _function(func: str, name: str, value: str) -> Filter:
    if not isinstance(value, str):
        raise TypeError(f"{func}() takes a string value, got {type(value).__name__}")
    return Filter(f"{func}({_name(name)}, {literal(value)})")


def contains(name: str, value: str) -> Filter:
    """``contains(name, 'value')``.

    Examples
    --------
    >>> str(contains("Email", "@contoso"))
    "contains(Email, '@contoso')"
    """
    return _function("contains", name, value)


def startswith(name: str, value: str) -> Filter:
    """``startswith(name, 'value')``.

    Examples
    --------
    >>> str(startswith("LastName", "O'"))
    "startswith(LastName, 'O''')"
    """
    return _function("startswith", name, value)


def endswith(name: str, value: str) -> Filter:
    """``endswith(name, 'value')``.

    Examples
    --------
    >>> str(endswith("Email", ".com"))
    "endswith(Email, '.com')"
    """
    return _function("endswith", name, value)


def is_member_of_segment(segment: str) -> Filter:
    """``IsMemberOfSegment('segment')``: profiles that are members of a segment.

    Examples
    --------
    >>> str(is_member_of_segment("HighValue"))
    "IsMemberOfSegment('HighValue')"
    """
    if not isinstance(segment, str) or not segment:
        raise ValueError("a segment name is required")
    return Filter(f"IsMemberOfSegment({literal(segment)})")


def raw(text: str) -> Filter:
    """Wrap hand-written OData text so it composes with the builders (not checked).

    Examples
    --------
    >>> str(raw("Amount gt 10 or Amount lt 1") & eq("Country", "US"))
    "(Amount gt 10 or Amount lt 1) and Country eq 'US'"
    """
    return _as_filter(text)


def and_(*parts: Filter | str) -> Filter:
    """Combine expressions with ``and``.

    Examples
    --------
    >>> str(and_(eq("A", 1), eq("B", 2)))
    'A eq 1 and B eq 2'
    """
    return _join("and", _PREC_AND, parts)


def or_(*parts: Filter | str) -> Filter:
    """Combine expressions with ``or``.

    Examples
    --------
    >>> str(or_(eq("A", 1), eq("B", 2)) & eq("C", 3))
    '(A eq 1 or B eq 2) and C eq 3'
    """
    return _join("or", _PREC_OR, parts)


all_of = and_
any_of = or_


def _join(op: str, prec: int, parts: tuple[Filter | str, ...]) -> Filter:
    filters = [_as_filter(p) for p in parts]
    if not filters:
        raise ValueError(f"{op}_() needs at least one expression")
    if len(filters) == 1:
        return filters[0]
    return Filter(f" {op} ".join(f._wrap(prec) for f in filters), precedence=prec)


def not_(part: Filter | str) -> Filter:
    """Negate an expression: ``not (...)``.

    Examples
    --------
    >>> str(not_(eq("Country", "US")))
    "not (Country eq 'US')"
    """
    inner = _as_filter(part)
    return Filter(f"not ({inner})")


def render(value: Filter | str | None) -> str | None:
    """The ``$filter`` text for a Filter, a string or None.

    Examples
    --------
    >>> render(eq("A", 1))
    'A eq 1'
    """
    if value is None:
        return None
    return str(_as_filter(value))


class F:
    """Namespace of the builders, for ``F.eq(...) & F.in_(...)`` style.

    Examples
    --------
    >>> str(F.eq("LastName", "O'Brien") & F.in_("Country", ["US", "CA"]))
    "LastName eq 'O''Brien' and Country in ('US', 'CA')"
    """

    eq = staticmethod(eq)
    ne = staticmethod(ne)
    gt = staticmethod(gt)
    ge = staticmethod(ge)
    lt = staticmethod(lt)
    le = staticmethod(le)
    in_ = staticmethod(in_)
    isin = staticmethod(in_)
    is_null = staticmethod(is_null)
    is_not_null = staticmethod(is_not_null)
    contains = staticmethod(contains)
    startswith = staticmethod(startswith)
    endswith = staticmethod(endswith)
    is_member_of_segment = staticmethod(is_member_of_segment)
    member_of = staticmethod(is_member_of_segment)
    and_ = staticmethod(and_)
    or_ = staticmethod(or_)
    not_ = staticmethod(not_)
    raw = staticmethod(raw)
    literal = staticmethod(literal)
