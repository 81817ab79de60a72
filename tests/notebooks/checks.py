"""What each walkthrough notebook must have shown, checked in the notebook's own kernel.

The notebooks are tutorials: their cells hold only what a user would write. These checks are
their test code. ``tests/notebooks/test_notebooks_run.py`` executes a notebook, then runs its
check here in the same kernel (``runpy.run_path`` of this file, then ``CHECKS[stem](ns)``
with the notebook's globals), so a step that silently shows the wrong thing (an empty query,
a widget that failed to load) fails CI as surely as a step that raises.

This file runs inside the kernel: it imports nothing from ``tests`` and reads the notebook's
variables by name. A check takes the notebook's namespace and returns nothing.

Example
-------
>>> CHECKS["00_quickstart"]  # doctest: +SKIP
<function quickstart at ...>
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["CHECKS"]

Namespace = dict[str, Any]

#: How long a widget may take to finish its background work.
WIDGET_WAIT = 60


def _idle(widget: Any) -> None:
    """The widget finished its background work without an error."""
    assert widget.wait_idle(WIDGET_WAIT), f"{type(widget).__name__} still busy"
    assert widget.last_error is None, widget.message.value


def quickstart(ns: Namespace) -> None:
    ci, panel, picker = ns["ci"], ns["panel"], ns["picker"]
    _idle(panel)
    assert panel.identity["role"] in {"admin", "contributor", "viewer"}
    assert panel.identity["instanceId"] == ci.instance_id
    instances = ns["instances"]
    assert {"instanceId", "name", "instanceType"} <= set(instances.columns)
    assert len(instances) >= 1, "the signed-in user sees no instance"
    _idle(picker)
    assert picker.value == ci.instance_id
    assert ns["current"]["instanceId"] == ci.instance_id
    assert ns["role"]["role"] in {"admin", "contributor", "viewer"}
    customers = ns["customers"]
    assert 0 < len(customers) <= 10
    assert "CustomerId" in customers.columns
    (country, ireland), (tier, gold) = ns["COUNTRY"], ns["TIER"]
    matches = ns["gold_in_ireland"]
    assert len(matches) > 0, "the filtered query found nobody"
    assert (matches[country] == ireland).all()
    assert (matches[tier] == gold).all()
    assert ns["by_country"].sum() == ns["countries"].notna().sum()


def instances_and_entities(ns: Namespace) -> None:
    ci, instances, entities = ns["ci"], ns["instances"], ns["entities"]
    assert len(instances) >= 1
    assert ci.instance_id in set(instances["instanceId"])
    sources = ns["sources"]
    assert len(sources) > 0
    assert sources["entitiesCount"].ge(1).all()
    assert {"name", "entityType", "attributeCount"} <= set(entities.columns)
    assert "Customer" in set(entities["name"])
    browser = ns["browser"]
    _idle(browser)
    assert set(browser.entities["name"]) == set(entities["name"])
    assert browser.picker.value == "UnifiedActivity"
    assert "ActivityType" in browser.attributes.value
    attributes = ns["attributes"]
    assert attributes["isKey"].sum() == 1
    assert attributes.loc[attributes["isKey"], "name"].item() == "CustomerId"
    size = ns["size"]
    assert size["rowCount"] > 0
    assert {"attributeName", "count", "missingCount", "uniqueValueCount"} <= set(
        ns["profile"].columns
    )
    sample = ns["sample"]
    assert 0 < len(sample) <= 5
    dates = attributes.loc[attributes["dataType"] == "dateTime", "name"]
    assert all(str(sample[column].dtype).startswith("datetime64") for column in dates)
    assert ns["rows"] == size["rowCount"], "every profile arrived exactly once"
    assert ns["pages"] >= 1


def segments(ns: Namespace) -> None:
    ci, segments, name = ns["ci"], ns["segments"], ns["SEGMENT"]
    assert {"name", "state", "size", "lastEvaluation", "definition"} <= set(segments.columns)
    assert len(segments) > 0
    assert segments["size"].ge(0).all()
    explorer = ns["explorer"]
    _idle(explorer)
    assert len(explorer.picker.options) >= len(segments)
    assert explorer.picker.value == name
    assert "Definition:" in explorer.details.value
    conditions = ns["conditions"]
    assert len(conditions) >= 1
    assert conditions["attribute"].notna().all()
    assert conditions.attrs["definition"]
    history = ns["history"]
    assert list(history.columns) == ["segment", "date", "size", "jobStatus"]
    assert history["segment"].nunique() >= 2
    members = ns["members"]
    size = segments.set_index("name").loc[name, "size"]
    assert len(members) == min(10, size)
    assert members["CustomerId"].is_unique
    demo = ns["demo"]
    assert ns["created"]["name"] == demo
    assert ns["status"] == "successful", ns["status"]
    mine = ns["mine"]
    assert mine["state"] == "active"
    assert mine["size"] > 0
    new_members = ns["new_members"]
    assert len(new_members) == mine["size"]
    for attribute, _, value in ns["DEMO_CONDITIONS"]:  # every member meets every condition
        assert (new_members[attribute] == value).all()
    assert demo not in set(ci.segments()["name"]), "the demo segment was not deleted"


def exports(ns: Namespace) -> None:
    exports = ns["exports"]
    assert set(ns["overview"]) <= set(exports.columns)
    assert len(exports) > 0
    monitor = ns["monitor"]
    _idle(monitor)
    assert set(monitor.exports["identifier"]) == set(exports["identifier"])
    assert ns["failing"]["lastError"].notna().all()
    assert {"operationType", "identifiers", "schedule", "timezoneId", "isActive"} <= set(
        ns["schedules"].columns
    )
    runs = ns["runs"]
    assert (runs["identifier"] == ns["export_id"]).all()
    assert runs["submittedTimestamp"].is_monotonic_decreasing
    jobs_monitor = ns["jobs_monitor"]
    _idle(jobs_monitor)
    assert len(jobs_monitor.picker.options) > 0
    assert ns["status"] == "successful", ns["status"]
    assert ns["job"].job_id in ns["ours"]["jobIds"]
    assert ns["ours"]["taskStatus"] == "successful"


def customer_360(ns: Namespace) -> None:
    lookup = ns["lookup"]
    _idle(lookup)
    assert len(lookup.picker.options) > 0
    assert lookup.customer is not None
    found, customer, customer_id = ns["found"], ns["customer"], ns["customer_id"]
    assert len(found) > 0
    assert customer.profile["CustomerId"] == customer_id
    assert (customer.activities["CustomerId"] == customer_id).all()
    assert ns["source_ids"].index.is_unique
    assert ns["activities"]["ActivityTime"].is_monotonic_decreasing  # newest first
    measures, comparison = ns["measures"], ns["comparison"]
    assert {"name", "isProfile", "values"} <= set(measures.columns)
    assert list(comparison.index) == list(customer.measures.index)
    assert comparison["average of all"].notna().any()


def dataframes_and_plots(ns: Namespace) -> None:
    active = ns["active"]
    assert len(active) > 0
    assert active["size"].dtype == "Int64"
    assert ns["growth"].notna().any().all()
    jobs, nightly, tasks = ns["jobs"], ns["nightly"], ns["tasks"]
    assert {"jobId", "operationType", "jobStatus", "submittedTimestamp"} <= set(jobs.columns)
    assert len(tasks) == nightly["taskCount"]
    assert len(ns["failed"]) == nightly["failedTaskCount"]
    assert ns["table"].to_numpy().sum() == len(ns["runs"])
    revenue, scalar = ns["revenue"], ns["scalar"]
    assert (revenue["measure"] == scalar).all()
    assert ns["purchases"][ns["AMOUNT"]].dtype == "Float64"
    assert len(ns["per_month"]) > 0
    assert ns["tiers"].loc["All", "All"] == len(ns["profiles"])


def dataverse(ns: Namespace) -> None:
    ci, patels = ns["ci"], ns["patels"]
    assert ci.sources == ("v1", "dataverse"), ci.sources  # the emulator serves both paths
    assert 0 < len(patels) <= 10, "the filtered Dataverse query found nobody"
    assert patels["msdynci_customerid"].notna().all()
    customer = ns["customer"]
    assert customer.source == "dataverse"
    assert len(customer.profile) > 0
    members = ns["members"]
    assert len(members) > 0, "the segment has no members on Dataverse"
    assert members["CustomerId"].is_unique
    assert ns["per_type"].sum() > 0, "no activity in the last 30 days was paged through"
    everyone = ns["everyone"]
    assert everyone.attrs.get("source") == "dataverse"
    assert everyone["msdynci_customerid"].is_unique, "a row came twice from the bulk pull"
    assert len(everyone) > 500, "the bulk pull read no more than one page"
    side = ns["side_by_side"]
    assert bool(side["same"].all()), side[~side["same"]]
    compared = ns["members_compared"]
    assert bool(compared["same customers"])
    assert compared["members (v1)"] == compared["members (Dataverse)"] == len(members)


def data_lake_and_dask(ns: Namespace) -> None:
    assert ns["status"] == "successful", ns["status"]
    lake = ns["lake"]
    assert {"Customer", "UnifiedActivity"} <= set(lake.tables)
    customers = ns["customers"]
    assert len(customers) > 0
    assert str(customers["CreatedOn"].dtype).startswith("datetime64")
    assert customers["CustomerId"].is_unique
    assert len(ns["activity"].columns) == 2
    by_country = ns["by_country"]
    assert by_country.sum() == len(customers), "to_dask did not pull every profile once"
    assert ns["profiles"].npartitions > 1, "to_dask made one partition"


#: The check of each notebook, by file stem.
CHECKS: dict[str, Callable[[Namespace], None]] = {
    "00_quickstart": quickstart,
    "01_instances_and_entities": instances_and_entities,
    "02_segments": segments,
    "03_exports": exports,
    "04_customer_360": customer_360,
    "05_dataframes_and_plots": dataframes_and_plots,
    "06_dataverse": dataverse,
    "07_data_lake_and_dask": data_lake_and_dask,
}
