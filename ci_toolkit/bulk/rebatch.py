"""DataFrames in, pieces of a fixed number of rows out, in order (for batches and row groups).

Example
-------
>>> import pandas as pd
>>> cut = Rebatcher(4)
>>> [sum(map(len, full)) for full in cut.add(pd.DataFrame({"a": range(10)}))]
[4, 4]
>>> sum(map(len, cut.take()))
2
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Rebatcher"]


class Rebatcher:
    """Cuts a stream of frames into lists of frames holding exactly ``size`` rows together.

    Parameters
    ----------
    size : int
        Rows per piece.

    Attributes
    ----------
    held : list[pandas.DataFrame]
        Rows added but not yet handed out (fewer than ``size``), in order.
    rows : int
        Rows in ``held``.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, not {size}")
        self.size = size
        self.held: list[pd.DataFrame] = []
        self.rows = 0

    def add(self, frame: pd.DataFrame) -> Iterator[list[pd.DataFrame]]:
        """Hold ``frame``'s rows; yield each piece of ``size`` rows as it fills up."""
        start = 0
        while start < len(frame):
            part = frame.iloc[start : start + self.size - self.rows]
            self.held.append(part)
            self.rows += len(part)
            start += len(part)
            if self.rows >= self.size:
                yield self.take()

    def take(self) -> list[pd.DataFrame]:
        """The rows held (possibly fewer than ``size``, possibly none), no longer held."""
        held, self.held, self.rows = self.held, [], 0
        return held
