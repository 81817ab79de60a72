"""Helpers for the data room's HTTPS tests: contract schemas by name, paging."""

from __future__ import annotations

from typing import Any

import httpx
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from ci_toolkit.emulator.contract import load_spec

__all__ = ["assert_schema", "follow_pages"]

_URI = "urn:ci-toolkit:data-tests"


def assert_schema(body: Any, schema_name: str) -> None:
    """Assert that ``body`` is a valid ``components/schemas/<schema_name>`` of the contract.

    For error answers the contract leaves out of an operation (e.g. 400 on Create-a-segment),
    so their shape is still checked.
    """
    registry: Registry[Any] = Registry().with_resource(
        _URI, Resource.from_contents(load_spec(), default_specification=DRAFT4)
    )
    schema = {"$ref": f"{_URI}#/components/schemas/{schema_name}"}
    validator = OAS30Validator(schema, registry=registry, format_checker=oas30_format_checker)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, f"not a valid {schema_name}: {errors[:3]}"


def follow_pages(api: httpx.Client, url: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every page of an OData query, following ``@odata.nextLink`` (absolute URLs)."""
    pages: list[dict[str, Any]] = []
    response = api.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        link = page.get("@odata.nextLink")
        if link is None:
            return pages
        assert link.startswith("https://")
        response = api.get(link)
