"""Exceptions of ci-toolkit: one base class, a status -> class map, never a secret inside.

Hierarchy::

    CustomerInsightsError                 base: status, error_code, message, request_id
    ├── ConfigurationError                missing or invalid settings
    ├── SignInError                       Azure AD (MSAL) refused to sign in
    │   ├── InvalidScopeError             AADSTS70011
    │   ├── ConsentRequiredError          AADSTS65001
    │   ├── UnknownTenantError            AADSTS90002 (or an authority that does not answer)
    │   ├── UnknownClientError            AADSTS700016
    │   ├── InvalidClientSecretError      AADSTS7000215
    │   ├── DeviceCodeExpiredError        expired_token
    │   └── SignInDeclinedError           authorization_declined
    ├── ServiceUnreachableError           connection errors and timeouts
    │   └── PullInterruptedError          a pull lost the service; keeps the rows read
    ├── JobTimeoutError                   JobHandle.wait() gave up; the job keeps running
    │                                     (also a TimeoutError)
    └── ApiStatusError                    the service answered with an error status
        ├── BadRequestError               400
        │   └── QueryError                400 with an ODataError body
        ├── AuthenticationError           401 (token or subscription key)
        ├── PermissionDeniedError         403
        ├── NotFoundError                 404
        ├── ConflictError                 409
        ├── ThrottledError                429, with ``retry_after``
        └── ServiceError                  5xx

Every message goes through :func:`scrub`, which removes bearer tokens, JWTs and known
secret values, so an exception can be logged, printed or saved in a notebook. An error the
service names by a known code (``EntityNotFound``, ``InstanceNotFound``...) or a 403 gets a
hint saying what to do (:func:`hint_for`).

A toolkit error caused by a library's exception (httpx, MSAL) is raised ``from None``: the
traceback shows one error whose message already carries what the library said, and the
original stays on ``__context__`` for debugging.

Example
-------
>>> from ci_toolkit.exceptions import NotFoundError, exception_class_for_status
>>> exception_class_for_status(404) is NotFoundError
True
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ApiStatusError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ConsentRequiredError",
    "CustomerInsightsError",
    "DeviceCodeExpiredError",
    "InvalidClientSecretError",
    "InvalidScopeError",
    "JobTimeoutError",
    "NotFoundError",
    "PermissionDeniedError",
    "PullInterruptedError",
    "QueryError",
    "ServiceError",
    "ServiceUnreachableError",
    "SignInDeclinedError",
    "SignInError",
    "ThrottledError",
    "UnknownClientError",
    "UnknownTenantError",
    "exception_class_for_status",
    "hint_for",
    "is_certificate_failure",
    "renderings",
    "scrub",
    "unreachable_hint",
]

_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-.~+/=]+")
_SECRET_FIELDS = re.compile(
    r"(?i)((?:client_secret|access_token|refresh_token|id_token|subscription[-_ ]?key"
    r"|ocp-apim-subscription-key|password|device_code|client_assertion)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;]+"
)
_REDACTED = "***"


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove bearer tokens, JWTs, ``secret=value`` pairs and the given secret values.

    Parameters
    ----------
    text
        Any text that might have seen a credential (an error body, a URL, a message).
    secrets
        Known secret values (client secret, subscription key) to remove wherever they appear.

    Returns
    -------
    str
        The text with each credential replaced by ``***``.

    Example
    -------
    >>> scrub("key abc123 rejected", secrets=["abc123"])
    'key *** rejected'
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            for form in renderings(secret):
                text = text.replace(form, _REDACTED)
    text = _JWT.sub(_REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + _REDACTED, text)
    return _SECRET_FIELDS.sub(lambda m: m.group(1) + _REDACTED, text)


def renderings(secret: str) -> list[str]:
    """Every form a secret takes in text: as is, escaped (``repr``, JSON), URL-encoded.

    A key pasted with a newline reaches a message as ``k3y\\nvalue`` (escaped), never as
    the raw value; each form is scrubbed.

    Example
    -------
    >>> renderings("k3y/1")
    ['k3y/1', 'k3y%2F1']
    """
    import json
    from urllib.parse import quote, quote_plus

    forms = [
        secret,
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
    ]
    return list(dict.fromkeys(f for f in forms if f))


def is_certificate_failure(exc: BaseException) -> bool:
    """True when a transport error comes from TLS certificate verification (never retried).

    Example
    -------
    >>> import httpx
    >>> is_certificate_failure(httpx.ConnectError("refused"))
    False
    """
    import ssl

    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
            seen
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def unreachable_hint(exc: BaseException) -> str:
    """What to check after a transport error (empty when there is nothing specific).

    Example
    -------
    >>> import httpx
    >>> unreachable_hint(httpx.ReadTimeout("slow"))
    ' The service did not answer in time; try again later.'
    """
    import httpx

    if is_certificate_failure(exc):
        return (
            " The server's TLS certificate is not trusted: for a private CA (such as a "
            "separately run emulator's) set ca_file (CI_CA_FILE) to its PEM bundle."
        )
    if isinstance(exc, httpx.TimeoutException):
        return " The service did not answer in time; try again later."
    if isinstance(exc, httpx.ConnectError):
        return " Check the URL (CI_BASE_URL / CI_AUTHORITY) and your network or proxy."
    return ""


class CustomerInsightsError(Exception):
    """Base of every error ci-toolkit raises.

    Parameters
    ----------
    message
        What went wrong and, where known, what to do about it (scrubbed of secrets).
    status
        The HTTP status, when a response was received.
    error_code
        The service's (or Azure AD's) error code, e.g. ``EntityNotFound`` or ``AADSTS70011``.
    request_id
        The ``x-ms-request-id`` (or correlation id) to quote to support.
    secrets
        Secret values to scrub from ``message``.

    Example
    -------
    >>> str(CustomerInsightsError("boom", status=500, request_id="r1"))
    'boom (status 500, request id r1)'
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        self.message = scrub(message, secrets)
        self.status = status
        self.error_code = error_code
        self.request_id = request_id
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by state, not by calling ``__init__`` again: process pools hand errors back
        pickled, and subclasses take other arguments than the message."""
        return _rebuild, (type(self), self.args, dict(vars(self)))

    def _details(self) -> list[str]:
        details = []
        if self.status is not None:
            details.append(f"status {self.status}")
        if self.error_code:
            details.append(f"code {self.error_code}")
        if self.request_id:
            details.append(f"request id {self.request_id}")
        return details

    def __str__(self) -> str:
        details = self._details()
        return f"{self.message} ({', '.join(details)})" if details else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
            f"error_code={self.error_code!r}, request_id={self.request_id!r})"
        )

    def _repr_html_(self) -> str:
        """A small table for notebooks: class, message and identifiers only (no locals)."""
        rows = [("message", self.message)]
        rows += [
            (name, str(value))
            for name, value in (
                ("status", self.status),
                ("error code", self.error_code),
                ("request id", self.request_id),
            )
            if value is not None
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        return f"<b>{html.escape(type(self).__name__)}</b><table>{body}</table>"


def _rebuild(
    cls: type[CustomerInsightsError], args: tuple[Any, ...], state: dict[str, Any]
) -> CustomerInsightsError:
    """An unpickled error: ``args`` and attributes as they were, no ``__init__`` run."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigurationError(CustomerInsightsError, ValueError):
    """Settings are missing or invalid; the message names each value and where to set it.

    Also a ``ValueError``: an invalid value (say a malformed instance id) is refused before
    any request is sent.
    """


class SignInError(CustomerInsightsError):
    """Azure AD refused to sign in; subclasses name the specific cause and its fix."""


class InvalidScopeError(SignInError):
    """AADSTS70011: the requested scope is not valid for the API."""


class ConsentRequiredError(SignInError):
    """AADSTS65001: the user or an admin has not consented to the app's API permission."""


class UnknownTenantError(SignInError):
    """AADSTS90002: the tenant (or the authority URL) does not exist."""


class UnknownClientError(SignInError):
    """AADSTS700016: no app registration with this client id in the tenant."""


class InvalidClientSecretError(SignInError):
    """AADSTS7000215: the client secret is wrong or expired."""


class DeviceCodeExpiredError(SignInError):
    """The device code expired before anyone signed in with it."""


class SignInDeclinedError(SignInError):
    """The person declined the sign-in request."""


class ServiceUnreachableError(CustomerInsightsError):
    """No answer from the service: connection refused, TLS failure, DNS or a timeout."""


class PullInterruptedError(ServiceUnreachableError):
    """A pull stopped because the service became unreachable; the rows read are kept.

    Parameters
    ----------
    message : str
        What happened, how far the pull got and how to resume (scrubbed of secrets).
    entity : str
        The entity being read.
    rows_fetched : int
        Rows read before the service was lost (including rows already handed over).
    pages_fetched : int
        Pages (responses) read before the service was lost.
    partial : pandas.DataFrame or None
        The rows read and not yet handed over, typed; ``None`` when there are none to keep.
    resume : Mapping[str, Any]
        Keyword arguments that make the same call read only the rows still missing.
    secrets : Iterable[str or None]
        Secret values to scrub from ``message``.

    Attributes
    ----------
    entity, rows_fetched, pages_fetched, partial, resume
        As the parameters.
    saved_to : pathlib.Path or None
        Where ``to_parquet`` kept the rows read (``<path>.partial``), if anywhere.
    rows_saved : int
        Rows in ``saved_to``.

    Examples
    --------
    >>> import pandas as pd
    >>> err = PullInterruptedError(
    ...     "the service is unreachable", entity="Customer", rows_fetched=200, pages_fetched=2,
    ...     partial=pd.DataFrame({"CustomerId": ["a", "b"]}),
    ...     resume={"filter": "CustomerId gt 'b'"})
    >>> err.resume
    {'filter': "CustomerId gt 'b'"}
    >>> try:  # doctest: +SKIP
    ...     df = ci.query("Customer")
    ... except PullInterruptedError as err:
    ...     df = pd.concat([err.partial, ci.query("Customer", **err.resume)])
    """

    def __init__(
        self,
        message: str,
        *,
        entity: str,
        rows_fetched: int,
        pages_fetched: int,
        partial: pd.DataFrame | None = None,
        resume: Mapping[str, Any] | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        super().__init__(message, secrets=secrets)
        self.entity = entity
        self.rows_fetched = rows_fetched
        self.pages_fetched = pages_fetched
        self.partial = partial
        self.resume: dict[str, Any] = dict(resume or {})
        self.saved_to: Path | None = None
        self.rows_saved = 0

    @property
    def next_link(self) -> str | None:
        """The ``@odata.nextLink`` to continue from, for a pull that follows links."""
        link = self.resume.get("next_link")
        return None if link is None else str(link)


class JobTimeoutError(CustomerInsightsError, TimeoutError):
    """``JobHandle.wait()`` gave up before the job finished (the job keeps running).

    Also a ``TimeoutError``. ``status`` is ``None``: no HTTP status is involved.

    Parameters
    ----------
    job_id : str
        The job.
    job_status : str
        Its last known status (``"running"``...).
    timeout : float
        The seconds waited.

    Example
    -------
    >>> str(JobTimeoutError("j1", "running", 5))
    "job j1 is still 'running' after 5 s; it keeps running on the service: call wait() again, \
or cancel() it"
    """

    def __init__(self, job_id: str, job_status: str, timeout: float) -> None:
        self.job_id = job_id
        self.job_status = job_status
        self.timeout = timeout
        super().__init__(
            f"job {job_id} is still {job_status!r} after {timeout:g} s; it keeps running on "
            "the service: call wait() again, or cancel() it"
        )


class ApiStatusError(CustomerInsightsError):
    """The service answered with an error status (4xx or 5xx).

    The message ends with what to do when :func:`hint_for` knows it.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        hint = hint_for(status, error_code)
        if hint and hint not in message:
            message = f"{message.rstrip()} {hint}"
        super().__init__(
            message, status=status, error_code=error_code, request_id=request_id, secrets=secrets
        )


class BadRequestError(ApiStatusError):
    """400: the request was malformed or not valid for the resource."""


class QueryError(BadRequestError):
    """400 on a data (OData) request: the filter, select or other query option is invalid.

    ``target`` names the query part the service blamed, when it did.
    """

    def __init__(
        self,
        message: str,
        *,
        target: str | None = None,
        status: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        hint = _TARGET_HINTS.get(target or "")
        if hint and hint not in message:
            message = f"{message.rstrip()} {hint}"
        super().__init__(
            message, status=status, error_code=error_code, request_id=request_id, secrets=secrets
        )
        self.target = target

    def _details(self) -> list[str]:
        details = super()._details()
        if self.target:
            details.insert(0, f"target {self.target}")
        return details


class AuthenticationError(ApiStatusError):
    """401: the access token or the subscription key was refused."""


class PermissionDeniedError(ApiStatusError):
    """403: signed in, but the role does not allow this operation."""


class NotFoundError(ApiStatusError):
    """404: no such instance, entity, segment, job or path."""


class ConflictError(ApiStatusError):
    """409: the resource already exists or is in a state that forbids the change."""


class ThrottledError(ApiStatusError):
    """429: too many requests; ``retry_after`` holds the seconds the gateway asked to wait."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        super().__init__(
            message, status=status, error_code=error_code, request_id=request_id, secrets=secrets
        )
        self.retry_after = retry_after

    def _details(self) -> list[str]:
        details = super()._details()
        if self.retry_after is not None:
            details.append(f"retry after {self.retry_after:g} s")
        return details


class ServiceError(ApiStatusError):
    """5xx: the service failed; retried automatically for safe requests before this is raised."""


_CODE_HINTS: dict[str, str] = {
    "InstanceNotFound": (
        "ci.instances() lists the instances you can see; choose one with "
        "ci.use_instance(id) or CI_INSTANCE_ID."
    ),
    "EntityNotFound": "ci.entities() lists the entity names (they are case-sensitive).",
    "SegmentNotFound": "ci.segments() lists the segment names (they are case-sensitive).",
    "MeasureNotFound": "ci.measures() lists the measure names (they are case-sensitive).",
    "JobNotFound": "ci.jobs() lists the recent refresh jobs and their ids.",
    # Dataverse (issue 14): privilege denied, unknown resource
    "0x80040220": (
        "The signed-in user (or application user) is missing the Dataverse security role "
        "'Customer Insights Data Read Access' (with 'Customer Insights Data Configuration "
        "Viewer'): a Dataverse admin assigns them in the Power Platform admin center "
        "(Environment > Settings > Users > Manage security roles)."
    ),
    "0x8006088a": (
        "Dataverse names are case-sensitive lower-case logical names: ci.dataverse.tables() "
        "lists the Customer Insights tables of this environment."
    ),
}
_TARGET_HINTS: dict[str, str] = {
    "$filter": (
        "Build filters with ci_toolkit.odata.F, which quotes values and checks attribute "
        "names (ci.attributes(entity) lists them)."
    ),
}
_STATUS_HINTS: dict[int, str] = {
    403: (
        "ci.my_role() shows your role on the instance; ask one of its admins for a role "
        "that allows this (Settings > Permissions)."
    ),
}


def hint_for(status: int | None, error_code: str | None) -> str | None:
    """What to do about an error status or service error code, when the toolkit knows.

    Parameters
    ----------
    status
        The HTTP status.
    error_code
        The service's error code (``EntityNotFound``...).

    Returns
    -------
    str or None
        One sentence naming the fix, or ``None``.

    Example
    -------
    >>> hint_for(404, "EntityNotFound")
    'ci.entities() lists the entity names (they are case-sensitive).'
    >>> hint_for(404, None) is None
    True
    """
    if error_code and error_code in _CODE_HINTS:
        return _CODE_HINTS[error_code]
    return _STATUS_HINTS.get(status) if status is not None else None


_STATUS_CLASSES: dict[int, type[ApiStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: ThrottledError,
}


def exception_class_for_status(status: int) -> type[ApiStatusError]:
    """The exception class for an HTTP error status.

    Parameters
    ----------
    status
        An HTTP status code (4xx or 5xx).

    Returns
    -------
    type[ApiStatusError]
        The mapped class; ``ServiceError`` for any 5xx, ``ApiStatusError`` for other codes.

    Example
    -------
    >>> exception_class_for_status(503).__name__
    'ServiceError'
    """
    if status >= 500:
        return ServiceError
    return _STATUS_CLASSES.get(status, ApiStatusError)
