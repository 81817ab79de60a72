"""Rebatcher: frames in, pieces of exactly ``size`` rows out, in order."""

from __future__ import annotations

import pandas as pd
import pytest

from ci_toolkit.bulk.rebatch import Rebatcher


def test_rebatcher_cuts_frames_into_pieces_of_exactly_size_rows_in_order() -> None:
    cut = Rebatcher(4)
    pieces = [
        pd.concat(full)["a"].tolist()
        for frame in (pd.DataFrame({"a": range(3)}), pd.DataFrame({"a": range(3, 13)}))
        for full in cut.add(frame)
    ]
    assert pieces == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert cut.rows == 1
    assert pd.concat(cut.take())["a"].tolist() == [12]
    assert cut.take() == []
    with pytest.raises(ValueError, match="at least 1"):
        Rebatcher(0)
