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


class StorageUnavailable(ServiceUnavailable):
    """The object store did not answer in time (or refused the connection). Only operations that touch
    stored bytes raise it; the client may retry after a few seconds."""

    default_message = "File storage temporarily unavailable"

    def __init__(self, retry_after_s: int = 5) -> None:
        super().__init__(headers={"Retry-After": str(retry_after_s)})


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


class PreconditionFailed(ApiError):
    """412: an `If-Match` (or `If-Unmodified-Since`) the current representation does not satisfy: someone
    changed it since the client read it (RFC 9110 §13.1.1)."""

    status = 412
    default_message = "The resource has changed since you read it; fetch it again"


class RangeNotSatisfiable(ApiError):
    """416: no part of the requested range lies within the representation (RFC 9110 §15.5.17); the answer
    tells the current length in `Content-Range: bytes */N`."""

    status = 416
    default_message = "The requested range is not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(headers={"Content-Range": f"bytes */{size}"})


class PreconditionRequired(ApiError):
    """428: the operation changes a resource only under `If-Match`, so that two editors cannot overwrite each
    other unseen (RFC 6585 §3)."""

    status = 428
    default_message = "This request needs an If-Match header with the resource's ETag"
