"""Scenario 5: ``import ci_toolkit`` cost beyond importing pandas, in fresh interpreters.

Three statements, interleaved, each timed in its own new process (wall time of the
statement inside the process, median of several runs):

- ``import pandas``;
- ``import pandas, ci_toolkit``;
- ``import pandas, ci_toolkit; ci_toolkit.CustomerInsights`` (the client: httpx, MSAL,
  tenacity... everything a ``connect()`` needs, still without connecting).

Target: the client import at most 0.5 s beyond pandas. Run: ``./dev bench import``.
"""

from __future__ import annotations

import os
import subprocess

from tests.benchmarks._common import PYTHON, ROOT, machine, median

STATEMENTS = {
    "pandas": "import pandas",
    "pandas + ci_toolkit": "import pandas, ci_toolkit",
    "pandas + client": "import pandas, ci_toolkit; ci_toolkit.CustomerInsights",
}


def _time(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    done = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return float(done.stdout.strip())


def main() -> None:
    repeat = int(os.environ.get("CI_BENCH_REPEAT", "9"))
    print(machine())
    times: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for _ in range(repeat):
        for name, statement in STATEMENTS.items():
            times[name].append(_time(statement))
    base = median(times["pandas"])
    for name in STATEMENTS:
        value = median(times[name])
        print(f"{name}: median {value:.3f} s; beyond pandas {value - base:+.3f} s")
    extra = median(times["pandas + client"]) - base
    print(f"client import beyond pandas: {extra:.3f} s (target <= 0.5 s)")
