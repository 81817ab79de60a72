"""Runs workflow jobs of one instance: tasks in dependency order, on an emulated time scale.

(Skeleton: the workflows part of the emulator fleshes this out; keep the constructor signature.)
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ci_toolkit.emulator.data.store import DataStore

__all__ = ["WorkflowEngine"]


class WorkflowEngine:
    """Jobs, history, refresh graph, schedules and exports of one instance."""

    def __init__(
        self,
        *,
        data: DataStore,
        time_scale: float,
        output_dir: Path,
        seed: int,
        now: datetime,
        data_dir: Path | None = None,
    ) -> None:
        self.data = data
        self.time_scale = time_scale
        self.output_dir = output_dir
        self.seed = seed
        self.now = now
        self.data_dir = data_dir

    def close(self) -> None:
        """Stop running jobs."""
