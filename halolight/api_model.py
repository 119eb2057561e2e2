"""Base classes of the generated Pydantic models: `ApiModel` for whatever a client can send (datamodel-code-
generator's --base-class), `ResponseModel` for output-only models (--base-class-map, see codegen)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, get_args

import email_validator
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from halolight.params import date_time_text

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


def _holds_datetime(annotation: Any) -> bool:
    if annotation is AwareDatetime or annotation is datetime:
        return True
    return any(_holds_datetime(arg) for arg in get_args(annotation))


class ApiModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    @classmethod
    @cache
    def _date_time_fields(cls) -> tuple[str, ...]:
        return tuple(name for name, field in cls.model_fields.items() if _holds_datetime(field.annotation))

    @model_validator(mode="before")
    @classmethod
    def _refuse_unstorable_text(cls, data: Any) -> Any:
        _reject_unstorable(data)
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _date_time_as_text(cls, value: Any, info: ValidationInfo) -> Any:
        """`format: date-time` fields take RFC 3339 text only (see `date_time_text`): a number, or text of
        digits, is a 422 at that field, not seconds since 1970."""
        if value is None or isinstance(value, datetime) or info.field_name not in cls._date_time_fields():
            return value
        return date_time_text(value)


class ResponseModel(BaseModel):
    """Output-only models: built by handlers from stored data, which PostgreSQL already guarantees free of
    NUL; no per-string walk on every response."""

    model_config = ConfigDict(populate_by_name=True)
