"""What every resource mixin shares: the session, the chosen instance and small helpers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from ci_toolkit.http.session import ApiSession

__all__ = ["ResourceBase", "segment"]

logger = logging.getLogger(__name__)

#: The only workflow the v1 API exposes.
WORKFLOW = "main"


def segment(value: str) -> str:
    """Quote one path segment (names may hold spaces or slashes); refuse ``.`` and ``..``.

    Every name either reaches its own endpoint or is refused here, before any request:
    ``"."`` and ``".."`` are the only names quoting leaves as dot segments, which URL
    handling would normalise away (``data/..`` would read the instance itself).

    Examples
    --------
    >>> segment("My segment/1")
    'My%20segment%2F1'
    >>> segment("..")
    Traceback (most recent call last):
    ...
    ValueError: '..' is not a valid name: '.' and '..' would change the URL's path
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty name, got {value!r}")
    if value in (".", ".."):
        raise ValueError(f"{value!r} is not a valid name: '.' and '..' would change the URL's path")
    return quote(value, safe="")


class ResourceBase:
    """State shared by the resource mixins of :class:`ci_toolkit.client.CustomerInsights`."""

    _session: ApiSession
    _instance_id: str | None
    _entity_cache: dict[tuple[str, str], dict[str, Any]]

    def _init_base(self, session: ApiSession, instance_id: str | None) -> None:
        self._session = session
        self._instance_id = instance_id
        self._entity_cache = {}

    @property
    def instance_id(self) -> str:
        """The instance every call works on (the first instance when none was chosen)."""
        if self._instance_id is None:
            instances = self._session.request_json("GET", "instances") or []
            if not instances:
                from ci_toolkit.exceptions import NotFoundError

                raise NotFoundError(
                    "no Customer Insights instance is visible to this sign-in: ask an admin of "
                    "the environment to give it a role (Settings > Permissions)."
                )
            self._instance_id = str(instances[0]["instanceId"])
            logger.info("Using instance %s (%s)", self._instance_id, instances[0].get("name"))
        return self._instance_id

    @instance_id.setter
    def instance_id(self, value: str) -> None:
        from ci_toolkit.config import check_instance_id

        value = check_instance_id(value)  # ConfigurationError (a ValueError) if not a GUID
        if value != self._instance_id:
            self._entity_cache.clear()
        self._instance_id = value

    def _path(self, suffix: str) -> str:
        return f"instances/{segment(self.instance_id)}/{suffix}"

    def _workflow_path(self, suffix: str = "") -> str:
        tail = f"/{suffix}" if suffix else ""
        return self._path(f"workflows/{WORKFLOW}{tail}")

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._session.request_json("GET", path, params=params)
