"""Base classes of the generated Pydantic models: `ApiModel` for whatever a client can send (datamodel-code-
generator's --base-class), `ResponseModel` for output-only models (--base-class-map, see codegen)."""

from __future__ import annotations

from typing import Any

import email_validator
from pydantic import BaseModel, ConfigDict, model_validator

# `format: email` in the spec is a matter of syntax. email-validator also refuses special-use domains
# (`.test`, `.local`, ...) as undeliverable; deliverability is the mailer's business, not the contract's,
# and this is the library's documented switch for it.
email_validator.SPECIAL_USE_DOMAIN_NAMES = []


def _reject_unstorable(value: Any) -> None:
    # PostgreSQL text cannot hold NUL, and a lone surrogate cannot be encoded to UTF-8: both would surface as
    # a 500 deep in the driver, so they are refused at the edge as a validation error.
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_unstorable(key)
            _reject_unstorable(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_unstorable(item)


class ApiModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unstorable_text(cls, data: Any) -> Any:
        _reject_unstorable(data)
        return data


class ResponseModel(BaseModel):
    """Output-only models: built by handlers from stored data, which PostgreSQL already guarantees free of
    NUL; no per-string walk on every response."""

    model_config = ConfigDict(populate_by_name=True)
