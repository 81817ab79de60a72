"""Demo identities: tenant, app registrations, users, roles and role assignments.

(Skeleton: the platform part of the emulator fleshes this out.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Principal", "Role"]

Role = Literal["admin", "contributor", "viewer"]


@dataclass(frozen=True)
class Principal:
    """A signed-in user or an application (client credentials) and its role."""

    object_id: str
    name: str
    role: Role
    kind: Literal["user", "app"] = "user"
