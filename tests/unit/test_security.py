"""JWT, password hashing and permission matching, without HTTP."""

from __future__ import annotations

import time

import pytest
from jose import jwt

from halolight.errors import Unauthorized, ValidationFailed
from halolight.security.passwords import PasswordHasher, ensure_hashable
from halolight.security.rbac import grants
from halolight.security.tokens import ALGORITHM, TokenCodec
from halolight.settings import Settings


@pytest.fixture
def codec() -> TokenCodec:
    return TokenCodec(Settings())


class TestGrants:
    @pytest.mark.parametrize(
        ("held", "required", "expected"),
        [
            (["*"], "users:delete", True),
            (["users:*"], "users:delete", True),
            (["users:delete"], "users:delete", True),
            (["users:view"], "users:delete", False),
            (["roles:*"], "users:delete", False),
            (["users:*"], "users:*", True),
            (["users:delete"], "users:*", False),
            (["users:view"], "*", False),
            ([], "users:view", False),
            (["users"], "users:view", False),
        ],
    )
    def test_wildcards(self, held: list[str], required: str, expected: bool) -> None:
        assert grants(held, required) is expected


class TestTokens:
    def test_round_trip(self, codec: TokenCodec) -> None:
        issued = codec.issue("access", "user-1", "session-1")
        claims = codec.decode("access", issued.token)
        assert (claims.user_id, claims.session_id) == ("user-1", "session-1")
        assert claims.expires_at == issued.expires_at

    def test_types_and_secrets_are_separate(self, codec: TokenCodec) -> None:
        refresh = codec.issue("refresh", "u", "s").token
        with pytest.raises(Unauthorized):
            codec.decode("access", refresh)

    def test_type_claim_is_checked_even_with_one_secret(self) -> None:
        same = Settings(jwt_secret_key="x" * 40, jwt_refresh_secret_key="x" * 40)
        codec = TokenCodec(same)
        with pytest.raises(Unauthorized, match="type"):
            codec.decode("access", codec.issue("refresh", "u", "s").token)

    @pytest.mark.parametrize("missing", ["exp", "iat", "sub", "jti", "iss"])
    def test_required_claims(self, codec: TokenCodec, missing: str) -> None:
        now = int(time.time())
        claims = {"iss": "halolight-api", "sub": "u", "sid": "s", "jti": "j", "type": "access", "iat": now}
        claims["exp"] = now + 60
        del claims[missing]
        token = jwt.encode(claims, Settings().jwt_secret_key, algorithm=ALGORITHM)
        with pytest.raises(Unauthorized):
            codec.decode("access", token)

    def test_expired(self, codec: TokenCodec) -> None:
        now = int(time.time())
        claims = {"iss": "halolight-api", "sub": "u", "sid": "s", "jti": "j", "type": "access"}
        token = jwt.encode({**claims, "iat": now - 120, "exp": now - 60}, Settings().jwt_secret_key)
        with pytest.raises(Unauthorized):
            codec.decode("access", token)

    def test_other_algorithms_are_refused(self, codec: TokenCodec) -> None:
        claims = jwt.get_unverified_claims(codec.issue("access", "u", "s").token)
        token = jwt.encode(claims, Settings().jwt_secret_key, algorithm="HS512")
        with pytest.raises(Unauthorized):
            codec.decode("access", token)


class TestPasswords:
    async def test_hash_and_verify(self) -> None:
        hasher = PasswordHasher(rounds=4, max_concurrency=2)
        hashed = await hasher.hash("correct horse")
        assert hashed.startswith("$2b$04$")
        assert await hasher.verify("correct horse", hashed)
        assert not await hasher.verify("wrong horse", hashed)

    async def test_verifies_bcryptjs_2a_hashes(self) -> None:
        # "123456" hashed by bcryptjs (the NestJS backend's library) at cost 4.
        import bcrypt

        nest_style = bcrypt.hashpw(b"123456", bcrypt.gensalt(4, prefix=b"2a")).decode()
        assert await PasswordHasher(4, 1).verify("123456", nest_style)

    async def test_unknown_user_and_malformed_hash_never_match(self) -> None:
        hasher = PasswordHasher(rounds=4, max_concurrency=1)
        assert not await hasher.verify("anything", None)
        assert not await hasher.verify("anything", "not-a-bcrypt-hash")

    def test_72_byte_limit(self) -> None:
        assert ensure_hashable("a" * 72) == b"a" * 72
        with pytest.raises(ValidationFailed):
            ensure_hashable("é" * 37)


class TestSettings:
    def test_production_refuses_development_secrets(self) -> None:
        with pytest.raises(ValueError, match="development default"):
            Settings(environment="production")

    def test_short_secrets_are_refused(self) -> None:
        with pytest.raises(ValueError):
            Settings(jwt_secret_key="short")
