"""Connection settings and their resolution: arguments > environment > config file.

When none of the three names a connection, :func:`resolve_settings` returns ``None`` and
:func:`ci_toolkit.connect` starts the embedded emulator instead. A partial configuration
(say a tenant but no subscription key) raises :class:`ConfigurationError` naming what is
missing: it never falls back silently.

The config file is TOML at ``platformdirs.user_config_dir("ci-toolkit")/config.toml``::

    tenant_id = "contoso.onmicrosoft.com"
    client_id = "00000000-0000-0000-0000-000000000000"
    subscription_key = "..."
    instance_id = "..."
    dataverse_url = "https://contoso.crm.dynamics.com"

A Dataverse environment URL (``dataverse_url``) opens the Dataverse read path; with it the v1
subscription key is optional (each path works alone, or both together).

Example
-------
>>> s = resolve_settings(explicit={}, environ={}, config_file=None)
>>> s is None
True
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ci_toolkit import _defaults
from ci_toolkit.exceptions import ConfigurationError

__all__ = [
    "SETTING_NAMES",
    "Settings",
    "check_dataverse_url",
    "check_instance_id",
    "config_file_path",
    "resolve_settings",
]

logger = logging.getLogger(__name__)

SETTING_NAMES: tuple[str, ...] = tuple(_defaults.ENV_VARS)
"""Every setting, in the order of ``connect()``'s arguments."""

_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_GUID_EXAMPLE = "00000000-0000-0000-0000-000000000000"
_SECRET_NAMES = frozenset({"client_secret", "subscription_key"})
_OPTIONAL = frozenset(
    {"client_secret", "instance_id", "base_url", "authority", "ca_file", "dataverse_url"}
)
# Values that alone do not mean "connect to a real environment": they also apply to the emulator.
_NEUTRAL = frozenset({"instance_id", "ca_file"})


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Resolved settings of one connection. ``repr`` never shows a secret.

    Parameters
    ----------
    client_id
        The app registration's (application) client id.
    subscription_key
        The v1 API subscription key (``Ocp-Apim-Subscription-Key``); ``None`` when only the
        Dataverse path is configured.
    authority
        ``https://login.microsoftonline.com/<tenant>`` or another https authority.
    tenant_id
        The Azure AD tenant id or domain (last path segment of ``authority``).
    client_secret
        A client secret: when set, sign-in uses client credentials instead of a device code.
    instance_id
        The default Customer Insights instance for instance-scoped calls.
    base_url
        The API root, ``https://api.ci.ai.dynamics.com/v1`` by default.
    ca_file
        A PEM bundle of a private CA to trust (e.g. the emulator's); system trust otherwise.
    source
        Where the values came from, for messages (``"arguments, environment"``, ``"emulator"``).
    emulator
        True for the embedded emulator.
    dataverse_url
        The Dataverse environment URL (``https://contoso.crm.dynamics.com``), which opens the
        Dataverse read path; ``None`` when it is not configured.

    Example
    -------
    >>> s = Settings(client_id="c", subscription_key="k3y-value", authority="https://a/t")
    >>> "k3y-value" in repr(s)
    False
    """

    client_id: str
    subscription_key: str | None
    authority: str
    tenant_id: str | None = None
    client_secret: str | None = None
    instance_id: str | None = None
    base_url: str = _defaults.DEFAULT_BASE_URL
    ca_file: Path | None = None
    source: str = "arguments"
    emulator: bool = False
    dataverse_url: str | None = None

    def __repr__(self) -> str:
        shown = []
        for name in (*SETTING_NAMES, "source", "emulator"):
            value = getattr(self, name)
            if name in _SECRET_NAMES and value is not None:
                shown.append(f"{name}='***'")
            else:
                shown.append(
                    f"{name}={value!r}" if not isinstance(value, Path) else f"{name}='{value}'"
                )
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__

    @property
    def uses_client_credentials(self) -> bool:
        """True when a client secret is set (server-to-server sign-in)."""
        return bool(self.client_secret)

    @property
    def has_v1(self) -> bool:
        """True when the v1 API is configured (a subscription key is set)."""
        return bool(self.subscription_key)

    @property
    def has_dataverse(self) -> bool:
        """True when the Dataverse path is configured (an environment URL is set)."""
        return bool(self.dataverse_url)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret values, for scrubbing messages."""
        return tuple(v for v in (self.client_secret, self.subscription_key) if v)

    @property
    def cache_key(self) -> str:
        """A short digest of authority and client id: one token cache per identity provider.

        The emulator's authority (``https://127.0.0.1:<port>/...``) never shares a cache with
        a real tenant's.
        """
        raw = f"{self.authority.rstrip('/').lower()}|{self.client_id}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def check_instance_id(value: object) -> str:
    """Refuse a malformed instance id before any request: instance ids are GUIDs.

    Parameters
    ----------
    value
        The instance id as given (``connect(instance_id=...)``, ``CI_INSTANCE_ID``,
        ``ci.use_instance(...)``).

    Returns
    -------
    str
        The instance id, surrounding spaces removed.

    Raises
    ------
    ConfigurationError
        When it is not a GUID; the message shows the expected form and where ids are listed.

    Example
    -------
    >>> check_instance_id(" 44f7db50-8f44-5db8-b411-887d91e0f775 ")
    '44f7db50-8f44-5db8-b411-887d91e0f775'
    >>> check_instance_id("contoso-prod")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ci_toolkit.exceptions.ConfigurationError: instance_id 'contoso-prod' is not an instance id...
    """
    text = value.strip() if isinstance(value, str) else ""
    if not _GUID.fullmatch(text):
        shown = "an empty value" if not text else repr(text)
        raise ConfigurationError(
            f"instance_id {shown} is not an instance id: instance ids are GUIDs like "
            f"{_GUID_EXAMPLE!r}. ci.instances() lists the ids you can use (the instanceId "
            f"column); set one with connect(instance_id=...), {_defaults.ENV_VARS['instance_id']}"
            " or ci.use_instance(...)."
        )
    return text


def check_dataverse_url(value: str) -> str:
    """The Dataverse environment URL, normalised to its origin (``https://org.crm.dynamics.com``).

    A pasted service root (``.../api/data/v9.2/``) is accepted and cut back to the origin.

    Parameters
    ----------
    value
        The URL as given (``connect(dataverse_url=...)``, ``CI_DATAVERSE_URL``, config file).

    Returns
    -------
    str
        ``scheme://host[:port]`` without a trailing slash.

    Raises
    ------
    ConfigurationError
        When it is not an https URL, or has a path other than the Web API's.

    Example
    -------
    >>> check_dataverse_url("https://contoso.crm.dynamics.com/api/data/v9.2/")
    'https://contoso.crm.dynamics.com'
    """
    url = _check_https("dataverse_url", value.strip())
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path and not re.fullmatch(r"/api/data/v\d+(\.\d+)?", path, flags=re.I):
        raise ConfigurationError(
            f"dataverse_url must be the environment URL like 'https://contoso.crm.dynamics.com',"
            f" got {value!r}: remove the path {path!r} (CI_DATAVERSE_URL)."
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(
            f"dataverse_url must be the environment URL like 'https://contoso.crm.dynamics.com',"
            f" got {value!r}: remove the query (CI_DATAVERSE_URL)."
        )
    return f"{parts.scheme}://{parts.netloc}"


def config_file_path() -> Path:
    """The user config file, ``<user config dir>/ci-toolkit/config.toml``.

    Returns
    -------
    Path
        The path, whether or not the file exists.

    Example
    -------
    >>> config_file_path().name
    'config.toml'
    """
    import platformdirs

    return Path(platformdirs.user_config_dir(_defaults.APP_NAME)) / _defaults.CONFIG_FILE_NAME


def _read_config_file(path: Path) -> dict[str, str]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"Cannot read the config file {path}: it is not UTF-8 text (byte "
            f"0x{exc.object[exc.start]:02x} at position {exc.start}). Save it as UTF-8 (or "
            "remove it)."
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(
            f"Cannot read the config file {path}: {exc}. Fix or remove the file."
        ) from None
    unknown = sorted(set(raw) - set(SETTING_NAMES))
    if unknown:
        raise ConfigurationError(
            f"Unknown setting(s) {', '.join(unknown)} in {path}; "
            f"known settings: {', '.join(SETTING_NAMES)}."
        )
    values: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(value, str):
            raise ConfigurationError(f"Setting {name} in {path} must be a string.")
        values[name] = value
    return values


_CHARACTER_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab"}


def _check_characters(values: Mapping[str, str]) -> None:
    """Refuse a setting holding a control character (a key pasted with a line break).

    Such a value can never be sent (HTTP headers refuse it) and would make every call fail
    as "unreachable"; the message names the setting and the position, never the value.
    Secrets and ids may not hold spaces either.
    """
    for name, value in values.items():
        for position, char in enumerate(value, start=1):
            bad = unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") or (
                char.isspace() and name not in ("ca_file",)
            )
            if bad:
                what = _CHARACTER_NAMES.get(char, f"the character U+{ord(char):04X}")
                raise ConfigurationError(
                    f"Setting {name} ({_defaults.ENV_VARS[name]}) holds {what} at position "
                    f"{position}: copy the value again without it (the value is not shown)."
                )


def _check_https(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise ConfigurationError(
            f"{name} must be an https URL, got {url!r} "
            f"(set it with connect({name}=...) or {_defaults.ENV_VARS[name]})."
        )
    return url.rstrip("/")


def resolve_settings(
    *,
    explicit: Mapping[str, str | os.PathLike[str] | None],
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings | None:
    """Merge settings from arguments, environment and config file, per value, in that order.

    Parameters
    ----------
    explicit
        Values passed to ``connect()`` (``None`` means not given).
    environ
        The environment (``os.environ`` when ``None``), read for ``CI_*`` variables.
    config_file
        The TOML config file; ``None`` skips it.

    Returns
    -------
    Settings or None
        The settings, or ``None`` when nothing names a connection (use the emulator).

    Raises
    ------
    ConfigurationError
        When the configuration is partial (naming each missing value) or invalid.

    Example
    -------
    >>> env = {"CI_TENANT_ID": "t", "CI_CLIENT_ID": "c", "CI_SUBSCRIPTION_KEY": "k"}
    >>> resolve_settings(explicit={}, environ=env).authority
    'https://login.microsoftonline.com/t'
    """
    unknown = sorted(set(explicit) - set(SETTING_NAMES))
    if unknown:
        raise ConfigurationError(f"Unknown setting(s): {', '.join(unknown)}.")
    env = os.environ if environ is None else environ
    layers: list[tuple[str, Mapping[str, str]]] = [
        (
            "arguments",
            {
                k: os.fspath(v)
                for k, v in explicit.items()
                if v is not None and os.fspath(v).strip()
            },
        ),
        (
            "environment",
            {k: env[v] for k, v in _defaults.ENV_VARS.items() if env.get(v, "").strip()},
        ),
    ]
    if config_file is not None:
        layers.append((f"config file {config_file}", _read_config_file(config_file)))

    values: dict[str, str] = {}
    sources: list[str] = []
    for label, layer in layers:
        used = False
        for name in SETTING_NAMES:
            if name not in values and layer.get(name, "").strip():
                values[name] = layer[name].strip()
                used = True
        if used:
            sources.append(label)

    if not set(values) - _NEUTRAL:
        return None
    _check_characters(values)

    authority = values.get("authority")
    tenant_id = values.get("tenant_id")
    if authority:
        authority = _check_https("authority", authority)
        tenant_id = tenant_id or urlsplit(authority).path.strip("/").split("/")[-1] or None
    required = ("client_id",) if "dataverse_url" in values else ("client_id", "subscription_key")
    missing = [n for n in required if n not in values]
    if not authority and not tenant_id:
        missing.insert(0, "tenant_id")
    if missing:
        found = ", ".join(sorted(n for n in values if n not in _NEUTRAL))
        where = f"; {config_file}" if config_file is not None else ""
        raise ConfigurationError(
            "Incomplete Customer Insights settings: missing "
            + ", ".join(f"{n} ({_defaults.ENV_VARS[n]})" for n in missing)
            + (
                f" (or {_defaults.ENV_VARS['dataverse_url']} for the Dataverse path alone)"
                if "subscription_key" in missing
                else ""
            )
            + f". Found {found} in {' and '.join(sources)}. Set the missing values as "
            f"connect() arguments, environment variables or in the config file{where}; "
            "or unset them all to use the embedded emulator."
        )
    if not authority:
        authority = f"{_defaults.AUTHORITY_HOST}/{tenant_id}"
    ca_file = Path(values["ca_file"]).expanduser() if "ca_file" in values else None
    if ca_file is not None and not ca_file.is_file():
        raise ConfigurationError(f"ca_file {ca_file} (CI_CA_FILE) does not exist.")
    settings = Settings(
        client_id=values["client_id"],
        subscription_key=values.get("subscription_key"),
        authority=authority,
        tenant_id=tenant_id,
        client_secret=values.get("client_secret"),
        instance_id=values.get("instance_id"),
        base_url=_check_https("base_url", values.get("base_url", _defaults.DEFAULT_BASE_URL)),
        ca_file=ca_file,
        source=", ".join(sources),
        dataverse_url=check_dataverse_url(values["dataverse_url"])
        if "dataverse_url" in values
        else None,
    )
    logger.debug("Resolved settings %r", settings)
    return settings
