"""The published v1 contract the emulator serves, shipped inside the package."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["Operation", "load_spec", "operations"]

SPEC_FILE = "customer-insights-v1.openapi.json"


@dataclass(frozen=True)
class Operation:
    """One operation of the contract: ``GET /instances/{instanceId}`` and its operationId."""

    operation_id: str
    method: str
    path: str


@cache
def load_spec() -> dict[str, Any]:
    """The OpenAPI document (parsed once)."""
    text = resources.files(__package__).joinpath(SPEC_FILE).read_text(encoding="utf-8")
    spec: dict[str, Any] = json.loads(text)
    return spec


def operations() -> list[Operation]:
    """Every operation of the contract, in document order."""
    ops: list[Operation] = []
    for path, item in load_spec()["paths"].items():
        for method, op in item.items():
            if method in {"get", "put", "post", "patch", "delete"}:
                ops.append(Operation(op["operationId"], method.upper(), path))
    return ops
