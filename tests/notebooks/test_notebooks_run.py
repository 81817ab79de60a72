"""Every walkthrough notebook, executed in a real kernel: what it shows is right, no secrets,
safe to rerun, and pointed at another service by the ``CI_*`` settings alone.

The notebooks are tutorials without test code; their checks live in
``tests/notebooks/checks.py``. Each notebook runs with nbclient in a kernel whose config,
cache and IPython folders are temporary and without ``CI_*`` settings, so it uses the
embedded emulator. Two cells are appended: the notebook's check, run in the same kernel
against its variables and widgets, and a probe that reads that emulator's subscription key
and client secret and the tokens MSAL holds in the kernel; then every output and the saved
widget state of the notebook's own cells are searched for them, and each chart and widget
cell must have shown a picture or a widget. A deliberately broken copy of a notebook must
fail. The executed notebooks stay in ``test-artifacts/notebooks/``.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from ci_toolkit.emulator import Emulator, EmulatorConfig
from tests.notebooks.kernel import execute, stdout
from tests.support import emulator_env

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"
CHECKS = Path(__file__).with_name("checks.py")

#: ci-toolkit's connection settings: none may leak into the kernel from the test process.
SETTINGS = (
    "CI_TENANT_ID",
    "CI_CLIENT_ID",
    "CI_CLIENT_SECRET",
    "CI_SUBSCRIPTION_KEY",
    "CI_INSTANCE_ID",
    "CI_BASE_URL",
    "CI_AUTHORITY",
    "CI_CA_FILE",
)

#: Appended to each notebook: prints the secrets the kernel knows (this cell's output is
#: removed before the search).
PROBE = """
import json as _json

import ci_toolkit as _ci_toolkit
from ci_toolkit.config import config_file_path as _config_file_path
from ci_toolkit.connection import embedded_emulator as _embedded_emulator

_settings = _embedded_emulator().settings
_secrets = {
    "subscription_key": [_settings.subscription_key],
    "client_secret": [_settings.client_secret],
}
for _value in list(globals().values()):
    if isinstance(_value, _ci_toolkit.CustomerInsights) and _value.session.credential is not None:
        _cache = _json.loads(_value.session.credential.cache.cache.serialize())
        for _kind in ("AccessToken", "RefreshToken", "IdToken"):
            _items = _cache.get(_kind, {}).values()
            _secrets.setdefault(_kind, []).extend(i["secret"] for i in _items)
print(_json.dumps({"secrets": _secrets, "config": str(_config_file_path())}))
"""

#: The start of a JSON web token (a JSON header, then a JSON payload), whoever issued it.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kernel inherits this process's environment: isolate it like notebooks/conftest.py."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, folder in {
        "XDG_CACHE_HOME": "cache",
        "XDG_CONFIG_HOME": "config",
        "XDG_DATA_HOME": "data",
        "MPLCONFIGDIR": "matplotlib",
        "IPYTHONDIR": "ipython",
    }.items():
        monkeypatch.setenv(name, str(tmp_path / folder))
    return tmp_path


def _execute(notebook: nbformat.NotebookNode, name: str) -> None:
    execute(notebook, artifact=ARTIFACTS / name, cwd=ROOT / "notebooks")


def check_cell(stem: str) -> str:
    """The cell that runs ``stem``'s check from ``checks.py`` against the notebook's globals."""
    return (
        "import runpy as _runpy\n"
        f"_runpy.run_path({str(CHECKS)!r})['CHECKS'][{stem!r}](globals())\n"
        f"print('checked: {stem}')"
    )


def _code(cell: nbformat.NotebookNode) -> str:
    """A code cell's Python (IPython magics and shell lines left out)."""
    return "\n".join(
        line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )


def _shows_a_chart(cell: nbformat.NotebookNode) -> bool:
    source = cell.source.rstrip()
    plotted = re.search(r"\.plot\.\w+\(.*\);$", source, re.S)  # pandas' plot, repr hidden
    return "plt.show()" in source or source.endswith("\nfig") or plotted is not None


def _shows_a_widget(cell: nbformat.NotebookNode) -> bool:
    last = cell.source.rstrip().splitlines()[-1]
    return (
        re.fullmatch(r"(panel|picker|browser|explorer|monitor|jobs_monitor|lookup)", last)
        is not None
    )


def run_with_check(path: Path, name: str) -> nbformat.NotebookNode:
    """Execute the notebook at ``path`` with its check appended; return the executed notebook."""
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    stem = path.stem.removesuffix(".broken")
    notebook.cells.append(nbformat.v4.new_code_cell(check_cell(stem)))  # type: ignore[no-untyped-call]
    _execute(notebook, name)
    assert f"checked: {stem}" in stdout(notebook.cells[-1])
    return notebook


def test_every_notebook_has_a_check() -> None:
    from tests.notebooks.checks import CHECKS as checks

    assert sorted(checks) == [p.stem for p in NOTEBOOKS], "add the notebook's check to checks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_a_tutorial(path: Path) -> None:
    """No test code in a teaching cell; it says what you will learn and where to go next."""
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    for cell in notebook.cells:
        if cell.cell_type == "code":
            asserts = [n for n in ast.walk(ast.parse(_code(cell))) if isinstance(n, ast.Assert)]
            assert not asserts, f"{path.name} cell {cell.id} asserts: move it to checks.py"
    text = [c.source for c in notebook.cells if c.cell_type == "markdown"]
    assert "**You will learn**" in text[0], f"{path.name} opens without what you will learn"
    assert "## Where to go next" in text[-1], f"{path.name} ends without where to go next"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_shows_no_secret(path: Path, kernel_env: Path) -> None:
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    own_cells = len(notebook.cells)
    notebook.cells.append(nbformat.v4.new_code_cell(check_cell(path.stem)))  # type: ignore[no-untyped-call]
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))  # type: ignore[no-untyped-call]
    _execute(notebook, path.name)
    assert f"checked: {path.stem}" in stdout(notebook.cells[own_cells])

    probe = json.loads(stdout(notebook.cells[-1]).strip().splitlines()[-1])
    assert probe["config"].startswith(str(kernel_env)), "the kernel read the real config file"
    secrets = {kind: [s for s in values if s] for kind, values in probe["secrets"].items()}
    assert secrets["subscription_key"], "the probe found the emulator's subscription key"
    assert secrets["client_secret"], "the probe found the emulator's client secret"
    assert secrets.get("AccessToken"), "the probe found the token the notebook signed in with"

    del notebook.cells[own_cells:]
    shown = nbformat.writes(notebook)  # type: ignore[no-untyped-call]  # outputs + widget state
    for kind, values in secrets.items():
        for secret in values:
            assert secret not in shown, f"{path.name} shows the emulator's {kind}"
            assert secret[:20] not in shown, f"{path.name} shows the start of the {kind}"
    assert not JWT.search(shown), f"{path.name} shows a token: {JWT.search(shown)}"

    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell ran"
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert errors == []
    tracebacks = [o for c in code for o in c.outputs if "Traceback" in o.get("text", "")]
    assert tracebacks == []
    standard = {"@jupyter-widgets/controls", "@jupyter-widgets/base", "@jupyter-widgets/output"}
    models = notebook.metadata.get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {"state": {}}
    )["state"]
    modules = {m["model_module"] for m in models.values()}
    assert modules <= standard, f"{path.name} uses widgets outside ipywidgets: {modules}"
    for cell in code:
        kinds = {kind for o in cell.outputs for kind in o.get("data", {})}
        if _shows_a_chart(cell):
            assert "image/png" in kinds, f"{path.name} cell {cell.id} drew no chart"
        if _shows_a_widget(cell):
            view = "application/vnd.jupyter.widget-view+json"
            assert view in kinds, f"{path.name} cell {cell.id} showed no widget"


def test_a_broken_step_fails(kernel_env: Path, tmp_path: Path) -> None:
    """A step that shows the wrong thing without raising still fails: the check catches it.

    The copy of the quickstart filters on a loyalty tier nobody has: every cell runs, the
    filtered query just comes back empty, and the check in the same kernel says so.
    """
    notebook = nbformat.read(ROOT / "notebooks" / "00_quickstart.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    example = next(c for c in notebook.cells if 'TIER = ("LoyaltyTier", "Gold")' in c.source)
    example.source = example.source.replace('"Gold"', '"Tin"')
    broken = tmp_path / "00_quickstart.broken.ipynb"
    nbformat.write(notebook, broken)  # type: ignore[no-untyped-call]
    with pytest.raises(pytest.fail.Exception, match="the filtered query found nobody"):
        run_with_check(broken, "00_quickstart.broken.ipynb")


LEFTOVER = """
import ci_toolkit

_ci = ci_toolkit.connect()
_leftover = _ci.segment_definition("NotebookDemo_leftover", [("Country", "=", "Ireland")])
_ci.create_segment(_leftover)
"""

#: What the emulator holds after a run: demo segments left behind and export runs so far.
CHECK = """
import ci_toolkit

_ci = ci_toolkit.connect()
_demo = sorted(n for n in _ci.segments()["name"] if n.startswith("NotebookDemo_"))
print("demo segments:", _demo)
print("export runs:", _ci.exports()["runs"].sum())
"""


@pytest.mark.parametrize("stem", ["02_segments", "03_exports"])
def test_mutating_notebook_is_safe_to_rerun(stem: str, kernel_env: Path) -> None:
    """The notebook runs twice in one kernel (one emulator), after an interrupted run."""
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    cells = list(nbformat.read(path, as_version=4).cells)  # type: ignore[no-untyped-call]
    new = nbformat.v4.new_code_cell  # type: ignore[no-untyped-call]
    notebook = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    notebook.cells = [
        new(LEFTOVER),
        *cells,
        new(CHECK),
        *copy.deepcopy(cells),
        new(CHECK),
    ]
    for number, cell in enumerate(notebook.cells):  # each copy of a cell needs its own id
        cell["id"] = f"rerun-{number}"
    _execute(notebook, f"{stem}.rerun.ipynb")

    first, second = (stdout(c) for c in notebook.cells if c.source == CHECK)
    runs = [int(text.split("export runs:")[1]) for text in (first, second)]
    if stem == "02_segments":
        # the leftover of the "interrupted" run is cleaned up, each run deletes its segment
        assert "demo segments: []" in first
        assert "demo segments: []" in second
        assert runs[1] == runs[0]
    else:
        assert "demo segments: ['NotebookDemo_leftover']" in second  # 03 leaves segments alone
        assert runs[1] == runs[0] + 1, "the second run ran the export once more"


EXTERNAL_PROBE = """
import json as _json

import ci_toolkit as _ci_toolkit
import ci_toolkit.connection as _connection

_clients = [v for v in list(globals().values()) if isinstance(v, _ci_toolkit.CustomerInsights)]
print(_json.dumps({
    "embedded_started": _connection._emulator is not None,
    "base_urls": sorted({c.session.base_url for c in _clients}),
}))
"""


@pytest.fixture(scope="module")
def service() -> Iterator[Emulator]:
    """A separately started emulator standing in for a real environment (its own data)."""
    with Emulator(EmulatorConfig(profiles=500, seed=3)) as emu:
        yield emu


@pytest.mark.parametrize("stem", ["00_quickstart", "02_segments", "04_customer_360"])
def test_notebook_uses_the_environment_from_ci_settings(
    stem: str, kernel_env: Path, service: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With CI_* set, the notebook works on that service, not on an embedded emulator."""
    s = service.settings
    for name, value in emulator_env(service).items():
        monkeypatch.setenv(name, value)  # the kernel inherits them
    notebook = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    notebook.cells.append(nbformat.v4.new_code_cell(EXTERNAL_PROBE))  # type: ignore[no-untyped-call]
    _execute(notebook, f"{stem}.ci-settings.ipynb")

    probe = json.loads(stdout(notebook.cells[-1]).strip().splitlines()[-1])
    assert probe["embedded_started"] is False, "the embedded emulator started anyway"
    assert probe["base_urls"] == [s.base_url.rstrip("/") + "/"]
    caches = list((kernel_env / "cache").rglob("*"))
    assert any(p.is_file() for p in caches), "a real sign-in keeps its token cache (in tmp)"
