"""Validate response bodies against the OpenAPI document shipped in the package."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

_URI = "urn:jupyter-usage:openapi"


@cache
def document() -> dict[str, Any]:
    text = files("jupyter_usage").joinpath("openapi.yaml").read_text()
    return yaml.safe_load(text)  # type: ignore[no-any-return]


@cache
def _registry() -> Registry:
    return Registry().with_resource(_URI, Resource.from_contents(document(), DRAFT202012))


def validate(body: Any, schema_name: str) -> None:
    """Raise jsonschema.ValidationError when `body` breaks the named schema."""
    schema = {"$ref": f"{_URI}#/components/schemas/{schema_name}"}
    validator = jsonschema.Draft202012Validator(schema, registry=_registry())
    validator.validate(body)


def paths() -> list[str]:
    return list(document()["paths"])
