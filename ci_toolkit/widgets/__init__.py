"""Notebook widgets (ipywidgets only, no HTTP code), one widget per module.

Example
-------
>>> from ci_toolkit.widgets import DeviceCodePrompt
>>> prompt = DeviceCodePrompt()
"""

from __future__ import annotations

from ci_toolkit.widgets.device_code import DeviceCodePrompt

__all__ = ["DeviceCodePrompt"]
