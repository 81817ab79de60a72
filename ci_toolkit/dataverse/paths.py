"""Choosing the read path: the v1 API or Dataverse, per connection and per call.

A connection has a default path (``ci.source``): ``"v1"`` when the v1 API is configured,
``"dataverse"`` when only Dataverse is; ``connect(source=...)`` or ``ci.source = ...`` change
it. Reads that exist on both paths (``ci.customer``, ``ci.segment_members``) take
``source="v1" | "dataverse"`` to pick one for a call, and say in ``df.attrs["source"]`` which
one served the rows. A path that is not configured is never tried: asking for it raises a
:class:`~ci_toolkit.exceptions.ConfigurationError` naming the setting that opens it, and the
v1-only reads (workflows, segment definitions, measure metadata...) say so when only
Dataverse is configured (:class:`V1NotConfigured`).

Example
-------
>>> ci = ci_toolkit.connect()  # doctest: +SKIP
>>> ci.source  # doctest: +SKIP
'v1'
>>> ci.customer(cid, source="dataverse").profile  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import httpx

from ci_toolkit import _defaults
from ci_toolkit.exceptions import ConfigurationError
from ci_toolkit.http.session import ApiSession

if TYPE_CHECKING:
    from ci_toolkit.auth.credentials import Credential
    from ci_toolkit.dataverse.client import Dataverse

__all__ = ["SOURCES", "Source", "SourceMixin", "V1NotConfigured", "check_source"]

logger = logging.getLogger(__name__)

Source = Literal["v1", "dataverse"]
SOURCES: tuple[str, ...] = ("v1", "dataverse")

_V1_MESSAGE = (
    "{what} reads the Customer Insights v1 API, which this connection does not have (only "
    "Dataverse is configured). Workflows, segment definitions, measure metadata, entities and "
    "exports exist only on v1: set subscription_key ({key}) to add it. Profiles, activities, "
    "measures and segment members read through Dataverse: ci.dataverse.query(...), "
    "ci.customer(id), ci.segment_members(name)."
)


def v1_missing(what: str = "This call") -> ConfigurationError:
    """The error of a v1 read on a Dataverse-only connection.

    Example
    -------
    >>> "subscription_key" in str(v1_missing("ci.segments()"))
    True
    """
    return ConfigurationError(
        _V1_MESSAGE.format(what=what, key=_defaults.ENV_VARS["subscription_key"])
    )


def dataverse_missing() -> ConfigurationError:
    """The error of a Dataverse read on a v1-only connection.

    Example
    -------
    >>> "CI_DATAVERSE_URL" in str(dataverse_missing())
    True
    """
    return ConfigurationError(
        "The Dataverse path is not configured on this connection: set dataverse_url "
        f"({_defaults.ENV_VARS['dataverse_url']}) to the environment URL, like "
        "'https://contoso.crm.dynamics.com', and connect again."
    )


def check_source(value: object) -> Source:
    """``value`` if it names a path, else a ``ValueError`` listing the two.

    Example
    -------
    >>> check_source("dataverse")
    'dataverse'
    """
    if value == "v1":
        return "v1"
    if value == "dataverse":
        return "dataverse"
    raise ValueError(f"source must be 'v1' or 'dataverse', not {value!r}")


class _Refusing(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise v1_missing(f"{request.method} {request.url.path}")


class V1NotConfigured(ApiSession):
    """The v1 session of a Dataverse-only connection: every request says v1 is missing.

    It carries the connection's credential, so signing out (and the sign-in panel's prompt)
    work the same as on a v1 connection.

    Example
    -------
    >>> V1NotConfigured().request_json("GET", "instances")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ci_toolkit.exceptions.ConfigurationError: GET instances reads the Customer Insights v1 API...
    """

    def __init__(
        self,
        *,
        credential: Credential | None = None,
        closeables: tuple[httpx.Client, ...] = (),
    ) -> None:
        super().__init__(
            httpx.Client(base_url="https://v1.invalid/", transport=_Refusing()),
            credential=credential,
            closeables=closeables,
        )

    @property
    def base_url(self) -> str:
        """No v1 API: an empty string."""
        return ""

    def __repr__(self) -> str:
        return "V1NotConfigured()"

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Refuse: v1 is not configured."""
        raise v1_missing(f"{method.upper()} {path}")


class SourceMixin:
    """``ci.dataverse``, ``ci.source`` and per-call path choice for :class:`CustomerInsights`."""

    _dataverse: Dataverse | None
    _source: Source
    _has_v1: bool

    def _init_paths(self, dataverse: Dataverse | None, source: str | None, has_v1: bool) -> None:
        self._dataverse = dataverse
        self._has_v1 = has_v1
        if source is None:
            source = "v1" if has_v1 else "dataverse"
        self._source = check_source(source)
        self._require(self._source)
        if dataverse is not None and has_v1 and dataverse.v1_attributes is None:
            dataverse.v1_attributes = self._v1_attribute_names

    def _v1_attribute_names(self, entity: str) -> list[str]:
        """The v1 attribute names of ``entity`` (cached entity metadata of the v1 API)."""
        types = getattr(self, "_entity_types", None)
        return list(types(entity)) if types is not None else []

    @property
    def dataverse(self) -> Dataverse:
        """The Dataverse tables of this connection (raises when Dataverse is not configured)."""
        if self._dataverse is None:
            raise dataverse_missing()
        return self._dataverse

    @property
    def sources(self) -> tuple[str, ...]:
        """The configured paths, ``("v1",)``, ``("dataverse",)`` or both."""
        paths = []
        if getattr(self, "_has_v1", True):
            paths.append("v1")
        if self._dataverse is not None:
            paths.append("dataverse")
        return tuple(paths)

    @property
    def source(self) -> Source:
        """The default read path of this connection: ``"v1"`` or ``"dataverse"``."""
        return self._source

    @source.setter
    def source(self, value: str) -> None:
        path = check_source(value)
        self._require(path)
        self._source = path
        logger.info("Reads use the %s path by default", path)

    def _require(self, path: Source) -> None:
        if path == "dataverse" and self._dataverse is None:
            raise dataverse_missing()
        if path == "v1" and not getattr(self, "_has_v1", True):
            raise v1_missing("source='v1'")

    def _pick(self, source: str | None) -> Source:
        path = self._source if source is None else check_source(source)
        self._require(path)
        return path

    def _close_paths(self) -> None:
        if self._dataverse is not None:
            self._dataverse.session.close()
