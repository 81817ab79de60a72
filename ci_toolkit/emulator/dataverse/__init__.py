"""The emulator's Dataverse Web API: the Customer Insights tables under ``/api/data/v9.2/``.

Served on the emulator's own HTTPS origin, which is the org URL a client uses
(``https://127.0.0.1:<port>``), from the production demo instance's data: the same
customers are the same rows on ``/v1`` and here. Rooms:

- ``tables``: the ``msdynci_`` tables as SQL over the demo tables (names from Microsoft's
  entity reference);
- ``guids``: deterministic keys and SQL Server's GUID order;
- ``query``: OData as Dataverse does it (paging cookie, ``$skip`` refused, ``$count`` cap);
- ``metadata``: ``$metadata`` (CSDL) and ``EntityDefinitions``;
- ``limits``: service protection limits (429 with ``Retry-After`` and the real codes);
- ``errors``: Dataverse's error body and codes;
- ``service``: the ASGI app: faults, token (audience: the org URL), limits, roles, routing.

Example
-------
>>> from ci_toolkit.emulator import Emulator
>>> with Emulator(profiles=100) as emu:  # doctest: +SKIP
...     url = emu.settings.dataverse_url + "/api/data/v9.2/msdynci_customerprofiles"
"""

from __future__ import annotations

from ci_toolkit.emulator.dataverse.limits import ServiceProtectionLimits
from ci_toolkit.emulator.dataverse.service import (
    BASIC_USER_ROLE,
    CONFIGURATION_VIEWER_ROLE,
    DATAVERSE_ROOT,
    DATAVERSE_ROOTS,
    READ_ROLE,
    READ_ROLES,
    DataverseService,
)

__all__ = [
    "BASIC_USER_ROLE",
    "CONFIGURATION_VIEWER_ROLE",
    "DATAVERSE_ROOT",
    "DATAVERSE_ROOTS",
    "READ_ROLE",
    "READ_ROLES",
    "DataverseService",
    "ServiceProtectionLimits",
]
