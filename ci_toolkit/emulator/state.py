"""Everything one emulator run holds: identities and the demo instances with their data.

Each part lives in its own room and is only composed here:
``identity`` (tenant, apps, users, roles), ``data.store.DataStore`` (tables, entities,
segments, measures) and ``workflows.engine.WorkflowEngine`` (jobs, graph, schedules, exports).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ci_toolkit.emulator.config import EmulatorConfig
from ci_toolkit.emulator.data.persistence import DataDirError, read_json, write_json
from ci_toolkit.emulator.data.store import DataStore
from ci_toolkit.emulator.identity import ROLES, Directory
from ci_toolkit.emulator.tokens import TokenService
from ci_toolkit.emulator.workflows.engine import WorkflowEngine
from ci_toolkit.emulator.workflows.lake_export import LakeTarget
from ci_toolkit.emulator.workflows.schedules import SCHEDULES_FILE

__all__ = ["EmulatorState", "InstanceState", "demo_instance_id"]

#: Namespace for the deterministic ids the emulator derives from its seed.
_NAMESPACE = uuid.UUID("7c1d4b9e-3f0a-4c53-9a8e-2b6f0d1e5a77")

#: File (inside ``data_dir/<instanceId>/``) that keeps role assignments across runs.
ROLE_ASSIGNMENTS_FILE = "role-assignments.json"

logger = logging.getLogger(__name__)


def demo_instance_id(seed: int, index: int) -> str:
    """The id of the ``index``-th demo instance for ``seed`` (stable across runs)."""
    return str(uuid.uuid5(_NAMESPACE, f"instance:{seed}:{index}"))


def _check_schedules(path: Path) -> None:
    """Stop the start if the schedules file (read later, by the workflow engine) is unreadable.

    Raises
    ------
    DataDirError
        When the file exists but is not an array of objects with a ``scheduleId``.
    """
    saved = read_json(path, expect=list)
    if saved is not None and not all(
        isinstance(s, dict) and isinstance(s.get("scheduleId"), str) for s in saved
    ):
        raise DataDirError(path, "it is not an array of objects with a 'scheduleId'")


@dataclass
class InstanceState:
    """One Customer Insights instance (environment) of the emulator."""

    instance_id: str
    name: str
    instance_type: str
    created: datetime
    data: DataStore
    workflows: WorkflowEngine
    #: principal object id -> role name ("admin" | "contributor" | "viewer")
    role_assignments: dict[str, str] = field(default_factory=dict)
    #: principal object id -> principal type ("user" | "group" | "app")
    principal_types: dict[str, str] = field(default_factory=dict)
    #: Folder for this instance's persisted state, if the run persists anything.
    data_dir: Path | None = None


class EmulatorState:
    """The whole emulated world of one run, built deterministically from the config.

    Raises
    ------
    DataDirError
        When a file in ``config.data_dir`` (definitions, role assignments, schedules) exists
        but cannot be read; the file is left as it is and nothing stays open.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.directory = Directory.from_seed(config.seed)
        self.tokens = TokenService(self.directory)
        #: ``https://127.0.0.1:<port>`` once a server serves this state (set by ``Emulator``).
        self.public_url: str | None = None
        self._save_lock = threading.Lock()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if config.output_dir is None or isinstance(config.output_dir, str):
            self._tmp = tempfile.TemporaryDirectory(prefix="ci-emulator-")
            self.output_dir = Path(self._tmp.name) / "exports"
        else:
            self.output_dir = config.output_dir
        #: The container data-out exports write to (the output folder or URL).
        self.lake = LakeTarget.under(
            config.output_dir if isinstance(config.output_dir, str) else self.output_dir,
            storage_options=config.output_options,
            partition_rows=config.lake_partition_rows,
        )
        self.instances: dict[str, InstanceState] = {}
        try:
            self._build_instances()
        except BaseException:
            self.close()
            raise

    def _build_instances(self) -> None:
        """The demo instances; a ``data_dir`` file that cannot be read stops it (DataDirError)."""
        config = self.config
        demo = [
            ("Contoso Retail", "production", config.profiles),
            ("Contoso Retail Sandbox", "sandbox", min(config.profiles, 500)),
        ]
        for index, (name, kind, profiles) in enumerate(demo):
            instance_id = demo_instance_id(config.seed, index)
            data_dir = config.data_dir / instance_id if config.data_dir else None
            if data_dir is not None:
                _check_schedules(data_dir / SCHEDULES_FILE)
            data = DataStore(
                instance_id=instance_id,
                profiles=profiles,
                seed=config.seed + index,
                now=self.now,
                data_dir=data_dir,
            )
            try:
                workflows = WorkflowEngine(
                    data=data,
                    time_scale=config.time_scale,
                    output_dir=self.output_dir / instance_id,
                    seed=config.seed + index,
                    now=self.now,
                    data_dir=data_dir,
                    lake=self.lake,
                )
            except BaseException:
                data.close()
                raise
            self.instances[instance_id] = InstanceState(
                instance_id=instance_id,
                name=name,
                instance_type=kind,
                created=self.now,
                data=data,
                workflows=workflows,
                data_dir=data_dir,
            )
            self._load_role_assignments(self.instances[instance_id])

    @property
    def default_instance_id(self) -> str:
        """The instance the toolkit uses when none is chosen (the production demo)."""
        return next(iter(self.instances))

    def _load_role_assignments(self, instance: InstanceState) -> None:
        """Fill the demo assignments, then any persisted ones from ``data_dir``."""
        for user in self.directory.users:
            instance.role_assignments[user.object_id] = user.role
            instance.principal_types[user.object_id] = "user"
        app = self.directory.app_principal
        instance.role_assignments[app.object_id] = app.role
        instance.principal_types[app.object_id] = "app"
        if instance.data_dir is None:
            return
        path = instance.data_dir / ROLE_ASSIGNMENTS_FILE
        saved = read_json(path, expect=list)
        if saved is None:
            return
        try:
            assignments = {
                str(item["principalId"]): (
                    str(item["role"]),
                    str(item.get("principalType", "user")),
                )
                for item in saved
                if item.get("role") in ROLES
            }
        except (AttributeError, TypeError, KeyError) as exc:
            raise DataDirError(
                path, f"an entry is not an object with 'principalId' and 'role' ({exc!r})"
            ) from exc
        instance.role_assignments = {oid: role for oid, (role, _) in assignments.items()}
        instance.principal_types = {oid: kind for oid, (_, kind) in assignments.items()}

    def save_role_assignments(self, instance: InstanceState) -> None:
        """Persist ``instance``'s role assignments when the run has a ``data_dir``."""
        if instance.data_dir is None:
            return
        items = [
            {
                "principalId": oid,
                "role": role,
                "principalType": instance.principal_types.get(oid, "user"),
            }
            for oid, role in instance.role_assignments.items()
        ]
        with self._save_lock:
            write_json(instance.data_dir / ROLE_ASSIGNMENTS_FILE, items)

    def close(self) -> None:
        """Stop jobs, close databases and remove temporary files."""
        for instance in self.instances.values():
            instance.workflows.close()
            instance.data.close()
        if self._tmp is not None:
            self._tmp.cleanup()
