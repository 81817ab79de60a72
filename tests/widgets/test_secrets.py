"""No widget state holds a secret; errors inside widgets are scrubbed and readable."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
from ci_toolkit.exceptions import ServiceError
from ci_toolkit.widgets import (
    CustomerLookup,
    EntityBrowser,
    ExportMonitor,
    InstancePicker,
    JobMonitor,
    SegmentExplorer,
    SignInPanel,
)
from ci_toolkit.widgets._common import all_states
from tests.widgets.conftest import settle


def test_no_widget_state_holds_the_key_or_the_token(
    make: Callable[..., Any], admin: CustomerInsights, emulator: Emulator
) -> None:
    headers = admin.session._client.headers
    token = headers["Authorization"].split()[-1]
    key = emulator.settings.subscription_key
    assert token
    assert key
    built = [make(cls, admin) for cls in (SignInPanel, InstancePicker, EntityBrowser,
                                          SegmentExplorer, ExportMonitor, CustomerLookup,
                                          JobMonitor)]  # fmt: skip
    explorer, lookup = built[3], built[5]
    explorer.picker.value = "HighValueCustomers"
    lookup.search.value = "Smith"
    settle(explorer)
    settle(lookup)
    state = json.dumps([all_states(w) for w in built], default=str)
    assert "HighValueCustomers" in state  # the states are really in there
    assert token not in state
    assert key not in state
    assert "eyJ" not in state


def test_an_error_carrying_a_token_is_shown_scrubbed(
    make: Callable[..., Any], admin: CustomerInsights
) -> None:
    panel: SignInPanel = make(SignInPanel, admin)
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    panel.submit(_raise, ServiceError(f"upstream said Authorization: Bearer {jwt}", status=502))
    settle(panel)
    assert "ServiceError" in panel.message.value
    assert jwt not in panel.message.value
    assert "eyJ" not in json.dumps(all_states(panel))


def test_an_unexpected_bug_is_a_message_too(
    make: Callable[..., Any], admin: CustomerInsights
) -> None:
    panel: SignInPanel = make(SignInPanel, admin)
    panel.submit(_raise, KeyError("missing"))
    settle(panel)
    assert "KeyError" in panel.message.value
    assert "Traceback" not in panel.message.value


def _raise(exc: Exception) -> None:
    raise exc
