"""Reaching export folders through fsspec: local paths, ``abfs://``/``az://`` (adlfs), others.

Partition locations in ``model.json`` are full ``https://<account>.blob|dfs.core.windows.net``
URIs, which adlfs does not accept: :func:`location_to_url` maps them to
``abfs://<container>/<path>`` (plus the account name). A location inside the opened export
folder is read relative to that folder instead, with the same file system and credentials,
so a local copy of an export (or one on Azurite) reads like the original.

Example
-------
>>> location_to_url("https://acct.dfs.core.windows.net/c/CustomerInsights_1/x/T_1.csv")
('abfs://c/CustomerInsights_1/x/T_1.csv', {'account_name': 'acct'})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from ci_toolkit.lake.errors import LakeError, MissingDependencyError

__all__ = [
    "SECRET_OPTIONS",
    "filesystem",
    "location_to_url",
    "public_options",
    "remember_secrets",
    "storage_error",
]

logger = logging.getLogger(__name__)

#: ``storage_options`` keys that hold secrets: never logged, never put in a Dask graph.
SECRET_OPTIONS = frozenset(
    {
        "account_key",
        "connection_string",
        "sas_token",
        "client_secret",
        "credential",
        "password",
        "token",
        "secret",
        "key",
    }
)
_AZURE_HOSTS = (".blob.core.windows.net", ".dfs.core.windows.net")
_AZURE_PROTOCOLS = ("abfs", "abfss", "az", "adl")
_CREDENTIAL_FIX = (
    "give credentials in storage_options, e.g. {'account_name': ..., 'account_key': ...}, "
    "{'connection_string': ...}, {'account_name': ..., 'sas_token': ...} or a service "
    "principal {'account_name', 'tenant_id', 'client_id', 'client_secret'}; or set "
    "AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT_NAME with "
    "AZURE_STORAGE_ACCOUNT_KEY / AZURE_STORAGE_SAS_TOKEN) in the environment"
)


#: Secret values seen in ``storage_options`` in this process: scrubbed from every message.
_SEEN_SECRETS: set[str] = set()


def remember_secrets(options: Mapping[str, Any]) -> None:
    """Note the secret values of ``options`` (and the key and signature inside a connection
    string or SAS token) so that :func:`storage_error` never repeats them."""
    for name, value in options.items():
        if name.lower() not in SECRET_OPTIONS or not isinstance(value, str) or not value:
            continue
        _SEEN_SECRETS.add(value)
        for part in value.replace("&", ";").split(";"):
            key, _, inner = part.partition("=")
            if key.strip().lower() in {"accountkey", "sharedaccesssignature", "sig"} and inner:
                _SEEN_SECRETS.add(inner.strip())


def public_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``storage_options`` without the secret ones (what may be logged or shipped).

    Examples
    --------
    >>> public_options({"account_name": "a", "account_key": "k"})
    {'account_name': 'a'}
    """
    return {k: v for k, v in options.items() if k.lower() not in SECRET_OPTIONS}


def _protocol(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head.lower() if sep else "file"


def storage_error(error: BaseException, url: str) -> LakeError:
    """A :class:`LakeError` for an exception fsspec or adlfs raised while reaching ``url``."""
    name = type(error).__name__
    if isinstance(error, LakeError):
        return error
    text = str(error)
    for secret in sorted(_SEEN_SECRETS, key=len, reverse=True):
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    if isinstance(error, FileNotFoundError):
        return LakeError(f"{url} does not exist (check the path, container and account)")
    lowered = text.lower()
    if "must provide either a connection_string or account_name" in lowered:
        return LakeError(f"no storage credentials for {url}: {_CREDENTIAL_FIX}")
    if any(
        marker in lowered
        for marker in ("authenticationfailed", "authorizationfailure", "permission", "403")
    ) or name in {"ClientAuthenticationError", "PermissionError"}:
        return LakeError(
            f"the storage account refused access to {url} ({name}): check the credentials "
            f"and that the identity may read the container (Storage Blob Data Reader); "
            f"{_CREDENTIAL_FIX}"
        )
    return LakeError(f"could not read {url}: {name}: {text.splitlines()[0] if text else ''}")


def filesystem(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec file system and path of ``url`` (a local path or any fsspec URL).

    Raises
    ------
    MissingDependencyError
        fsspec (or adlfs for ``abfs://``/``az://``) is not installed.
    LakeError
        The URL cannot be reached as given (e.g. no credentials).
    """
    try:
        import fsspec
    except ImportError:
        raise MissingDependencyError.for_package("fsspec", "lake", "read export folders") from None
    remember_secrets(storage_options or {})
    protocol = _protocol(url)
    if protocol in ("https", "http") and urlsplit(url).netloc.lower().endswith(_AZURE_HOSTS):
        url, extra = location_to_url(url)
        storage_options = {**extra, **(storage_options or {})}
        protocol = "abfs"
    if protocol in _AZURE_PROTOCOLS:
        try:
            import adlfs  # noqa: F401
        except ImportError:
            raise MissingDependencyError.for_package(
                "adlfs", "lake", f"read {protocol}:// URLs (Azure Blob Storage / ADLS Gen2)"
            ) from None
    try:
        # a fresh instance: fsspec's instance cache would hand back a file system built
        # with other credentials (e.g. from an AZURE_STORAGE_* variable since unset)
        options = {**dict(storage_options or {}), "skip_instance_cache": True}
        fs, path = fsspec.core.url_to_fs(url, **options)
    except ImportError as error:
        package = str(error).split()[1] if str(error).startswith("Install ") else protocol
        raise MissingDependencyError.for_package(package, "lake", f"read {url}") from None
    except ValueError as error:
        if "protocol not known" in str(error).lower():
            raise LakeError(f"{url}: fsspec knows no file system {protocol!r}") from None
        raise storage_error(error, url) from None
    except Exception as error:
        raise storage_error(error, url) from None
    return fs, str(path)


def location_to_url(location: str) -> tuple[str, dict[str, str]]:
    """An ``https://`` Azure storage location as an adlfs URL plus ``account_name``.

    Other locations are returned as they are.

    Raises
    ------
    LakeError
        The location has a query string (``?snapshot=...``): reading it without the query
        would silently read another version of the blob.
    """
    parts = urlsplit(location)
    host = parts.netloc.lower()
    if parts.scheme in ("https", "http") and host.endswith(_AZURE_HOSTS):
        if parts.query:
            raise LakeError(
                f"partition location {location} has a query string ({parts.query}); blob "
                "snapshots and versions are not supported: copy that version to its own blob"
            )
        container, _, blob = parts.path.lstrip("/").partition("/")
        return f"abfs://{container}/{unquote(blob)}", {"account_name": host.split(".", 1)[0]}
    return location, {}
