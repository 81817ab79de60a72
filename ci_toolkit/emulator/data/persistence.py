"""The JSON files an emulator run keeps in ``--data-dir``: read whole or refused, written whole.

A file that exists but cannot be read (not UTF-8, not JSON, not the shape expected, a folder
in its place, no permission) stops the emulator from starting with a :class:`DataDirError`
that names the file and the fix. Carrying on instead would start from the demo definitions
and overwrite the file, with the user's definitions in it, at the first change.

Example
-------
>>> read_json(Path("/nonexistent/segments-and-measures.json"), expect=dict) is None
True
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["DEFINITIONS_FILE", "DataDirError", "read_definitions", "read_json", "write_json"]

logger = logging.getLogger(__name__)

#: File in an instance's data folder holding segment and measure definitions (and segment
#: size history).
DEFINITIONS_FILE = "segments-and-measures.json"


class DataDirError(ValueError):
    """A file in ``--data-dir`` that exists but cannot be read; the emulator does not start.

    Parameters
    ----------
    path
        The file.
    reason
        What is wrong with it (one line).

    Examples
    --------
    >>> str(DataDirError(Path("d/x.json"), "it is not JSON"))  # doctest: +ELLIPSIS
    'cannot read d/x.json: it is not JSON; repair the file or move it out of the way ...'
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = " ".join(reason.split())  # one line
        self.message = (
            f"cannot read {path}: {self.reason}; repair the file or move it out of the way "
            "(the emulator then starts from its demo data) and start again. The emulator "
            "never overwrites a file it cannot read."
        )
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a " + type(value).__name__.replace("str", "string").replace("NoneType", "null")


def read_json(path: Path, *, expect: type[dict[str, Any]] | type[list[Any]]) -> Any:
    """The JSON value in ``path`` (a dict or list, as ``expect`` says); ``None`` if no file.

    Raises
    ------
    DataDirError
        When the file exists but cannot be read, is not UTF-8 JSON or holds another type.

    Examples
    --------
    >>> read_json(Path("/nonexistent.json"), expect=list) is None
    True
    """
    if not os.path.lexists(path):
        return None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataDirError(path, exc.strerror or type(exc).__name__) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataDirError(path, f"it is not UTF-8 text (byte {exc.start})") from exc
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise DataDirError(path, f"it is not valid JSON ({exc})") from exc
    if not isinstance(value, expect):
        wanted = "an object" if expect is dict else "an array"
        raise DataDirError(path, f"it holds {_kind(value)} where {wanted} was expected")
    return value


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` to ``path`` as JSON, atomically (a temporary file, then a rename).

    Examples
    --------
    >>> write_json(Path(tmp) / "x.json", {"a": 1})  # doctest: +SKIP
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=1)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_definitions(data_dir: Path | None) -> dict[str, Any] | None:
    """The saved segments, segment history and measures of one instance, checked.

    ``None`` when there is no folder or no file yet (the demo definitions apply).

    Raises
    ------
    DataDirError
        When the file cannot be read or does not hold what :meth:`DataStore._save
        <ci_toolkit.emulator.data.store.DataStore>` writes.

    Examples
    --------
    >>> read_definitions(None) is None
    True
    """
    if data_dir is None:
        return None
    path = data_dir / DEFINITIONS_FILE
    loaded: dict[str, Any] | None = read_json(path, expect=dict)
    if loaded is None:
        return None
    for key in ("segments", "measures"):
        records = loaded.get(key, [])
        if not isinstance(records, list) or not all(
            isinstance(r, dict) and isinstance(r.get("name"), str) for r in records
        ):
            raise DataDirError(path, f"'{key}' is not an array of objects with a 'name'")
    history = loaded.get("segmentHistory", {})
    if not isinstance(history, dict) or not all(
        isinstance(points, list) and all(isinstance(p, dict) for p in points)
        for points in history.values()
    ):
        raise DataDirError(path, "'segmentHistory' is not an object of arrays of objects")
    logger.info("definitions loaded from %s", path)
    return loaded
