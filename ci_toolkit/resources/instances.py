"""Instances (environments) visible to the signed-in identity.

API operations (function -> returns: operation):

``instances()`` -> DataFrame, one row per instance
    ``GET /instances`` (Get-all-instances)
``instance(instance_id=None)`` -> Series of instance metadata
    ``GET /instances/{instanceId}`` (Get-instance-metadata)
``use_instance(instance_id)`` -> None (switches the client)
    ``GET /instances/{instanceId}`` (Get-instance-metadata), to check it exists
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ci_toolkit.resources._base import ResourceBase, segment

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.frames import Kind

__all__ = ["INSTANCE_COLUMNS", "INSTANCE_METADATA_FIELDS", "InstancesMixin"]

#: Columns of :meth:`InstancesMixin.instances` (name, JSON path, kind).
INSTANCE_COLUMNS: list[tuple[str, str, Kind]] = [
    ("instanceId", "instanceId", "str"),
    ("name", "name", "str"),
    ("instanceType", "instanceType", "str"),
    ("azureRegion", "azureRegion", "str"),
    ("platformType", "platformType", "str"),
    ("scaleUnitId", "scaleUnitId", "str"),
    ("expiryTimeUtc", "expiryTimeUtc", "datetime"),
]

#: Fields of :meth:`InstancesMixin.instance`.
INSTANCE_METADATA_FIELDS: list[tuple[str, str, Kind]] = [
    ("instanceId", "instanceId", "str"),
    ("name", "name", "str"),
    ("instanceType", "instanceType", "str"),
    ("provisioningState", "provisioningState", "str"),
    ("region", "region", "str"),
    ("azureRegion", "azureRegion", "str"),
    ("platformType", "platformType", "str"),
    ("isB2B", "isB2B", "bool"),
    ("isB2C", "isB2C", "bool"),
    ("expiryTimeUtc", "expiryTimeUtc", "datetime"),
    ("refreshScheduleActive", "refreshSchedule.isActive", "bool"),
    ("refreshScheduleCron", "refreshSchedule.cronSchedules", "object"),
    ("refreshScheduleTimezone", "refreshSchedule.timezoneId", "str"),
    ("version", "version", "int"),
    ("createdBy", "createdBy", "str"),
    ("createdUtc", "createdUtc", "datetime"),
    ("updatedBy", "updatedBy", "str"),
    ("updatedUtc", "updatedUtc", "datetime"),
]


class InstancesMixin(ResourceBase):
    """Instances: list, metadata, and which one the client uses."""

    def instances(self) -> pd.DataFrame:
        """List the instances this identity can see.

        Returns
        -------
        pandas.DataFrame
            One row per instance: ``instanceId``, ``name``, ``instanceType``,
            ``azureRegion``, ``platformType``, ``scaleUnitId``, ``expiryTimeUtc`` (UTC).

        Examples
        --------
        >>> ci.instances()[["name", "instanceType"]]  # doctest: +SKIP
        """
        from ci_toolkit import frames

        body = self._get("instances") or []
        return frames.records_frame(body, INSTANCE_COLUMNS)

    def instance(self, instance_id: str | None = None) -> pd.Series:
        """Metadata of one instance (the client's current one by default).

        Parameters
        ----------
        instance_id : str or None
            Another instance's id; ``None`` for the current one.

        Returns
        -------
        pandas.Series
            Typed fields (``name``, ``instanceType``, ``provisioningState``, ``createdUtc``...);
            the full ``InstanceMetadata`` JSON in ``.attrs["raw"]``.

        Raises
        ------
        ci_toolkit.exceptions.ConfigurationError
            When ``instance_id`` is not a GUID (no request is sent).
        ci_toolkit.exceptions.NotFoundError
            When no such instance exists.

        Examples
        --------
        >>> ci.instance()["provisioningState"]  # doctest: +SKIP
        'active'
        """
        from ci_toolkit import frames
        from ci_toolkit.config import check_instance_id

        iid = self.instance_id if instance_id is None else check_instance_id(instance_id)
        body = self._get(f"instances/{segment(iid)}") or {}
        return frames.record_series(body, INSTANCE_METADATA_FIELDS)

    def use_instance(self, instance_id: str, *, check: bool = True) -> None:
        """Switch the client to another instance.

        Parameters
        ----------
        instance_id : str
            The instance id (see :meth:`instances`).
        check : bool
            Verify first that the instance exists (raises ``NotFoundError`` if not).

        Raises
        ------
        ci_toolkit.exceptions.ConfigurationError
            When ``instance_id`` is not a GUID (no request is sent).
        ci_toolkit.exceptions.NotFoundError
            When ``check`` finds no such instance.

        Examples
        --------
        >>> ci.use_instance(ci.instances()["instanceId"].iloc[1])  # doctest: +SKIP
        """
        from ci_toolkit.config import check_instance_id

        instance_id = check_instance_id(instance_id)  # refused before any request if malformed
        if check:
            self._get(f"instances/{segment(instance_id)}")
        self.instance_id = instance_id
