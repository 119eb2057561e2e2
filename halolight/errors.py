"""The API's error vocabulary. Handlers raise these; `halolight.app` renders them as `{"detail": ...}`."""

from __future__ import annotations

from collections.abc import Sequence


class ApiError(Exception):
    status = 500
    default_message = "Internal error"

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.message = message or self.default_message
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(ApiError):
    status = 400
    default_message = "Bad request"


class Unauthorized(ApiError):
    status = 401
    default_message = "Not authenticated"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status = 403
    default_message = "Permission denied"


class NotFound(ApiError):
    status = 404
    default_message = "Not found"


class Conflict(ApiError):
    status = 409
    default_message = "Conflict"


class PayloadTooLarge(ApiError):
    status = 413
    default_message = "Request body is too large"


class UnsupportedMediaType(ApiError):
    status = 415
    default_message = "Unsupported media type"


class TooManyRequests(ApiError):
    status = 429
    default_message = "Too many requests"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"Too many attempts; retry in {retry_after_s} s", headers={"Retry-After": str(retry_after_s)}
        )


class ServiceUnavailable(ApiError):
    status = 503
    default_message = "Service temporarily unavailable"


class ValidationFailed(ApiError):
    """A semantic validation failure, rendered in the same list shape as request-validation 422s."""

    status = 422

    def __init__(self, loc: Sequence[str | int], msg: str, type_: str = "value_error") -> None:
        super().__init__(msg)
        self.issues = [{"loc": list(loc), "msg": msg, "type": type_}]


class UnknownReference(ValidationFailed):
    """An id in the body names nothing the caller may use. 422, not 404: the path's resource exists."""

    def __init__(self, field: str, what: str) -> None:
        super().__init__(("body", field), f"{what} not found", "not_found")
