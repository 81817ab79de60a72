"""Settings of one emulator run (what ``ci-toolkit emulator`` flags and ``Emulator(...)`` take)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EmulatorConfig"]


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    """How the emulator serves, what demo data it builds and which faults it injects.

    Parameters
    ----------
    port
        TCP port on 127.0.0.1; 0 picks a free one.
    profiles
        Number of unified ``Customer`` profiles in the demo instance.
    seed
        Seed for the deterministic demo data.
    latency_ms
        Added latency per API request (an ``asyncio.sleep``, never blocking).
    rate_limit
        Requests per second allowed per subscription key (token bucket); ``None`` for none.
    fault_rate
        Share of API requests (0..1) answered with an injected fault
        (429 with ``Retry-After``, 503, dropped connection or slow response).
    token_lifetime
        Lifetime of issued access tokens, in seconds.
    time_scale
        Seconds of wall time per emulated workflow task step (small in tests).
    auto_approve
        Approve device codes without a person visiting ``/devicelogin``.
    auto_approve_role
        Which demo user auto-approval signs in as: ``admin``, ``contributor`` or ``viewer``.
    data_dir
        Folder where mutations persist across runs; ``None`` keeps them in memory.
    output_dir
        Folder where export tasks write their files; ``None`` uses a temporary folder.
        Data-out (Azure Data Lake) exports write their CDM folders into its
        ``customerinsights`` sub-folder (the container), or, when this is an fsspec URL
        such as ``abfs://customerinsights``, into that container.
    output_options
        fsspec ``storage_options`` for an ``output_dir`` URL (e.g. adlfs'
        ``connection_string``); adlfs also reads ``AZURE_STORAGE_*`` variables.
    lake_partition_rows
        Rows per CSV partition of data-out exports before a table is split into several.
    dataverse_rate_limit
        Dataverse service protection: requests per user per ``dataverse_window`` (6,000).
    dataverse_window
        Seconds of the Dataverse service protection window (300).
    dataverse_execution_ms
        Combined execution time per user per window, in milliseconds (1,200,000).
    dataverse_concurrency
        Concurrent Dataverse requests per user (52).
    dataverse_guid_order
        How the Dataverse API orders GUIDs: ``sqlserver`` (as SQL Server) or ``lexicographic``.
    """

    port: int = 0
    profiles: int = 2_000
    seed: int = 42
    latency_ms: float = 0.0
    rate_limit: float | None = None
    fault_rate: float = 0.0
    token_lifetime: int = 3600
    time_scale: float = 0.5
    auto_approve: bool = True
    auto_approve_role: str = "admin"
    data_dir: Path | None = None
    output_dir: Path | str | None = None
    output_options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    lake_partition_rows: int = 250_000
    dataverse_rate_limit: int = 6_000
    dataverse_window: float = 300.0
    dataverse_execution_ms: float = 1_200_000.0
    dataverse_concurrency: int = 52
    dataverse_guid_order: str = "sqlserver"
