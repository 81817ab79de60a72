"""The package is installable as documented, and its dependency lists cannot drift apart."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import ci_toolkit

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _normalise(requirement: str) -> str:
    """``Msal_Extensions >= 1.2`` -> ``msal-extensions>=1.2`` (PEP 503 name, no spaces)."""
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() + match.group(2).replace(" ", "")


def test_environment_yml_names_the_same_runtime_dependencies_as_pyproject() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    wanted = sorted(_normalise(r) for r in project["dependencies"])

    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = sorted(_normalise(r) for r in pip_section if not r.startswith("-e"))

    assert listed == wanted, "environment.yml's pip section and pyproject.toml differ"
    assert "-e ." in pip_section, "environment.yml must install the package itself, editable"
    assert f"python{project['requires-python']}" in conda, "conda's Python must be pip's"


def _supported_minors() -> range:
    """The minor versions of Python 3 that ``requires-python`` (">=3.X,<3.Y") allows."""
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    match = re.fullmatch(r">=3\.(\d+),<3\.(\d+)", project["requires-python"])
    assert match, "requires-python must read '>=3.X,<3.Y': ./dev parses it in that form"
    return range(int(match[1]), int(match[2]))


def test_supported_pythons_are_declared_once_and_consistently() -> None:
    minors = _supported_minors()
    assert minors[0] == 11, "3.11 is the oldest Python the toolkit supports"
    assert minors[-1] >= 13, "3.12 and 3.13 are the versions most analysts have"
    pyproject = _pyproject()
    project = pyproject["project"]
    assert isinstance(project, dict)
    versions = sorted(
        int(c.rsplit(".", 1)[1])
        for c in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert versions == list(minors), "one classifier per supported version"
    assert sys.version_info[:2] >= (3, minors[0]), "the tests run on a supported Python"
    assert sys.version_info[:2] <= (3, minors[-1])


def test_lint_and_type_checks_target_the_oldest_supported_python() -> None:
    oldest = _supported_minors()[0]
    tools = _pyproject()["tool"]
    assert isinstance(tools, dict)
    assert tools["ruff"]["target-version"] == f"py3{oldest}"
    assert tools["mypy"]["python_version"] == f"3.{oldest}"


def test_package_is_typed_and_versioned() -> None:
    assert (Path(ci_toolkit.__file__).parent / "py.typed").is_file()
    assert importlib.metadata.version("ci-toolkit") == ci_toolkit.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", ci_toolkit.__version__)


def test_console_script_is_installed_and_answers_version() -> None:
    entry_points = importlib.metadata.entry_points(group="console_scripts")
    assert any(ep.name == "ci-toolkit" for ep in entry_points)
    script = Path(sys.executable).parent / "ci-toolkit"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert ci_toolkit.__version__ in result.stdout


def test_runtime_extras_exist_for_tests_and_benchmarks() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    extras = project["optional-dependencies"]
    test_extra = {_normalise(r).split(">")[0].split("=")[0] for r in extras["test"]}
    assert {"pytest", "nbval", "ruff", "mypy"} <= test_extra
    assert "bench" in extras
