"""``F`` expressions rendered for the Dataverse Web API.

The :class:`~ci_toolkit.odata.F` builder writes OData as the v1 API reads it. Dataverse reads
a few things differently (DATAVERSE-NOTES sections 5, 6 and 11), so a :class:`Filter` built
with ``F`` is rewritten, knowing the table's column types, before it is sent:

- a GUID compared with a ``Uniqueidentifier`` or lookup column is unquoted
  (``msdynci_customerprofileid eq 6f1c...``); ``msdynci_customerid`` is a String and stays
  quoted;
- a date compared with a ``DateTime`` column becomes midnight UTC (``2024-01-01T00:00:00Z``);
- ``in_`` becomes ``or`` of ``eq`` (OData 4.01's ``in`` is not available);
- in ``contains``/``startswith``/``endswith`` values, ``%``, ``_`` and ``[`` are wildcards on
  Dataverse: they are escaped (``[_]``) so they match themselves, as they do on v1;
- ``IsMemberOfSegment`` exists only on v1: a clear error names the Dataverse read instead.

A plain string is sent as written (it is the user's own Dataverse OData).

Example
-------
>>> import uuid
>>> from ci_toolkit.odata import F
>>> types = {"msdynci_customerprofileid": "Uniqueidentifier", "msdynci_lastname": "String"}
>>> key = uuid.UUID("6f1c0a52-1d2e-4a8b-9c3d-2e1f0a9b8c7d")
>>> dataverse_filter(F.eq("msdynci_customerprofileid", key), types)
'msdynci_customerprofileid eq 6f1c0a52-1d2e-4a8b-9c3d-2e1f0a9b8c7d'
>>> dataverse_filter(F.contains("msdynci_lastname", "O_B"), types)
"contains(msdynci_lastname,'O[_]B')"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ci_toolkit.odata import Filter, render

__all__ = ["GUID_TYPES", "dataverse_filter", "like_escape"]

GUID_TYPES = frozenset({"Uniqueidentifier", "Lookup", "Owner", "Customer"})
"""Attribute types whose values are ``Edm.Guid`` (compared without quotes)."""
_DATETIME_TYPES = frozenset({"DateTime"})
_TOKEN = re.compile(r"'(?:[^']|'')*'|\s+|[(),]|[^\s(),']+")
_GUID = re.compile(r"'([0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})'")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_COMPARE = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_FUNCTIONS = frozenset({"contains", "startswith", "endswith"})


@dataclass
class _Tok:
    text: str
    space: bool  # whitespace came before it


def like_escape(value: str) -> str:
    """Escape Dataverse's ``LIKE`` wildcards (``%``, ``_``, ``[``) so they match themselves.

    Examples
    --------
    >>> like_escape("50%_off[1]")
    '50[%][_]off[[]1]'
    """
    return re.sub(r"([%_\[])", r"[\1]", value)


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    space = False
    pos = 0
    for match in _TOKEN.finditer(text):
        if match.start() != pos:  # an unterminated quote: leave the rest as one token
            break
        pos = match.end()
        piece = match.group()
        if piece.isspace():
            space = True
            continue
        out.append(_Tok(piece, space))
        space = False
    if pos != len(text):
        out.append(_Tok(text[pos:], True))
    return out


def _column_type(types: Mapping[str, str], name: str) -> str | None:
    if name in types:
        return types[name]
    match = re.fullmatch(r"_(.+)_value", name)
    return types.get(match.group(1)) if match else None


def _literal(value: str, column_type: str | None) -> str:
    if column_type in GUID_TYPES:
        guid = _GUID.fullmatch(value)
        if guid:
            return guid.group(1).lower()
    if column_type in _DATETIME_TYPES and _DATE.fullmatch(value):
        return f"{value}T00:00:00Z"
    return value


def _rewrite(tokens: list[_Tok], types: Mapping[str, str]) -> list[_Tok]:
    out: list[_Tok] = []
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        word = tok.text
        if word.lower() == "ismemberofsegment" and i + 1 < n and tokens[i + 1].text == "(":
            raise ValueError(
                "IsMemberOfSegment() is a v1 API filter; on Dataverse read the members with "
                "ci.segment_members(name, source='dataverse') or "
                "ci.dataverse.segment_members(name)."
            )
        # fn ( name , 'value' )
        if (
            word in _FUNCTIONS
            and i + 5 < n
            and tokens[i + 1].text == "("
            and tokens[i + 3].text == ","
            and tokens[i + 4].text.startswith("'")
            and tokens[i + 5].text == ")"
        ):
            value = tokens[i + 4].text[1:-1].replace("''", "'")
            escaped = "'" + like_escape(value).replace("'", "''") + "'"
            out.append(_Tok(f"{word}({tokens[i + 2].text},{escaped})", tok.space))
            i += 6
            continue
        # name in ( v1 , v2 ... )
        if i + 2 < n and tokens[i + 1].text == "in" and tokens[i + 2].text == "(":
            j = i + 3
            values: list[str] = []
            while j < n and tokens[j].text != ")":
                if tokens[j].text != ",":
                    values.append(tokens[j].text)
                j += 1
            column_type = _column_type(types, word)
            parts = [f"{word} eq {_literal(v, column_type)}" for v in values]
            text = parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"
            out.append(_Tok(text, tok.space))
            i = j + 1
            continue
        # name op literal
        if i + 2 < n and tokens[i + 1].text in _COMPARE:
            column_type = _column_type(types, word)
            out.append(tok)
            out.append(tokens[i + 1])
            operand = tokens[i + 2]
            out.append(_Tok(_literal(operand.text, column_type), operand.space))
            i += 3
            continue
        out.append(tok)
        i += 1
    return out


def dataverse_filter(value: Filter | str | None, types: Mapping[str, str]) -> str | None:
    """The ``$filter`` text to send to Dataverse for an ``F`` expression or a string.

    Parameters
    ----------
    value : Filter or str or None
        An expression built with :class:`~ci_toolkit.odata.F` (rewritten as the module
        docstring says) or a string (sent as written).
    types : Mapping[str, str]
        Column logical name -> Dataverse ``AttributeType`` of the table read.

    Returns
    -------
    str or None
        The filter text, or ``None`` for no filter.

    Raises
    ------
    ValueError
        For ``IsMemberOfSegment`` (v1 only).

    Examples
    --------
    >>> from datetime import date
    >>> from ci_toolkit.odata import F
    >>> dataverse_filter(F.gt("msdynci_activitytime", date(2024, 1, 1)),
    ...                  {"msdynci_activitytime": "DateTime"})
    'msdynci_activitytime gt 2024-01-01T00:00:00Z'
    >>> dataverse_filter(F.in_("msdynci_customerid", ["a", "b"]), {})
    "(msdynci_customerid eq 'a' or msdynci_customerid eq 'b')"
    """
    if value is None:
        return None
    if not isinstance(value, Filter):
        return render(value)
    tokens = _rewrite(_tokens(str(value)), types)
    pieces: list[str] = []
    for index, token in enumerate(tokens):
        if index and token.space:
            pieces.append(" ")
        pieces.append(token.text)
    return "".join(pieces)
