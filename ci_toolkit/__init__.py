"""ci-toolkit: explore Dynamics 365 Customer Insights from Jupyter, as DataFrames and widgets.

``import ci_toolkit`` stays fast: ``connect`` and ``CustomerInsights`` (and with them httpx,
MSAL and pandas) load on first use.

Example
-------
>>> import ci_toolkit
>>> ci = ci_toolkit.connect()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["CustomerInsights", "__version__", "connect"]

if TYPE_CHECKING:
    from ci_toolkit.client import CustomerInsights
    from ci_toolkit.connection import connect

_LAZY = {
    "connect": ("ci_toolkit.connection", "connect"),
    "CustomerInsights": ("ci_toolkit.client", "CustomerInsights"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module_name), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ci_toolkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
