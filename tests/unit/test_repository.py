"""Repository rules that hold for every commit."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from detect_secrets import SecretsCollection
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.settings import get_settings, transient_settings

from ci_toolkit.emulator import EmulatorConfig
from ci_toolkit.emulator.identity import Directory

ROOT = Path(__file__).resolve().parents[2]
#: detect-secrets' plugin for API subscription keys (its built-in plugins miss them).
SECRETS_PLUGIN = ROOT / "tests" / "security" / "detect_secrets_plugins.py"


def _tracked(pattern: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", pattern],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [ROOT / line for line in out.splitlines() if line]


def notebook_problems(path: Path) -> list[str]:
    """Why ``path`` may not be committed: outputs or execution counts left in code cells."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"{path.name} cell {index}: has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"{path.name} cell {index}: has an execution count")
    return problems


def test_committed_notebooks_hold_no_outputs_and_no_execution_counts() -> None:
    problems = [p for nb in _tracked("*.ipynb") for p in notebook_problems(nb)]
    assert not problems, (
        "strip them with `nbstripout` or Jupyter's Clear All Outputs:\n" + "\n".join(problems)
    )


def test_notebook_check_catches_outputs(tmp_path: Path) -> None:
    dirty = {
        "cells": [
            {"cell_type": "code", "source": "1", "execution_count": 3, "outputs": [{"x": 1}]},
            {"cell_type": "markdown", "source": "# ok"},
        ]
    }
    path = tmp_path / "dirty.ipynb"
    path.write_text(json.dumps(dirty), encoding="utf-8")
    assert notebook_problems(path) == [
        "dirty.ipynb cell 0: has outputs",
        "dirty.ipynb cell 0: has an execution count",
    ]


def test_no_tls_verification_is_ever_turned_off() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in _tracked("ci_toolkit/*.py")
        if "verify=False" in p.read_text(encoding="utf-8").replace(" ", "")
    ]
    assert not offenders


def _cell_text(cell: dict[str, Any]) -> str:
    parts = [cell.get("source") or ""]
    for output in cell.get("outputs") or []:
        parts.append(output.get("text") or "")
        parts += [str(v) for v in (output.get("data") or {}).values()]
        parts += output.get("traceback") or []
    return "\n".join("".join(p) if isinstance(p, list) else str(p) for p in parts)


def _detect_secrets(path: Path) -> list[tuple[int, str]]:
    builtin = get_mapping_from_secret_type_to_class().values()
    plugins = [{"name": plugin.__name__} for plugin in builtin]
    plugins.append({"name": "SubscriptionKeyDetector", "path": f"file://{SECRETS_PLUGIN}"})
    # Not the filter of "indirect references" (``x = f(...)``): it would also drop the likeliest
    # leak, ``ci = connect(subscription_key="...")``.
    filters = [
        {"path": name}
        for name in get_settings().filters
        if name != "detect_secrets.filters.heuristic.is_indirect_reference"
    ]
    with transient_settings({"plugins_used": plugins, "filters_used": filters}):
        get_mapping_from_secret_type_to_class.cache_clear()  # as its CLI does for a custom plugin
        try:
            found = SecretsCollection()
            found.scan_file(str(path))
        finally:
            get_mapping_from_secret_type_to_class.cache_clear()
    return sorted((s.line_number, s.type) for s in found[str(path)])


def notebook_secrets(path: Path) -> list[str]:
    """What detect-secrets (with the subscription key plugin) finds in a notebook.

    It scans the file as it is (metadata, widget state) and the cells' code and outputs as
    plain text, where a string in a code cell is a string again, not escaped JSON (in which
    detect-secrets' keyword and entropy plugins see no assignment). The emulator's demo keys
    and secret are looked for by value too.
    """
    nb = json.loads(path.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as folder:
        flat = Path(folder) / f"{path.stem}.py"
        flat.write_text("\n".join(_cell_text(c) for c in nb.get("cells", [])), encoding="utf-8")
        found = [f"{path.name}: {kind} (cells, line {n})" for n, kind in _detect_secrets(flat)]
    found += [f"{path.name}: {kind} (file, line {n})" for n, kind in _detect_secrets(path)]
    demo = Directory.from_seed(EmulatorConfig().seed)
    text = path.read_text(encoding="utf-8")
    for value in (*demo.subscription_keys, demo.confidential_client.secret or ""):
        if value and value in text:
            found.append(f"{path.name}: the emulator's demo {value[:4]}...")
    return sorted(set(found))


def test_committed_notebooks_hold_no_secrets() -> None:
    notebooks = _tracked("*.ipynb")
    assert any(p.parent.name == "notebooks" for p in notebooks)
    problems = [p for nb in notebooks for p in notebook_secrets(nb)]
    assert not problems, "remove the secrets (and rotate them):\n" + "\n".join(problems)


def test_notebook_secret_check_catches_secrets(tmp_path: Path) -> None:
    key = "7d1e3b5c9a0f2e4d6c8b1a3f5e7d9c0b"  # the form of an API subscription key
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLW9mLWEtdG9rZW4"
    demo = Directory.from_seed(EmulatorConfig().seed)

    def notebook(*cells: dict[str, object], metadata: object = None) -> Path:
        path = tmp_path / f"nb{len(list(tmp_path.iterdir()))}.ipynb"
        body = {"cells": list(cells), "metadata": metadata or {}, "nbformat": 4}
        path.write_text(json.dumps(body, indent=1), encoding="utf-8")
        return path

    def code(source: str, *outputs: dict[str, object]) -> dict[str, object]:
        return {"cell_type": "code", "source": source, "outputs": list(outputs)}

    clean = notebook(code('ci = connect()\nci.query("Customer", top=5)'))
    assert notebook_secrets(clean) == []
    cases = {
        "API subscription key": notebook(code(f'ci = connect(subscription_key="{key}")')),
        "Hex High Entropy String": notebook(code(f'os.environ["CI_SUBSCRIPTION_KEY"] = "{key}"')),
        "Secret Keyword": notebook(
            code('CLIENT_SECRET = "Zq8~dW3kPl0sXv7yTn2mRb5hJc4gFe1aUo9iEt6"')
        ),
        "JSON Web Token": notebook(code("ci", {"output_type": "stream", "text": jwt})),
        "demo": notebook(code(f"# {demo.subscription_keys[0]}")),
    }
    for kind, path in cases.items():
        found = notebook_secrets(path)
        assert any(kind in f for f in found), (kind, found)
    state = {"widgets": {"application/vnd.jupyter.widget-state+json": {"token": jwt}}}
    assert any("JSON Web Token (file" in f for f in notebook_secrets(notebook(metadata=state)))
