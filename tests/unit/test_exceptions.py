"""Exception hierarchy, status map, error shapes of the contract and secret scrubbing."""

from __future__ import annotations

import httpx
import pytest

from ci_toolkit import exceptions as exc
from ci_toolkit.auth.errors import sign_in_error
from ci_toolkit.http.errors import error_from_response, retry_after_of

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"


def _response(
    status: int, body: object, path: str = "/v1/instances", **headers: str
) -> httpx.Response:
    return httpx.Response(
        status,
        json=body,
        headers=headers,
        request=httpx.Request("GET", f"https://api.example/{path.lstrip('/')}"),
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, exc.BadRequestError),
        (401, exc.AuthenticationError),
        (403, exc.PermissionDeniedError),
        (404, exc.NotFoundError),
        (409, exc.ConflictError),
        (429, exc.ThrottledError),
        (500, exc.ServiceError),
        (503, exc.ServiceError),
        (418, exc.ApiStatusError),
    ],
)
def test_status_map(status: int, cls: type[exc.ApiStatusError]) -> None:
    assert exc.exception_class_for_status(status) is cls
    assert issubclass(cls, exc.CustomerInsightsError)


def test_hierarchy_is_drawn_in_module_docstring() -> None:
    doc = exc.__doc__ or ""
    for name in exc.__all__:
        obj = getattr(exc, name)
        if isinstance(obj, type):
            assert name in doc, f"{name} missing from the hierarchy drawing"


def test_api_error_result_shape() -> None:
    body = {
        "httpStatusCode": "404",
        "errorCode": "SegmentNotFound",
        "message": "Segment 'x' was not found.",
        "exceptionCulprit": "user",
    }
    error = error_from_response(_response(404, body, **{"x-ms-request-id": "rid-1"}))
    assert isinstance(error, exc.NotFoundError)
    assert (error.status, error.error_code, error.request_id) == (404, "SegmentNotFound", "rid-1")
    assert "Segment 'x' was not found." in error.message
    assert str(error).endswith("(status 404, code SegmentNotFound, request id rid-1)")


def test_odata_error_becomes_query_error_with_target() -> None:
    body = {"errorCode": "InvalidFilter", "message": "Bad $filter", "target": "$filter"}
    error = error_from_response(_response(400, body, "/v1/instances/i/data/Customer"))
    assert isinstance(error, exc.QueryError)
    assert isinstance(error, exc.BadRequestError)
    assert error.target == "$filter"
    assert "target $filter" in str(error)


def test_management_400_stays_bad_request() -> None:
    body = {"httpStatusCode": "400", "errorCode": "Invalid", "message": "nope"}
    error = error_from_response(_response(400, body, "/v1/instances/i/manage/segments"))
    assert type(error) is exc.BadRequestError


def test_gateway_throttle_carries_retry_after_and_correlation_id() -> None:
    body = {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."}
    error = error_from_response(
        _response(429, body, **{"Retry-After": "7", "x-ms-correlation-id": "corr-9"})
    )
    assert isinstance(error, exc.ThrottledError)
    assert error.retry_after == 7.0
    assert error.request_id == "corr-9"
    assert "retry after 7 s" in str(error)


def test_gateway_subscription_key_401_says_what_to_fix() -> None:
    body = {"statusCode": 401, "message": "Access denied due to invalid subscription key."}
    error = error_from_response(_response(401, body))
    assert isinstance(error, exc.AuthenticationError)
    assert "CI_SUBSCRIPTION_KEY" in error.message


def test_non_json_error_body() -> None:
    response = httpx.Response(
        502, text="Bad gateway", request=httpx.Request("GET", "https://api.example/v1/x")
    )
    error = error_from_response(response)
    assert isinstance(error, exc.ServiceError)
    assert "Bad gateway" in error.message


def test_retry_after_http_date() -> None:
    response = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_of(response) == 0.0
    assert retry_after_of(httpx.Response(429, headers={"Retry-After": "soon"})) is None


def test_secrets_are_scrubbed_from_messages_repr_and_html() -> None:
    body = {
        "errorCode": "Oops",
        "message": f"token {JWT} with key k3y-k3y-k3y and Bearer abc.def client_secret=shh123",
    }
    error = error_from_response(_response(500, body), secrets=["k3y-k3y-k3y"])
    for text in (str(error), repr(error), error._repr_html_(), error.message):
        assert JWT not in text
        assert "k3y-k3y-k3y" not in text
        assert "abc.def" not in text
        assert "shh123" not in text
    assert "***" in error.message


def test_scrub_leaves_ordinary_words_alone() -> None:
    text = "errorCode: EntityNotFound; error code 404 for user code ABC-123"
    assert exc.scrub(text) == text


def test_repr_html_escapes_and_shows_no_locals() -> None:
    error = exc.NotFoundError("<script>x</script>", status=404, request_id="r")
    rendered = error._repr_html_()
    assert "<script>" not in rendered
    assert "&lt;script&gt;" in rendered
    assert "NotFoundError" in rendered
    assert "locals" not in rendered.lower()


@pytest.mark.parametrize(
    ("result", "cls", "hint"),
    [
        ({"error": "invalid_scope", "error_codes": [70011]}, exc.InvalidScopeError, "scope"),
        (
            {"error": "invalid_grant", "error_description": "AADSTS65001: no consent"},
            exc.ConsentRequiredError,
            "admin consent",
        ),
        (
            {"error": "invalid_request", "error_codes": [90002]},
            exc.UnknownTenantError,
            "CI_TENANT_ID",
        ),
        (
            {"error": "unauthorized_client", "error_codes": [700016]},
            exc.UnknownClientError,
            "CI_CLIENT_ID",
        ),
        (
            {"error": "invalid_client", "error_codes": [7000215]},
            exc.InvalidClientSecretError,
            "CI_CLIENT_SECRET",
        ),
        (
            {"error": "expired_token", "error_codes": [70019]},
            exc.DeviceCodeExpiredError,
            "connect() again",
        ),
        (
            {"error": "authorization_declined", "error_codes": [70000]},
            exc.SignInDeclinedError,
            "approve",
        ),
        ({"error": "something_new"}, exc.SignInError, "something_new"),
    ],
)
def test_msal_errors_map_to_specific_exceptions(
    result: dict[str, object], cls: type[exc.SignInError], hint: str
) -> None:
    error = sign_in_error(
        {**result, "correlation_id": "c-1"}, client_id="app-1", authority="https://a/t"
    )
    assert type(error) is cls
    assert hint in error.message
    assert error.request_id == "c-1"


def test_msal_error_description_is_scrubbed() -> None:
    error = sign_in_error(
        {"error": "invalid_client", "error_description": "AADSTS7000215: secret ab~cdefgh wrong"},
        secrets=["ab~cdefgh"],
    )
    assert "ab~cdefgh" not in str(error)
    assert error.error_code == "AADSTS7000215"


@pytest.mark.parametrize(
    "secret", ["k3y\nvalue-0123", "k3y\tv/al+ue", "k\u00e9y-\u200bvalue", 'k"ey\\value']
)
def test_every_rendering_of_a_secret_is_scrubbed(secret: str) -> None:
    """Escaped (repr, JSON) and URL-encoded forms are the secret too."""
    import json
    from urllib.parse import quote

    message = (
        f"raw {secret} repr {secret!r} json {json.dumps(secret)} "
        f"url ?key={quote(secret, safe='')} header {secret.encode('unicode_escape').decode()}"
    )
    text = str(exc.ServiceUnreachableError(message, secrets=[secret]))
    for form in exc.renderings(secret):
        assert form not in text
    assert secret.encode("unicode_escape").decode() not in text


def _every_error_class() -> list[type[exc.CustomerInsightsError]]:
    import ci_toolkit.lake.errors
    import ci_toolkit.scale.worker  # noqa: F401  (WorkerSignInError)

    found: list[type[exc.CustomerInsightsError]] = []
    todo: list[type[exc.CustomerInsightsError]] = [exc.CustomerInsightsError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: c.__qualname__)


def _example(cls: type[exc.CustomerInsightsError]) -> exc.CustomerInsightsError:
    if issubclass(cls, exc.PullInterruptedError):
        import pandas as pd

        return cls(
            "GET /data/Customer: the service is unreachable", entity="Customer",
            rows_fetched=200, pages_fetched=2, partial=pd.DataFrame({"CustomerId": ["a"]}),
            resume={"filter": "CustomerId gt 'a'"},
        )  # fmt: skip
    if issubclass(cls, exc.JobTimeoutError):
        return cls("j1", "running", 5)
    if issubclass(cls, exc.ThrottledError):
        return cls("slow down", retry_after=3, status=429, request_id="r1")
    if issubclass(cls, exc.QueryError):
        return cls("bad filter", target="$filter", status=400, error_code="BadRequest")
    return cls("something failed", status=503, error_code="E1", request_id="r2")


@pytest.mark.parametrize("cls", _every_error_class(), ids=lambda c: c.__name__)
def test_every_error_survives_pickling(cls: type[exc.CustomerInsightsError]) -> None:
    """Process pools (multiprocessing, concurrent.futures, joblib) hand a worker's error
    back pickled: a class whose ``__init__`` takes other arguments than ``(message,)``
    (PullInterruptedError, JobTimeoutError) could not be unpickled, so the caller got a
    TypeError about ``__init__`` instead of the toolkit's message."""
    import pickle

    import pandas as pd

    error = _example(cls)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert repr(copy) == repr(error)
    for name, value in vars(error).items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(getattr(copy, name), value)
        else:
            assert getattr(copy, name) == value, name
