"""ci-toolkit: explore Dynamics 365 Customer Insights from Jupyter, as DataFrames and widgets."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
