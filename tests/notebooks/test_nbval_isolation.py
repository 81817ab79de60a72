"""``notebooks/conftest.py`` keeps nbval's kernels off the home folder and the CI_* settings.

A tiny notebook that inspects its own kernel runs under nbval with that conftest, from a
process whose environment points at a "real" config folder and holds a subscription key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import os
from ci_toolkit.config import config_file_path

assert "CI_SUBSCRIPTION_KEY" not in os.environ, "a CI_* setting reached the kernel"
assert "CI_TENANT_ID" not in os.environ
home = os.environ["XDG_CONFIG_HOME"]
assert "ci-toolkit-nbval-" in home, home
assert str(config_file_path()).startswith(home)
assert "ci-toolkit-nbval-" in os.environ["XDG_CACHE_HOME"]
assert "ci-toolkit-nbval-" in os.environ["MPLCONFIGDIR"]
"""


def test_nbval_kernels_are_isolated(tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(ROOT / "notebooks" / "conftest.py", folder / "conftest.py")
    notebook = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    notebook.cells = [nbformat.v4.new_code_cell(PROBE)]  # type: ignore[no-untyped-call]
    nbformat.write(notebook, folder / "probe.ipynb")  # type: ignore[no-untyped-call]
    real = tmp_path / "real-home"
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(real / "config"),
        "XDG_CACHE_HOME": str(real / "cache"),
        "CI_SUBSCRIPTION_KEY": "must-not-reach-the-kernel",
        "CI_TENANT_ID": "contoso.example",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(folder),
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert not real.exists(), "something was written to the 'real' home"
