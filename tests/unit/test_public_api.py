"""The exported API is what the README documents, and the README names nothing that is gone."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import ci_toolkit
import ci_toolkit.exceptions
import ci_toolkit.odata
import ci_toolkit.plots
import ci_toolkit.widgets
from ci_toolkit.client import CustomerInsights, JobHandle

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The README text from the heading ``title`` to the next heading of the same level."""
    match = re.search(rf"^(#+) {re.escape(title)}\n", README, re.M)
    assert match, f"README has no section {title!r}"
    level = match.group(1)
    rest = README[match.end() :]
    end = re.search(rf"^{level} ", rest, re.M)
    return rest[: end.start()] if end else rest


def documented_calls(text: str) -> set[str]:
    """Names written as calls in backticks, e.g. ``segments()`` or ``JobHandle.wait()``."""
    return set(re.findall(r"`(?:[A-Za-z]+\.)?([a-z_]+)\(", text))


def public_members(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls) if not name.startswith("_")}


def table(text: str) -> str:
    """Only the table rows of ``text``."""
    return "\n".join(line for line in text.splitlines() if line.startswith("|"))


def test_every_client_method_is_in_the_api_table_and_nothing_more() -> None:
    api = section("API")
    rows = table(api.split("### ")[0])
    methods = {
        name
        for name, value in inspect.getmembers(CustomerInsights)
        if not name.startswith("_") and callable(value)
    }
    properties = public_members(CustomerInsights) - methods
    job_methods = {"wait", "refresh", "cancel"}

    assert methods - documented_calls(rows) == set(), "client methods the README leaves out"
    stale = documented_calls(rows) - methods - job_methods
    assert stale == set(), "README documents client calls that do not exist"
    for name in properties:
        assert f"`ci.{name}`" in api, f"property {name} is not documented"


def test_job_handle_members_are_documented() -> None:
    api = section("API")
    for name in ("wait", "refresh", "cancel", "status", "tasks"):
        assert name in public_members(JobHandle)
        assert f".{name}" in api


@pytest.mark.parametrize(
    ("module", "title"),
    [
        (ci_toolkit.widgets, "Widgets"),
        (ci_toolkit.plots, "Widgets"),
        (ci_toolkit.exceptions, "Errors and retries"),
    ],
)
def test_module_exports_are_documented(module: ModuleType, title: str) -> None:
    text = section(title)
    exported = [
        name
        for name in module.__all__
        if not name.isupper() and (module is not ci_toolkit.exceptions or name[0].isupper())
    ]
    missing = [name for name in exported if not re.search(rf"[`.]{name}\b", text)]
    assert missing == [], f"{module.__name__} exports {missing} the README omits"


def test_documented_widgets_and_exceptions_exist() -> None:
    widgets = re.findall(r"^\| `([A-Z][A-Za-z]+)\(", section("Widgets"), re.M)
    errors = re.findall(r"^\| [├└ ]*`([A-Z][A-Za-z]+)`", section("Errors and retries"), re.M)
    assert widgets
    assert errors
    assert set(widgets) <= set(ci_toolkit.widgets.__all__)
    assert set(errors) <= set(ci_toolkit.exceptions.__all__)


def test_documented_filter_functions_exist() -> None:
    filters = section("Querying data").split("- **Paging.**")[0].split("- **Filters.**")[1]
    spans = re.findall(r"`([^`]+)`", filters)
    words = {w for span in spans for w in re.split(r"[\s/]+", span.split("(")[0]) if w}
    named = {w for w in words if re.fullmatch(r"[a-z_]+", w)}
    assert {"eq", "le", "in_", "contains", "is_null", "is_member_of_segment"} <= named
    assert named - set(ci_toolkit.odata.__all__) == set(), "README names filters odata lacks"


def test_top_level_exports() -> None:
    assert set(ci_toolkit.__all__) == {"CustomerInsights", "__version__", "connect"}
    assert "ci_toolkit.connect(" in README
