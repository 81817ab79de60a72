"""The emulator's parsing of non-negative integers in text (query options, cron fields).

The emulator stands for the service and imports nothing from the client side
(``tests/unit/test_layers.py``), so the client's ``ci_toolkit._numbers`` is its own copy.

``str.isdigit`` is true for ``"²"`` and ``"١٢"``, which ``int`` then refuses or reads as
another number: :func:`parse_digits` takes ASCII digits only, and never converts a string
so long that ``int`` would refuse it (Python limits that to 4,300 digits).
"""

from __future__ import annotations

__all__ = ["INT64_MAX", "parse_digits"]

#: The largest value of a 64-bit signed integer (OData's ``Edm.Int64``, .NET's ``long``).
INT64_MAX = 2**63 - 1


def parse_digits(text: str, maximum: int = INT64_MAX) -> int | None:
    """``text`` as a non-negative integer, or ``None`` when it is not one up to ``maximum``.

    Only the ASCII digits 0-9 count (surrounding whitespace is not stripped).

    Examples
    --------
    >>> parse_digits("042"), parse_digits("²"), parse_digits("-1"), parse_digits("")
    (42, None, None, None)
    >>> parse_digits("9" * 5000) is None, parse_digits("300", maximum=255) is None
    (True, True)
    """
    if not (text.isascii() and text.isdigit()):
        return None
    if len(text.lstrip("0")) > len(str(maximum)):
        return None
    value = int(text)
    return value if value <= maximum else None
