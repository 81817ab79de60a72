"""Microsoft's own Dataverse SDK (PyPI ``PowerPlatform-Dataverse-Client``) reads the emulator.

The SDK is used unchanged: it resolves each table's entity set through ``EntityDefinitions``,
asks its Azure Identity credential for ``<org>/.default`` (here azure-identity's
``ClientSecretCredential`` against the emulated Azure AD, i.e. real MSAL), sends
``Prefer: odata.maxpagesize`` and follows ``@odata.nextLink``. Its requests trust the
emulator's CA through ``REQUESTS_CA_BUNDLE`` (BENCHMARKING.md). If the emulator's answers
drifted from Dataverse's shapes, the SDK would fail to resolve, page or parse them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.identity import ClientSecretCredential
from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.core.errors import HttpError

from ci_toolkit.emulator import Emulator
from tests.emulator.dataverse.test_service import v1_customer_ids


@pytest.fixture
def sdk(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[DataverseClient]:
    """The SDK on the emulator's org URL, signed in as the demo app (client credentials)."""
    s = emulator.settings
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(s.ca_file))
    credential = ClientSecretCredential(
        s.tenant_id,
        s.confidential_client_id,
        s.client_secret,
        authority=s.dataverse_url.removeprefix("https://"),
        disable_instance_discovery=True,
    )
    with DataverseClient(s.dataverse_url, credential) as client:
        yield client
    credential.close()


def test_the_sdk_pages_every_profile_once(emulator: Emulator, sdk: DataverseClient) -> None:
    pages = list(
        sdk.records.list_pages(
            "msdynci_customerprofile", select=["msdynci_customerid"], page_size=300
        )
    )
    assert [len(p) for p in pages[:-1]] == [300] * (len(pages) - 1)
    ids = [row["msdynci_customerid"] for page in pages for row in page]
    assert len(ids) == len(set(ids)) == emulator.config.profiles
    assert sorted(ids) == sorted(v1_customer_ids(emulator))


def test_the_sdk_reads_one_row_a_filter_and_a_dataframe(sdk: DataverseClient) -> None:
    first = sdk.records.list("msdynci_customerprofile", top=1)[0]
    pk = first["msdynci_customerprofileid"]
    one = sdk.records.retrieve("msdynci_customerprofile", pk, select=["msdynci_fullname"])
    assert one is not None
    assert one["msdynci_fullname"] == first["msdynci_fullname"]
    missing = "00000000-0000-0000-0000-000000000001"
    assert sdk.records.retrieve("msdynci_customerprofile", missing) is None
    cid = first["msdynci_customerid"]
    frame = sdk.records.list(
        "msdynci_unifiedactivity",
        select=["msdynci_customerid", "msdynci_activitytype", "msdynci_activitytime"],
        filter=f"msdynci_customerid eq '{cid}'",
        orderby=["msdynci_activitytime asc"],
        page_size=5,
    ).to_dataframe()
    assert len(frame) > 0
    assert set(frame["msdynci_customerid"]) == {cid}
    assert list(frame["msdynci_activitytime"]) == sorted(frame["msdynci_activitytime"])
    info = sdk.tables.get("msdynci_segmentmembership")
    assert info is not None
    assert info["entity_set_name"] == "msdynci_segmentmemberships"


def test_the_sdk_sees_dataverses_errors(sdk: DataverseClient) -> None:
    with pytest.raises(HttpError) as raised:
        sdk.records.list("msdynci_customerprofile", filter="msdynci_nope eq 1")
    assert raised.value.status_code == 400
    with pytest.raises(HttpError) as refused:
        sdk.records.create("msdynci_alternatekey", {"msdynci_identifier": "x"})
    assert refused.value.status_code == 403
    assert "prvCreatemsdynci_alternatekey" in str(refused.value)
