"""The table catalogue and the Dataverse -> v1 column-name mapping."""

from __future__ import annotations

import pytest

from ci_toolkit.dataverse.tables import (
    TABLES,
    V1_NAMES,
    table_for_v1_entity,
    v1_name,
    v1_to_logical,
)


def test_documented_tables_use_their_entity_set_names() -> None:
    assert TABLES["msdynci_alternatekey"].entity_set == "msdynci_alternatekeys"
    assert TABLES["msdynci_unifiedactivity"].entity_set == "msdynci_unifiedactivities"
    assert TABLES["msdynci_customerprofile"].primary_id == "msdynci_customerprofileid"
    assert table_for_v1_entity("Customer_Measure") is TABLES["msdynci_customermeasure"]


@pytest.mark.parametrize(
    ("table", "column", "schema", "expected"),
    [
        ("msdynci_unifiedactivity", "msdynci_activitytime", None, "ActivityTime"),
        ("msdynci_alternatekey", "msdynci_entityname", None, "TableName"),
        ("msdynci_unifiedactivity", "msdynci_entityname", None, "SourceEntityName"),
        ("msdynci_segmentmembership", "msdynci_customerid", None, "CustomerId"),
        ("msdynci_customerprofile", "msdynci_firstname", "msdynci_FirstName", "FirstName"),
        ("msdynci_customerprofile", "msdynci_firstname", "msdynci_firstname", "firstname"),
        ("msdynci_customerprofile", "partitionid", None, "partitionid"),
    ],
)
def test_v1_name(table: str, column: str, schema: str | None, expected: str) -> None:
    assert v1_name(table, column, schema_name=schema) == expected


def test_every_documented_name_maps_back_to_its_column() -> None:
    for mapping in V1_NAMES.values():
        for logical, v1 in mapping.items():
            assert v1_to_logical(v1) == logical
    assert v1_to_logical("LoyaltyTier") == "msdynci_loyaltytier"
    with pytest.raises(ValueError, match="attribute name"):
        v1_to_logical("")
