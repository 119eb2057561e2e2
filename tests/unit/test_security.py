"""JWT, password hashing and permission matching, without HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from jose import jwt

from generated import models
from halolight.errors import Unauthorized, ValidationFailed
from halolight.security import passwords
from halolight.security.passwords import PasswordHasher, bcrypt_input, check_new_password, is_common
from halolight.security.rbac import grants
from halolight.security.tokens import ALGORITHM, TokenCodec, TokenType
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

    def test_a_remembered_token_still_expires_and_keeps_its_type(
        self, codec: TokenCodec, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        issued = codec.issue("access", "user-1", "session-1")
        first = codec.decode("access", issued.token)
        assert codec.decode("access", issued.token) is first  # remembered: not verified again
        with pytest.raises(Unauthorized):
            codec.decode("refresh", issued.token)  # remembered per type: the refresh key still refuses it
        later = issued.expires_at.timestamp() + 1
        monkeypatch.setattr("halolight.security.tokens.time.time", lambda: later)
        with pytest.raises(Unauthorized, match="expired"):
            codec.decode("access", issued.token)

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

    @staticmethod
    def _signed(times: dict[str, object], kind: str = "access") -> str:
        claims = {"iss": "halolight-api", "sub": "u", "sid": "s", "jti": "j", "type": kind, **times}
        settings = Settings()
        key = settings.jwt_secret_key if kind == "access" else settings.jwt_refresh_secret_key
        return jwt.encode(claims, key, algorithm=ALGORITHM)

    def test_well_formed_times_pass(self, codec: TokenCodec) -> None:
        now = int(time.time())
        lifetime = int(codec.lifetime("access").total_seconds())
        assert codec.decode("access", self._signed({"iat": now, "exp": now + lifetime})).user_id == "u"
        assert (
            codec.decode("access", self._signed({"iat": now + 3, "exp": now + 60})).user_id == "u"
        )  # small skew

    def test_iat_in_the_future_is_refused(self, codec: TokenCodec) -> None:
        now = int(time.time())
        with pytest.raises(Unauthorized):
            codec.decode("access", self._signed({"iat": now + 3600, "exp": now + 3660}))

    @pytest.mark.parametrize(
        "times",
        [
            {"exp": "STR"},
            {"iat": "STR"},
            {"exp": "FLOAT"},
            {"iat": "FLOAT"},
            {"exp": True},
        ],
        ids=["exp-string", "iat-string", "exp-float", "iat-float", "exp-bool"],
    )
    def test_times_must_be_integers(self, codec: TokenCodec, times: dict[str, object]) -> None:
        now = int(time.time())
        values: dict[str, object] = {"iat": now - 1, "exp": now + 60}
        for name, how in times.items():
            if how == "STR":
                values[name] = str(values[name])
            elif how == "FLOAT":
                values[name] = float(str(values[name])) + 0.5
            else:
                values[name] = how
        with pytest.raises(Unauthorized):
            codec.decode("access", self._signed(values))

    def test_lifetime_beyond_the_configured_one_is_refused(self, codec: TokenCodec) -> None:
        now = int(time.time())
        access = int(codec.lifetime("access").total_seconds())
        with pytest.raises(Unauthorized):
            codec.decode("access", self._signed({"iat": now, "exp": now + access + 1}))
        with pytest.raises(Unauthorized):
            codec.decode("access", self._signed({"iat": now, "exp": now + 10 * 365 * 86400}))
        refresh = int(codec.lifetime("refresh").total_seconds())
        assert (
            codec.decode("refresh", self._signed({"iat": now, "exp": now + refresh}, "refresh")).user_id
            == "u"
        )
        with pytest.raises(Unauthorized):
            codec.decode("refresh", self._signed({"iat": now, "exp": now + refresh + 1}, "refresh"))

    def test_exp_not_after_iat_is_refused(self, codec: TokenCodec) -> None:
        now = int(time.time())
        with pytest.raises(Unauthorized):
            codec.decode("access", self._signed({"iat": now + 2, "exp": now + 2}))

    @pytest.mark.parametrize(
        "aud",
        [
            "halolight-api",
            "another-service",
            ["halolight-api"],
            ["another-service", "halolight-api"],
            [],
            None,
            "",
        ],
    )
    @pytest.mark.parametrize("kind", ["access", "refresh"])
    def test_a_token_naming_an_audience_is_refused(
        self, codec: TokenCodec, kind: TokenType, aud: object
    ) -> None:
        # RFC 8725 §3.9: we issue no `aud`, so one that is present names another recipient (even our issuer).
        now = int(time.time())
        token = self._signed({"iat": now, "exp": now + 60, "aud": aud}, kind)
        with pytest.raises(Unauthorized):
            codec.decode(kind, token)

    def test_our_tokens_carry_no_audience_and_pass(self, codec: TokenCodec) -> None:
        # Tokens issued before this rule (none had an `aud`) keep working: the rule only refuses an `aud`.
        kinds: list[TokenType] = ["access", "refresh"]
        for kind in kinds:
            issued = codec.issue(kind, "u", "s")
            assert "aud" not in jwt.get_unverified_claims(issued.token)
            assert codec.decode(kind, issued.token).user_id == "u"
        now = int(time.time())
        assert codec.decode("access", self._signed({"iat": now, "exp": now + 60})).user_id == "u"

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

    def test_only_the_first_72_bytes_count_as_in_bcryptjs(self) -> None:
        assert bcrypt_input("a" * 72) == b"a" * 72
        # Cut at byte 72 even inside a character, as bcryptjs does (it hashes UTF-8 bytes, ignoring the rest).
        assert bcrypt_input("é" * 37) == ("é" * 36).encode()
        assert bcrypt_input("a" + "密" * 40) == ("a" + "密" * 40).encode()[:72]
        assert len(bcrypt_input("密" * 72)) == 72

    async def test_long_multibyte_passwords_hash_and_verify(self) -> None:
        hasher = PasswordHasher(rounds=4, max_concurrency=1)
        password = "密" * 40  # 40 characters, 120 bytes
        hashed = await hasher.hash(password)
        assert await hasher.verify(password, hashed)
        assert not await hasher.verify("密" * 23, hashed)  # 69 bytes: a different key
        # Passwords sharing the first 72 bytes are the same to bcrypt (and to bcryptjs): documented.
        assert await hasher.verify("密" * 24 + "x", hashed)

    async def test_interoperates_with_bcryptjs_truncation(self) -> None:
        import bcrypt

        # What bcryptjs stores for a long password: the hash of its first 72 UTF-8 bytes ($2a$, or $2b$).
        password = "é" * 40
        nest_style = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(4, prefix=b"2a")).decode()
        assert await PasswordHasher(4, 1).verify(password, nest_style)


class TestNewPasswordRules:
    @pytest.mark.parametrize(
        "password", ["12345678", "password", "PASSWORD", "qwertyuiop", "ｐａｓｓｗｏｒｄ"]
    )
    def test_common_passwords_are_refused_with_a_reason(self, password: str) -> None:
        assert is_common(password)
        with pytest.raises(ValidationFailed) as refused:
            check_new_password(password, ("body", "newPassword"))
        assert refused.value.issues == [
            {"loc": ["body", "newPassword"], "msg": refused.value.message, "type": "password_too_common"}
        ]
        assert "common" in refused.value.message

    @pytest.mark.parametrize("password", ["securePass123", "correct horse battery", "密" * 40])
    def test_uncommon_passwords_pass(self, password: str) -> None:
        assert not is_common(password)
        check_new_password(password)


SPEC = Path(__file__).resolve().parents[2] / "spec" / "openapi.yaml"
# Every body field through which a password is chosen; each must be a `NewPassword`.
NEW_PASSWORD_FIELDS = [
    ("RegisterRequest", "password"),
    ("ResetPasswordRequest", "password"),
    ("ChangePasswordRequest", "newPassword"),
    ("UserCreate", "password"),
    ("UserUpdate", "password"),
]


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))["components"]["schemas"]
    return schemas


def _model_accepts(password: str) -> bool:
    try:
        models.ResetPasswordRequest.model_validate({"token": "t", "password": password})
    except pydantic.ValidationError:
        return False
    return True


def _policy_accepts(password: str) -> bool:
    try:
        check_new_password(password)
    except ValidationFailed:
        return False
    return True


class TestPasswordPolicy:
    """One policy (`check_new_password`) for the API and the command line; the spec's bounds rule."""

    def test_the_length_bounds_are_the_spec_schema_s(self) -> None:
        schema = _schemas()["NewPassword"]
        assert (schema["minLength"], schema["maxLength"]) == (passwords.MIN_LENGTH, passwords.MAX_LENGTH)

    @pytest.mark.parametrize(("schema", "field"), NEW_PASSWORD_FIELDS)
    def test_every_new_password_field_is_a_new_password(self, schema: str, field: str) -> None:
        assert _schemas()[schema]["properties"][field] == {"$ref": "#/components/schemas/NewPassword"}

    @pytest.mark.parametrize(
        ("password", "type_"),
        [
            ("abc", "too_short"),
            ("x" * 7, "too_short"),
            ("", "too_short"),
            ("Zq9" * 24 + "x", "too_long"),
        ],
    )
    def test_lengths_outside_the_bounds_are_refused(self, password: str, type_: str) -> None:
        with pytest.raises(ValidationFailed) as refused:
            check_new_password(password, ("body", "newPassword"))
        assert refused.value.issues == [
            {"loc": ["body", "newPassword"], "msg": refused.value.message, "type": type_}
        ]

    @pytest.mark.parametrize("password", ["Zq9-vL2x", "Zq9" * 24, "密" * 72])
    def test_the_bounds_themselves_pass(self, password: str) -> None:
        check_new_password(password)
        assert _model_accepts(password)

    @given(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=80))
    def test_the_policy_and_the_request_models_agree(self, password: str) -> None:
        # The models refuse nothing the policy accepts, and accept nothing it refuses but a common password.
        if _policy_accepts(password):
            assert _model_accepts(password)
        elif not is_common(password):
            assert not _model_accepts(password)


class TestSettings:
    def test_production_refuses_development_secrets(self) -> None:
        with pytest.raises(ValueError, match="development default"):
            Settings(environment="production")

    def test_short_secrets_are_refused(self) -> None:
        with pytest.raises(ValueError):
            Settings(jwt_secret_key="short")
