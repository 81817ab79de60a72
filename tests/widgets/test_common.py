"""The widgets' shared helpers, without a service: tables, badges, job summaries, figures."""

from __future__ import annotations

import base64
from typing import Any

import ipywidgets as widgets
import pandas as pd
from matplotlib.figure import Figure

from ci_toolkit.client import JobHandle
from ci_toolkit.widgets._common import badge, frame_html, job_summary, show_figure


def test_frame_html_escapes_and_bounds() -> None:
    frame = pd.DataFrame({f"c{i}": ["<script>x</script>"] * 30 for i in range(12)})
    text = frame_html(frame, max_rows=5, max_cols=4)
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert text.count("<tr>") == 1 + 5
    assert "25 more rows, 8 more columns not shown" in text


def test_frame_html_keeps_html_columns_and_blanks_missing_values() -> None:
    frame = pd.DataFrame(
        {"status": [badge("failed")], "when": [pd.NaT], "n": pd.array([None], dtype="Int64")}
    )
    text = frame_html(frame, html_columns=["status"])
    assert "<span style='background:#c62828" in text
    assert "NaT" not in text
    assert "&lt;NA&gt;" not in text
    assert frame_html(frame.iloc[:0], empty="No rows <here>.") == "<i>No rows &lt;here&gt;.</i>"


def test_badge_colours_known_statuses_and_escapes_others() -> None:
    assert "#2e7d32" in badge("successful")
    assert "#9e9e9e" in badge("<odd>")
    assert "&lt;odd&gt;" in badge("<odd>")
    assert ">unknown<" in badge(None)


def test_job_summary_names_failed_tasks() -> None:
    info: dict[str, Any] = {
        "jobId": "1234567890",
        "operationType": "segmentation",
        "jobStatus": "failed",
        "tasks": [
            {"taskStatus": "successful", "operationType": "segmentation", "friendlyName": "A"},
            {
                "taskStatus": "failed",
                "operationType": "export",
                "friendlyName": "Google Ads",
                "error": {"message": "OAuth token expired"},
            },
        ],
    }
    text = job_summary(JobHandle(None, "jobs", info))  # type: ignore[arg-type]
    assert text.startswith("Segmentation job 12345678 ended failed (2 tasks, 1 failed).")
    assert "export 'Google Ads': OAuth token expired." in text


def test_show_figure_puts_a_png_into_the_output() -> None:
    out = widgets.Output()
    show_figure(out, Figure(figsize=(2, 1)))
    [output] = out.outputs
    assert output["output_type"] == "display_data"
    assert base64.b64decode(output["data"]["image/png"]).startswith(b"\x89PNG")
    show_figure(out, None)
    assert out.outputs == ()
