"""Test support only (not part of the walkthrough): keeps nbval's kernels off your home folder.

``pytest notebooks --nbval-lax ...`` runs each notebook in a kernel that inherits this
process's environment. Before a notebook's kernel starts, point the folders that
``ci_toolkit.connect()`` (config file, token cache), matplotlib, IPython and Jupyter read and
write at a temporary folder, and drop any ``CI_*`` settings, so the notebooks always run on
the embedded emulator, never on an environment configured on this machine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from ci_toolkit._defaults import ENV_VARS

_FOLDERS = {
    "XDG_CACHE_HOME": "cache",
    "XDG_CONFIG_HOME": "config",
    "XDG_DATA_HOME": "data",
    "MPLCONFIGDIR": "matplotlib",
    "IPYTHONDIR": "ipython",
}
#: ci-toolkit's connection settings (CI_TENANT_ID, ...).
_SETTINGS = tuple(ENV_VARS.values())
_saved: dict[str, str | None] = {}
_home: Path | None = None


def _isolate() -> None:
    global _home
    if _home is None:
        _home = Path(tempfile.mkdtemp(prefix="ci-toolkit-nbval-"))
    for name, folder in _FOLDERS.items():
        _saved.setdefault(name, os.environ.get(name))
        os.environ[name] = str(_home / folder)
    for name in _SETTINGS:
        _saved.setdefault(name, os.environ.get(name))
        os.environ.pop(name, None)


def _restore() -> None:
    for name, value in _saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _saved.clear()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Isolate before nbval starts the kernel (in the setup of a notebook's first cell)."""
    _isolate()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Give the rest of the test session its environment back."""
    _restore()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _home is not None:
        shutil.rmtree(_home, ignore_errors=True)
