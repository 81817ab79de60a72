"""Everything one emulator run holds: identities and the demo instances with their data.

Each part lives in its own room and is only composed here:
``identity`` (tenant, apps, users, roles), ``data.store.DataStore`` (tables, entities,
segments, measures) and ``workflows.engine.WorkflowEngine`` (jobs, graph, schedules, exports).
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ci_toolkit.emulator.config import EmulatorConfig
from ci_toolkit.emulator.data.store import DataStore
from ci_toolkit.emulator.workflows.engine import WorkflowEngine

__all__ = ["EmulatorState", "InstanceState", "demo_instance_id"]

#: Namespace for the deterministic ids the emulator derives from its seed.
_NAMESPACE = uuid.UUID("7c1d4b9e-3f0a-4c53-9a8e-2b6f0d1e5a77")


def demo_instance_id(seed: int, index: int) -> str:
    """The id of the ``index``-th demo instance for ``seed`` (stable across runs)."""
    return str(uuid.uuid5(_NAMESPACE, f"instance:{seed}:{index}"))


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


class EmulatorState:
    """The whole emulated world of one run, built deterministically from the config."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.now = datetime.now(UTC).replace(microsecond=0)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if config.output_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ci-emulator-")
            self.output_dir = Path(self._tmp.name) / "exports"
        else:
            self.output_dir = config.output_dir
        self.instances: dict[str, InstanceState] = {}
        demo = [
            ("Contoso Retail", "production", config.profiles),
            ("Contoso Retail Sandbox", "sandbox", min(config.profiles, 500)),
        ]
        for index, (name, kind, profiles) in enumerate(demo):
            instance_id = demo_instance_id(config.seed, index)
            data_dir = config.data_dir / instance_id if config.data_dir else None
            data = DataStore(
                instance_id=instance_id,
                profiles=profiles,
                seed=config.seed + index,
                now=self.now,
                data_dir=data_dir,
            )
            workflows = WorkflowEngine(
                data=data,
                time_scale=config.time_scale,
                output_dir=self.output_dir / instance_id,
                seed=config.seed + index,
                now=self.now,
                data_dir=data_dir,
            )
            self.instances[instance_id] = InstanceState(
                instance_id=instance_id,
                name=name,
                instance_type=kind,
                created=self.now,
                data=data,
                workflows=workflows,
            )

    @property
    def default_instance_id(self) -> str:
        """The instance the toolkit uses when none is chosen (the production demo)."""
        return next(iter(self.instances))

    def close(self) -> None:
        """Stop jobs, close databases and remove temporary files."""
        for instance in self.instances.values():
            instance.workflows.close()
            instance.data.close()
        if self._tmp is not None:
            self._tmp.cleanup()
