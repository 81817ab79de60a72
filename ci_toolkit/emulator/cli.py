"""``ci-toolkit emulator``: serve a local Customer Insights emulator until Ctrl-C.

The flags map one to one onto :class:`~ci_toolkit.emulator.config.EmulatorConfig`.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ci_toolkit.emulator.config import EmulatorConfig
from ci_toolkit.emulator.server import HOST, Emulator, EmulatorSettings

__all__ = ["add_arguments", "config_from_args", "describe", "run"]

ENV_VARS = (
    ("CI_BASE_URL", "base_url"),
    ("CI_AUTHORITY", "authority"),
    ("CI_TENANT_ID", "tenant_id"),
    ("CI_CLIENT_ID", "client_id"),
    ("CI_SUBSCRIPTION_KEY", "subscription_key"),
    ("CI_INSTANCE_ID", "instance_id"),
    ("CI_CA_FILE", "ca_file"),
)


def _number(
    kind: Callable[[str], float], check: Callable[[float], bool], rule: str
) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} {rule}")
        return value

    return parse


def _host(text: str) -> str:
    """Only 127.0.0.1: the emulator hands its demo keys and tokens to whoever connects."""
    if text.strip() != HOST:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the emulator listens on {HOST} only (it gives demo credentials to "
            "anyone who connects); to reach it from another machine, forward the port, "
            "e.g. ssh -L PORT:127.0.0.1:PORT"
        )
    return HOST


def _output_dir(text: str) -> Path | str:
    """A local folder, or an fsspec URL (``abfs://container``) kept as text."""
    head, sep, _ = text.partition("://")
    if sep and len(head) > 1 and head.replace("+", "").isalnum() and head != "file":
        return text
    return Path(text.removeprefix("file://"))


_port = _number(int, lambda v: 0 <= v <= 65535, "is not a port (0-65535; 0 picks a free one)")
_positive_int = _number(int, lambda v: v >= 1, "must be at least 1")
_non_negative = _number(float, lambda v: v >= 0, "must not be negative")
_positive = _number(float, lambda v: v > 0, "must be greater than 0")
_share = _number(float, lambda v: 0 <= v <= 1, "must be between 0 and 1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's flags to ``parser``."""
    defaults = EmulatorConfig()
    add = parser.add_argument
    add("--host", type=_host, default=HOST, help=f"always {HOST}: never other interfaces")
    add("--port", type=_port, default=defaults.port, help="TCP port on 127.0.0.1 (0: any free)")
    add("--profiles", type=_positive_int, default=defaults.profiles, help="unified profiles")
    add("--seed", type=int, default=defaults.seed, help="seed of the demo data and identities")
    add("--latency-ms", type=_non_negative, default=defaults.latency_ms, help="added latency")
    add("--rate-limit", type=_positive, default=None, help="requests/s per subscription key")
    add("--fault-rate", type=_share, default=defaults.fault_rate, help="share of faulty calls")
    add(
        "--token-lifetime",
        type=_positive_int,
        default=defaults.token_lifetime,
        help="access token lifetime in seconds",
    )
    add(
        "--time-scale",
        type=_non_negative,
        default=defaults.time_scale,
        help="seconds of wall time per workflow task step",
    )
    add(
        "--no-auto-approve",
        action="store_true",
        help="wait for a person to approve device codes at /devicelogin",
    )
    add(
        "--data-dir",
        type=Path,
        default=None,
        help="folder where changes persist across runs (an unreadable file there stops the start)",
    )
    add(
        "--output-dir",
        type=_output_dir,
        default=None,
        help="folder (or fsspec URL of a container, e.g. abfs://customerinsights) where "
        "exports write their files",
    )
    add(
        "--dataverse-rate-limit",
        type=_positive_int,
        default=defaults.dataverse_rate_limit,
        help="Dataverse service protection: requests per user per window",
    )
    add(
        "--dataverse-window",
        type=_positive,
        default=defaults.dataverse_window,
        help="Dataverse service protection window in seconds",
    )
    add(
        "--dataverse-execution-ms",
        type=_positive,
        default=defaults.dataverse_execution_ms,
        help="Dataverse combined execution time per user per window (ms)",
    )
    add(
        "--dataverse-concurrency",
        type=_positive_int,
        default=defaults.dataverse_concurrency,
        help="Dataverse concurrent requests per user",
    )
    add(
        "--dataverse-guid-order",
        choices=("sqlserver", "lexicographic"),
        default=defaults.dataverse_guid_order,
        help="how the Dataverse API orders GUIDs",
    )


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The :class:`EmulatorConfig` the parsed flags describe."""
    return EmulatorConfig(
        port=int(args.port),
        profiles=int(args.profiles),
        seed=args.seed,
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        fault_rate=args.fault_rate,
        token_lifetime=int(args.token_lifetime),
        time_scale=args.time_scale,
        auto_approve=not args.no_auto_approve,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        dataverse_rate_limit=int(args.dataverse_rate_limit),
        dataverse_window=args.dataverse_window,
        dataverse_execution_ms=args.dataverse_execution_ms,
        dataverse_concurrency=int(args.dataverse_concurrency),
        dataverse_guid_order=args.dataverse_guid_order,
    )


def describe(settings: EmulatorSettings, config: EmulatorConfig) -> str:
    """What to tell a person about a running emulator, ending with ``export`` lines."""
    root = settings.base_url.removesuffix("/v1")
    approval = (
        f"automatic, as the demo {config.auto_approve_role}"
        if config.auto_approve
        else f"a person approves at {root}/devicelogin"
    )
    lines = [
        "Customer Insights emulator running (Ctrl-C to stop)",
        f"  base URL:          {settings.base_url}",
        f"  authority:         {settings.authority}",
        f"  tenant id:         {settings.tenant_id}",
        f"  client id:         {settings.client_id}  (public client, device code)",
        f"  subscription key:  {settings.subscription_key}  (the emulator's demo key)",
        f"  instance id:       {settings.instance_id}",
        f"  CA file:           {settings.ca_file}",
        f"  device login:      {root}/devicelogin  (sign-in: {approval})",
        f"  scope:             {settings.scope}",
        f"  Dataverse org URL: {settings.dataverse_url}  (Web API: /api/data/v9.2/)",
        f"  Dataverse scope:   {settings.dataverse_scope}",
        "",
        "To point the toolkit at it, export:",
    ]
    for name, attr in ENV_VARS:
        lines.append(f"export {name}={shlex.quote(str(getattr(settings, attr)))}")
    return "\n".join(lines)


def run(args: argparse.Namespace, *, out: TextIO, stop: threading.Event | None = None) -> int:
    """Serve until Ctrl-C (or until ``stop`` is set); the process exit code."""
    config = config_from_args(args)
    stop = stop or threading.Event()
    try:
        emulator = Emulator(config).start()
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"ci-toolkit emulator: error: could not start: {exc}", file=out)
        return 1
    event = stop
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        # Explicit handlers: a shell may start background jobs with SIGINT ignored.
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: event.set())
    try:
        print(describe(emulator.settings, config), file=out, flush=True)
        while not event.wait(0.5):
            pass
        print("Stopping the emulator...", file=out, flush=True)
    finally:
        emulator.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
    return 0
