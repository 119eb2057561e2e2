"""Input checks (NUL, lone surrogates) apply to what clients send, not to every response model."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from codegen.__main__ import input_schemas
from generated import models
from halolight.api_model import ApiModel, ResponseModel


def test_request_models_refuse_unstorable_text() -> None:
    assert issubclass(models.LoginRequest, ApiModel)
    with pytest.raises(ValidationError, match="NUL"):
        models.LoginRequest.model_validate({"email": "a@example.com", "password": "a\x00b"})


def test_output_only_models_skip_the_input_walk() -> None:
    assert issubclass(models.Message, ResponseModel)
    assert not issubclass(models.Message, ApiModel)
    assert models.Message(message="stored \x00 text").message == "stored \x00 text"


def test_reachability_follows_refs_from_bodies_and_parameters() -> None:
    document: dict[str, Any] = {
        "paths": {
            "/a": {
                "parameters": [
                    {"name": "f", "in": "query", "schema": {"$ref": "#/components/schemas/Filter"}}
                ],
                "post": {
                    "requestBody": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/In"}}}
                    },
                    "responses": {"200": {"$ref": "#/components/responses/Out"}},
                },
            }
        },
        "components": {
            "schemas": {
                "In": {
                    "type": "object",
                    "properties": {"n": {"items": {"$ref": "#/components/schemas/Nested"}}},
                },
                "Nested": {"type": "object"},
                "Filter": {"type": "string", "enum": ["a"]},
                "Out": {"type": "object"},
            }
        },
    }
    assert input_schemas(document) == {"In", "Nested", "Filter"}
