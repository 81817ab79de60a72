"""The Dataverse tables follow the demo data when segments change (a small emulator of its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ci_toolkit.emulator import Emulator, EmulatorConfig
from tests.emulator.dataverse.helpers import dataverse_client, follow


@pytest.fixture(scope="module")
def small() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(profiles=200, seed=11)) as emu:
        yield emu


def memberships(emu: Emulator) -> dict[str, list[str]]:
    with dataverse_client(emu) as dv:
        rows, _ = follow(
            dv,
            "msdynci_segmentmemberships",
            **{"$select": "msdynci_customerid,msdynci_segments"},
        )
    return {r["msdynci_customerid"]: r["msdynci_segments"] for r in rows}


def test_a_deleted_segment_leaves_the_memberships(small: Emulator) -> None:
    store = small.state.instances[small.settings.instance_id].data
    relation = store.entity("LapsedShoppers").relation
    members = {
        r[0] for r in store.cursor().execute(f"SELECT CustomerId FROM {relation}").fetchall()
    }
    before = memberships(small)
    assert members
    assert all('"LapsedShoppers"' in before[cid] for cid in members)
    store.delete_segment("LapsedShoppers")
    after = memberships(small)
    assert not any("LapsedShoppers" in text for text in after.values())
    assert set(after) < set(before)
