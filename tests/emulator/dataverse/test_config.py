"""The Dataverse options of ``ci-toolkit emulator`` and ``EmulatorConfig``."""

from __future__ import annotations

import pytest

from ci_toolkit.cli import build_parser, main
from ci_toolkit.emulator.cli import config_from_args


def test_dataverse_flags_map_onto_the_config() -> None:
    args = build_parser().parse_args(
        [
            "emulator",
            "--dataverse-rate-limit=100",
            "--dataverse-window=60",
            "--dataverse-execution-ms=5000",
            "--dataverse-concurrency=4",
            "--dataverse-guid-order=lexicographic",
        ]
    )
    config = config_from_args(args)
    assert config.dataverse_rate_limit == 100
    assert config.dataverse_window == 60
    assert config.dataverse_execution_ms == 5000
    assert config.dataverse_concurrency == 4
    assert config.dataverse_guid_order == "lexicographic"
    defaults = config_from_args(build_parser().parse_args(["emulator"]))
    assert (defaults.dataverse_rate_limit, defaults.dataverse_window) == (6000, 300)
    assert (defaults.dataverse_execution_ms, defaults.dataverse_concurrency) == (1_200_000, 52)
    assert defaults.dataverse_guid_order == "sqlserver"


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--dataverse-rate-limit", "0"], "--dataverse-rate-limit: '0' must be at least 1"),
        (["--dataverse-window", "0"], "--dataverse-window: '0' must be greater than 0"),
        (["--dataverse-concurrency", "x"], "--dataverse-concurrency: 'x' is not a number"),
        (["--dataverse-guid-order", "python"], "invalid choice: 'python'"),
    ],
)
def test_bad_dataverse_flags_give_one_line(
    capsys: pytest.CaptureFixture[str], flags: list[str], fragment: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["emulator", *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err
