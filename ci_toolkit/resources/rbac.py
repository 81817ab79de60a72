"""Role-based access: my role, role assignments, role definitions.

API operations (function -> returns: operation):

``my_role()`` -> Series (principalId, principalType, role, roles, instanceId)
    ``GET /instances/{instanceId}/rbac/myrole`` (Get-current-user-role)
``role_assignments()`` -> DataFrame, one row per principal
    ``GET /instances/{instanceId}/rbac/assignments`` (Get-all-role-assignments)
``roles()`` -> DataFrame, one row per role
    ``GET /instances/{instanceId}/rbac/roles`` (Get-all-role-definitions)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ci_toolkit.resources._base import ResourceBase

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.frames import Kind

__all__ = ["ASSIGNMENT_COLUMNS", "ROLE_COLUMNS", "RbacMixin"]

ASSIGNMENT_COLUMNS: list[tuple[str, str, Kind]] = [
    ("principalId", "principalId", "str"),
    ("principalType", "principalType", "str"),
    ("role", "role", "str"),
    ("roles", "roles", "object"),
    ("instanceId", "instanceId", "str"),
]

ROLE_COLUMNS: list[tuple[str, str, Kind]] = [
    ("roleName", "roleName", "str"),
    ("description", "description", "str"),
]

_RANK = {"admin": 3, "contributor": 2, "viewer": 1}


def _assignment(item: Mapping[str, Any]) -> dict[str, Any]:
    roles = [str(r) for r in item.get("roles") or []]
    best = max(roles, key=lambda r: _RANK.get(r.lower(), 0), default=None)
    return {**item, "roles": roles, "role": best}


class RbacMixin(ResourceBase):
    """Roles and assignments."""

    def my_role(self) -> pd.Series:
        """The signed-in identity's role assignment on the instance.

        Returns
        -------
        pandas.Series
            ``principalId``, ``principalType``, ``role`` (the highest of ``roles``),
            ``roles`` (list), ``instanceId``.

        Examples
        --------
        >>> ci.my_role()["role"]  # doctest: +SKIP
        'admin'
        """
        from ci_toolkit import frames

        body = self._get(self._path("rbac/myrole")) or {}
        return frames.record_series(_assignment(body), ASSIGNMENT_COLUMNS, raw=body)

    def role_assignments(self) -> pd.DataFrame:
        """Everyone with a role on the instance.

        Returns
        -------
        pandas.DataFrame
            ``principalId``, ``principalType``, ``role``, ``roles``, ``instanceId``.

        Examples
        --------
        >>> ci.role_assignments()["role"].value_counts()  # doctest: +SKIP
        """
        from ci_toolkit import frames

        body = self._get(self._path("rbac/assignments")) or []
        return frames.records_frame([_assignment(a) for a in body], ASSIGNMENT_COLUMNS, raw=body)

    def roles(self) -> pd.DataFrame:
        """The role definitions (admin, contributor, viewer).

        Returns
        -------
        pandas.DataFrame
            ``roleName``, ``description``.

        Examples
        --------
        >>> ci.roles()  # doctest: +SKIP
        """
        from ci_toolkit import frames

        body = self._get(self._path("rbac/roles")) or []
        return frames.records_frame(body, ROLE_COLUMNS)
