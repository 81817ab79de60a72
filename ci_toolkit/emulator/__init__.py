"""A local Customer Insights service: HTTPS API, emulated Azure AD and demo data.

It imports nothing from the client side of ``ci_toolkit``; the client imports nothing from it.

Example
-------
>>> from ci_toolkit.emulator import Emulator
>>> with Emulator(profiles=1_000) as emu:  # doctest: +SKIP
...     print(emu.settings.base_url)
"""

from __future__ import annotations

from ci_toolkit.emulator.config import EmulatorConfig
from ci_toolkit.emulator.gateway import FaultSettings
from ci_toolkit.emulator.server import Emulator, EmulatorSettings

__all__ = ["Emulator", "EmulatorConfig", "EmulatorSettings", "FaultSettings"]
