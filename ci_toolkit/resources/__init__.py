"""One module per Customer Insights resource; :class:`ci_toolkit.client.CustomerInsights`
composes them.

Each module's docstring lists the API operation behind every function. The modules import
nothing heavy at import time (pandas and tqdm load on first use).
"""

from __future__ import annotations

__all__: list[str] = []
