"""The emulated world of one run: ``--data-dir`` files it cannot read stop it, untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_toolkit.emulator.config import EmulatorConfig
from ci_toolkit.emulator.data.persistence import DEFINITIONS_FILE, DataDirError
from ci_toolkit.emulator.state import ROLE_ASSIGNMENTS_FILE, EmulatorState, demo_instance_id
from ci_toolkit.emulator.workflows.schedules import SCHEDULES_FILE

SEED = 5


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        (DEFINITIONS_FILE, b"{", "not valid JSON"),
        (ROLE_ASSIGNMENTS_FILE, b'{"principalId": "x"}', "an object where an array was expected"),
        (ROLE_ASSIGNMENTS_FILE, b'[{"role": "admin"}]', "'principalId' and 'role'"),
        (ROLE_ASSIGNMENTS_FILE, b"\xff\xfe[]", "not UTF-8"),
        (SCHEDULES_FILE, b"[{]", "not valid JSON"),
        (SCHEDULES_FILE, b'[{"name": "nightly"}]', "objects with a 'scheduleId'"),
        (SCHEDULES_FILE, None, "Is a directory"),
    ],
)
def test_an_unreadable_data_dir_file_stops_the_run_and_is_kept(
    tmp_path: Path, name: str, content: bytes | None, reason: str
) -> None:
    """Every file an instance keeps in ``--data-dir`` is read (or checked) at the start:
    ignoring one would overwrite it, and what it held, at the first change. The second
    instance's file is the bad one, so the first instance's database is closed again."""
    folder = tmp_path / demo_instance_id(SEED, 1)
    folder.mkdir()
    path = folder / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(DataDirError) as info:
        EmulatorState(EmulatorConfig(profiles=50, seed=SEED, data_dir=tmp_path))
    assert str(path) in str(info.value)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)
    if content is None:
        assert path.is_dir()
    else:
        assert path.read_bytes() == content
    assert [p.name for p in folder.iterdir()] == [name]


def test_readable_data_dir_files_start_the_run(tmp_path: Path) -> None:
    """The checks refuse only what cannot be read: files as the emulator writes them load."""
    folder = tmp_path / demo_instance_id(SEED, 0)
    folder.mkdir()
    (folder / SCHEDULES_FILE).write_text('[{"scheduleId": "s1", "name": "nightly"}]')
    (folder / ROLE_ASSIGNMENTS_FILE).write_text(
        '[{"principalId": "p1", "role": "viewer", "principalType": "group"}]'
    )
    state = EmulatorState(EmulatorConfig(profiles=50, seed=SEED, data_dir=tmp_path))
    try:
        instance = state.instances[demo_instance_id(SEED, 0)]
        assert instance.role_assignments == {"p1": "viewer"}
        assert instance.principal_types == {"p1": "group"}
    finally:
        state.close()
