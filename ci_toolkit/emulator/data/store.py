"""Per-instance data: the demo tables in DuckDB, entity metadata, segments and measures.

(Skeleton: the data part of the emulator fleshes this out; keep the constructor signature.)
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

__all__ = ["DataStore"]


class DataStore:
    """All data of one emulated instance."""

    def __init__(
        self,
        *,
        instance_id: str,
        profiles: int,
        seed: int,
        now: datetime,
        data_dir: Path | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.profiles = profiles
        self.seed = seed
        self.now = now
        self.data_dir = data_dir

    def close(self) -> None:
        """Release the database."""
