"""Check emulator responses against the published contract (OpenAPI 3.0 schemas).

Usage in a test::

    response = api.get(f"/instances/{instance_id}/manage/segments")
    assert_matches_contract(response, "Get-all-segments")

The schema is the one the contract gives for the operation and the response's status code
(falling back to ``default``); ``$ref`` resolve inside the contract, formats (uuid, date-time,
int32...) are checked, OpenAPI 3.0 keywords (``nullable``...) are understood.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from ci_toolkit.emulator.contract import load_spec

__all__ = ["assert_matches_contract", "response_schema"]

_SPEC_URI = "urn:ci-toolkit:customer-insights-v1"


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(load_spec(), default_specification=DRAFT4)
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
    return registry


@cache
def _operation(operation_id: str) -> dict[str, Any]:
    for item in load_spec()["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                op_dict: dict[str, Any] = op
                return op_dict
    raise KeyError(f"{operation_id!r} is not an operationId of the contract")


def response_schema(operation_id: str, status: int) -> dict[str, Any] | None:
    """The contract's JSON schema for ``operation_id`` answering ``status`` (None: no body).

    Raises
    ------
    AssertionError
        When the contract declares no such status for the operation.
    """
    responses = _operation(operation_id)["responses"]
    spec = responses.get(str(status)) or responses.get("default")
    assert spec is not None, (
        f"{operation_id} answered {status}, which the contract does not declare "
        f"(declared: {', '.join(sorted(responses))})"
    )
    content = spec.get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    if media is None or "schema" not in media:
        return None
    schema: dict[str, Any] = media["schema"]
    return schema


def _with_refs(schema: Any) -> Any:
    """Rewrite local ``#/components/...`` refs to point into the registered contract."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                out[key] = f"{_SPEC_URI}{value}"
            else:
                out[key] = _with_refs(value)
        return out
    if isinstance(schema, list):
        return [_with_refs(item) for item in schema]
    return schema


def assert_matches_contract(response: httpx.Response, operation_id: str) -> None:
    """Assert that ``response``'s body is what the contract promises for its status.

    Parameters
    ----------
    response
        The emulator's answer to a call of ``operation_id``.
    operation_id
        The contract operation, e.g. ``"Get-all-instances"``.

    Raises
    ------
    AssertionError
        Undeclared status, body that is not JSON, or a schema violation (with its path).
    """
    schema = response_schema(operation_id, response.status_code)
    if schema is None:
        return
    try:
        body = response.json()
    except ValueError as exc:
        raise AssertionError(
            f"{operation_id} answered {response.status_code} with a body that is not JSON: "
            f"{response.text[:200]!r}"
        ) from exc
    validator = OAS30Validator(
        _with_refs(schema), registry=_registry(), format_checker=oas30_format_checker
    )
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(part) for part in first.absolute_path) or "(root)"
        raise AssertionError(
            f"{operation_id} {response.status_code} body violates the contract at {where}: "
            f"{first.message} ({len(errors)} error(s) in all)"
        )
