"""Exports over real HTTPS: export jobs write real CSV / Parquet files of the exported rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pyarrow.csv as pa_csv

from ci_toolkit.emulator import Emulator
from tests.emulator.contract import assert_matches_contract
from tests.emulator.workflow_helpers import parse_time, wait_for_job, workflow


def export_nodes(api: httpx.Client, instance_id: str) -> dict[str, dict[str, Any]]:
    response = api.get(f"{workflow(instance_id)}/status")
    assert_matches_contract(response, "Get-workflow-status")
    return {n["identifier"]: n for n in response.json() if n["operationType"] == "export"}


def run_folders(output: Path, identifier: str) -> set[Path]:
    folder = output / identifier
    return set(folder.iterdir()) if folder.is_dir() else set()


def test_export_job_writes_the_rows_of_each_export(
    api: httpx.Client, instance_id: str, emulator: Emulator
) -> None:
    engine = emulator.state.instances[instance_id].workflows
    data = emulator.state.instances[instance_id].data
    before = export_nodes(api, instance_id)
    sources = {e.identifier: e for e in engine.exports}
    folders = {identifier: run_folders(engine.output_dir, identifier) for identifier in before}

    response = api.post(
        f"{workflow(instance_id)}/jobs",
        params={"operationType": "export", "identifiers": ",".join(before)},
    )
    assert_matches_contract(response, "Submit-a-workflow-job")
    job = wait_for_job(api, instance_id, response.json()["jobId"])
    tasks = {t["friendlyName"]: t for t in job["tasks"]}
    assert len(tasks) == len(before)

    written = 0
    for identifier, node in before.items():
        export = sources[identifier]
        task = tasks[node["friendlyName"]]
        new = run_folders(engine.output_dir, identifier) - folders[identifier]
        if export.detached or export.failure is not None:
            assert task["taskStatus"] == ("skipped" if export.detached else "failed")
            assert new == set(), f"{identifier} wrote files although it did not run"
            continue
        assert task["taskStatus"] == "successful", task
        expected = data.export_table(export.source)
        if export.is_data_out:  # a CDM folder in the container (tests/lake reads it back)
            assert new == set()
            model = (
                emulator.state.lake.root
                + f"/CustomerInsights_{instance_id}/{export.folder}/model.json"
            )
            entities = json.loads(Path(model).read_text(encoding="utf-8"))["entities"]
            assert [e["name"] for e in entities] == list(export.sources)
            written += 1
            continue
        (folder,) = new
        (file,) = folder.glob("*.csv")
        table = pa_csv.read_csv(file)
        assert table.column_names == expected.column_names
        assert table.num_rows == expected.num_rows
        first = expected.column_names[0]
        assert sorted(map(str, table.column(first).to_pylist())) == sorted(
            map(str, expected.column(first).to_pylist())
        )
        assert file.stem == export.source
        written += 1
    assert written >= 3

    after = export_nodes(api, instance_id)
    braze = after["braze-gold-members"]
    assert braze["taskStatus"] == "successful"
    assert braze["jobIds"] == [job["jobId"]]
    assert braze["lastSuccessJobIds"] == [job["jobId"]]
    assert parse_time(braze["lastSuccessfulTimestamp"]) >= parse_time(job["submittedTimestamp"])
    google = after["googleads-high-value"]
    assert google["taskStatus"] == "failed"
    assert google["ciError"]["exceptionCulprit"] == "external"
    assert "expired" in google["ciError"]["message"]


def test_each_export_has_a_connection_type_and_a_schedule(
    api: httpx.Client, instance_id: str
) -> None:
    nodes = export_nodes(api, instance_id)
    types = {n["friendlyName"].split(": ", 1)[0] for n in nodes.values()}
    assert {"Braze", "Azure Data Lake", "SFTP", "Google Ads", "Dynamics 365 Marketing"} <= types
    response = api.get(f"{workflow(instance_id)}/schedules")
    assert_matches_contract(response, "Get-workflow-schedules")
    scheduled = {
        identifier
        for s in response.json()
        if s["operationType"] == "export"
        for identifier in s["identifiers"]
    }
    assert set(nodes) <= scheduled
