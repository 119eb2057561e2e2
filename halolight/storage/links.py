"""Short-lived download URLs: the store's own presigned URL when it can sign one (S3), else one the API signs.

The API's URL is `/api/files/<id>/download?expires=<unix seconds>&signature=<base64url>`, where the signature
is an HMAC-SHA256 (cut to 128 bits) of the file id, its storage key and the expiry under a key derived from
JWT_SECRET_KEY for this purpose only (it can never pass as a token or a cursor signature). Binding the storage
key means a URL dies with the bytes it was made for: a file deleted, or a row whose bytes were replaced, no
longer matches. Nothing is stored: any worker on any host checks any URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

from halolight.settings import Settings
from halolight.storage.base import Storage

_KEY_PURPOSE = b"halolight file download url v1"
_MAC_BYTES = 16
SIGNATURE_LENGTH = 22  # base64url of 16 bytes, unpadded


@dataclass(frozen=True, slots=True)
class DownloadLink:
    url: str
    expires_at: datetime  # aware, UTC


def link_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _KEY_PURPOSE, hashlib.sha256).digest()


def _mac(key: bytes, file_id: str, object_key: str, expires: int) -> bytes:
    message = f"{file_id}\n{object_key}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES]


def sign(key: bytes, file_id: str, object_key: str, expires: int) -> str:
    return base64.urlsafe_b64encode(_mac(key, file_id, object_key, expires)).rstrip(b"=").decode()


def verify(key: bytes, file_id: str, object_key: str, expires: int, signature: str, *, now: datetime) -> bool:
    """True when `signature` was made by `sign` for these values and `expires` has not passed."""
    if expires <= now.timestamp() or len(signature) != SIGNATURE_LENGTH:
        return False
    try:
        given = base64.urlsafe_b64decode(signature + "==")
    except ValueError:
        return False
    return hmac.compare_digest(given, _mac(key, file_id, object_key, expires))


async def download_link(
    storage: Storage,
    settings: Settings,
    *,
    file_id: str,
    object_key: str,
    filename: str,
    content_type: str,
    now: datetime | None = None,
) -> DownloadLink:
    """A URL that downloads the file as an attachment named `filename` for FILES_DOWNLOAD_URL_TTL_S."""
    ttl = settings.files_download_url_ttl_s
    instant = now or datetime.now(UTC)
    presigned = await storage.download_url(
        object_key, filename=filename, content_type=content_type, expires_s=ttl
    )
    if presigned is not None:
        return DownloadLink(url=presigned, expires_at=instant + timedelta(seconds=ttl))
    expires = int(instant.timestamp()) + ttl
    signature = sign(link_key(settings.jwt_secret_key), file_id, object_key, expires)
    query = urlencode({"expires": expires, "signature": signature})
    path = f"/api/files/{quote(file_id, safe='')}/download?{query}"
    return DownloadLink(
        url=f"{settings.public_api_url or ''}{path}", expires_at=datetime.fromtimestamp(expires, UTC)
    )
