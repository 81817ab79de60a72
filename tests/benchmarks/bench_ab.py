"""Scenario 1 as an A/B: another commit's code against this checkout's, at the same moment.

The machine is shared and its speed drifts, so a change is measured against the code
before it in one run: a work tree of ``CI_BENCH_BASE`` (``git worktree``, removed at the
end) and this checkout each serve from their own emulator process (100,000 profiles,
30 ms latency); toolkit pulls from the matching code alternate between them (one warm-up
pull each, the order reversed every round), and the official client pulls from each
emulator, so the "times faster" of both commits is measured on the same machine.

Run: ``CI_BENCH_BASE=67f1930 ./dev bench ab`` (``CI_BENCH_REPEAT`` toolkit rounds, default
5; ``CI_BENCH_OFFICIAL`` official pulls per side, default 2; ``CI_BENCH_ROWS``). Without
``CI_BENCH_BASE`` it does nothing, so ``./dev bench`` passes it by.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.benchmarks._common import ROOT, EmulatorProcess, child, machine, median
from tests.benchmarks.bench_bulk_pull import CEILING, LATENCY_MS


def _worktree(stack: ExitStack, revision: str) -> Path:
    """A detached work tree of ``revision`` in a temporary folder, removed on exit."""
    path = Path(tempfile.mkdtemp(prefix="ci-bench-base-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(path), revision],
                   cwd=ROOT, check=True)  # fmt: skip
    stack.callback(
        subprocess.run, ["git", "worktree", "remove", "--force", str(path)], cwd=ROOT,
        check=False,
    )  # fmt: skip
    return path


def main() -> None:
    base = os.environ.get("CI_BENCH_BASE")
    if not base:
        print("skipped: set CI_BENCH_BASE=<commit> to compare that commit with this checkout")
        return
    rows = int(os.environ.get("CI_BENCH_ROWS", "100000"))
    rounds = int(os.environ.get("CI_BENCH_REPEAT", "5"))
    official_runs = int(os.environ.get("CI_BENCH_OFFICIAL", "2"))
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    print(machine())
    with ExitStack() as stack:
        roots = {f"base {base}": _worktree(stack, base), f"this checkout ({head})": ROOT}
        emulators = {
            name: stack.enter_context(
                EmulatorProcess(profiles=rows, latency_ms=LATENCY_MS, root=root)
            )
            for name, root in roots.items()
        }
        tokens = {name: child("token", emu, root=roots[name])["token"]
                  for name, emu in emulators.items()}  # fmt: skip
        runs: dict[str, dict[str, list[float]]] = {
            name: {"toolkit": [], "official": [], "emulator_cpu": []} for name in roots
        }
        for name, emu in emulators.items():  # warm-up: the emulators' caches and imports
            child("toolkit", emu, root=roots[name], max_concurrency=CEILING)
        for number in range(rounds):
            order = list(roots) if number % 2 == 0 else list(reversed(roots))
            for name in order:
                emu = emulators[name]
                cpu = emu.cpu_seconds()
                result: dict[str, Any] = child(
                    "toolkit", emu, root=roots[name], max_concurrency=CEILING
                )
                if not result["rows"] == result["count"] == rows or not result["unique"]:
                    raise RuntimeError(f"{name}: the pull was not exact: {result}")
                runs[name]["toolkit"].append(result["seconds"])
                runs[name]["emulator_cpu"].append(emu.cpu_seconds() - cpu)
                print(f"{name}: toolkit {result['seconds']:.2f} s", flush=True)
            if number < official_runs:
                for name in order:
                    result = child("official", emulators[name], root=roots[name],
                                   token=tokens[name])  # fmt: skip
                    runs[name]["official"].append(result["seconds"])
                    print(f"{name}: official {result['seconds']:.1f} s", flush=True)
    print()
    print("| code | toolkit runs (s) | toolkit median s | official median s | times faster "
          "| emulator CPU per pull |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, figures in runs.items():
        toolkit = median(figures["toolkit"])
        official = median(figures["official"]) if figures["official"] else float("nan")
        listed = ", ".join(f"{value:.2f}" for value in figures["toolkit"])
        print(f"| {name} | {listed} | {toolkit:.2f} | {official:.1f} | "
              f"{official / toolkit:.1f}x | {median(figures['emulator_cpu']):.2f} s |")  # fmt: skip
