"""Dataverse's error body, ``{"error": {"code": "0x...", "message": "..."}}``, and its codes.

The codes are those Microsoft documents (DATAVERSE-NOTES section 9); ``code`` is not related
to the HTTP status and is sometimes ``0x0`` or empty, as on the real service.

Example
-------
>>> DataverseError(404, RESOURCE_NOT_FOUND, "Resource not found for the segment 'x'.").status
404
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse

__all__ = [
    "CONCURRENCY_LIMIT",
    "EXECUTION_TIME_LIMIT",
    "GENERIC",
    "OBJECT_DOES_NOT_EXIST",
    "PRIVILEGE_DENIED",
    "REQUEST_LIMIT",
    "RESOURCE_NOT_FOUND",
    "DataverseError",
    "error_response",
]

logger = logging.getLogger(__name__)

#: Query errors: unknown property, parse errors, unsupported options.
GENERIC = "0x0"
#: Unknown entity set or function (names are case sensitive).
RESOURCE_NOT_FOUND = "0x8006088a"
#: A row that does not exist (``<table> With Id = <id> Does Not Exist``).
OBJECT_DOES_NOT_EXIST = "0x80040217"
#: The principal lacks a privilege (``-2147220960``).
PRIVILEGE_DENIED = "0x80040220"
#: Service protection: number of requests (``-2147015902``).
REQUEST_LIMIT = "0x80072322"
#: Service protection: combined execution time (``-2147015903``).
EXECUTION_TIME_LIMIT = "0x80072321"
#: Service protection: concurrent requests (``-2147015898``).
CONCURRENCY_LIMIT = "0x80072326"


class DataverseError(Exception):
    """An answer in Dataverse's error shape; raise it anywhere in a Dataverse handler."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self, request_id: str) -> JSONResponse:
        """The JSON response of this error."""
        return error_response(
            self.status, self.code, self.message, request_id, headers=self.headers
        )


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A Dataverse error response (``OData-Version: 4.0``, the request id header)."""
    all_headers = {"OData-Version": "4.0", "x-ms-service-request-id": request_id}
    all_headers.update(headers or {})
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=all_headers
    )
