"""The contract's error bodies: ``ApiErrorResult`` (management), ``ODataError`` (data) and the
API gateway's ``{"statusCode", "message"}`` shape (subscription key, throttling)."""

from __future__ import annotations

from typing import Literal

from starlette.responses import JSONResponse

__all__ = ["ApiError", "api_error", "gateway_error", "odata_error"]

Culprit = Literal["system", "user", "external"]


class ApiError(Exception):
    """Raised by a handler to answer with an ``ApiErrorResult`` (or ``ODataError``) body.

    The app turns it into a response, so handlers can ``raise ApiError(404, ...)`` from any depth.
    """

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        *,
        culprit: Culprit = "user",
        odata: bool = False,
        target: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.culprit = culprit
        self.odata = odata
        self.target = target

    def response(self, request_id: str) -> JSONResponse:
        """The JSON response for this error, carrying the request id header."""
        if self.odata:
            return odata_error(
                self.status, self.error_code, self.message, request_id, target=self.target
            )
        return api_error(
            self.status, self.error_code, self.message, request_id, culprit=self.culprit
        )


def api_error(
    status: int, error_code: str, message: str, request_id: str, *, culprit: Culprit = "user"
) -> JSONResponse:
    """An ``ApiErrorResult`` response."""
    body = {
        "httpStatusCode": str(status),
        "errorCode": error_code,
        "message": message,
        "exceptionCulprit": culprit,
        "resultSeverity": "error",
        "ciResults": [],
    }
    return JSONResponse(body, status_code=status, headers={"x-ms-request-id": request_id})


def odata_error(
    status: int, error_code: str, message: str, request_id: str, *, target: str | None = None
) -> JSONResponse:
    """An ``ODataError`` response."""
    body: dict[str, object] = {"errorCode": error_code, "message": message, "details": []}
    if target is not None:
        body["target"] = target
    return JSONResponse(body, status_code=status, headers={"x-ms-request-id": request_id})


def gateway_error(
    status: int, message: str, request_id: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The API Management gateway's error body (401 subscription key, 429 throttling)."""
    all_headers = {"x-ms-request-id": request_id, **(headers or {})}
    return JSONResponse(
        {"statusCode": status, "message": message}, status_code=status, headers=all_headers
    )
