"""CustomerInsights itself: light import, instance selection, cache, lifecycle."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator

from .conftest import make_session


def test_import_is_light() -> None:
    code = (
        "import sys, ci_toolkit.client, ci_toolkit.odata;"
        "heavy = [m for m in ('pandas', 'tqdm', 'numpy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_instance_id_setter_clears_metadata_cache(emulator: Emulator) -> None:
    with CustomerInsights(make_session(emulator)) as client:
        client.query("Customer", top=1, progress=False)
        assert client._entity_cache
        other = client.instances()["instanceId"][1]
        client.instance_id = other
        assert not client._entity_cache
        sandbox = client.query("Customer", select=["CustomerId"], progress=False)
        assert len(sandbox) == client.entity_size("Customer")["rowCount"]
        with pytest.raises(ValueError, match="instance_id"):
            client.instance_id = ""


def test_repr_and_segment_definition_helper(emulator: Emulator) -> None:
    with CustomerInsights(make_session(emulator)) as client:
        assert "first instance" in repr(client)
        client.instance_id  # noqa: B018 - resolves the default
        assert emulator.settings.instance_id in repr(client)
        definition = client.segment_definition("X", [("Country", "=", "Ireland")])
        assert definition["name"] == "X"
