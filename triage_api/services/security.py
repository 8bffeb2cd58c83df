"""Passwords (Argon2id through argon2-cffi) and opaque random tokens (only their SHA-256 is stored)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from saqshy.settings import Settings

MAX_PASSWORD_CHARS = 256


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def password_hasher(settings: Settings) -> PasswordHasher:
    return _hasher(settings.triage_argon2_time_cost, settings.triage_argon2_memory_kib,
                   settings.triage_argon2_parallelism)


def hash_password(settings: Settings, password: str) -> str:
    return password_hasher(settings).hash(password)


def verify_password(settings: Settings, password_hash: str, password: str) -> bool:
    try:
        return password_hasher(settings).verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(settings: Settings, password_hash: str) -> bool:
    try:
        return password_hasher(settings).check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


# A hash to verify against when the e-mail is unknown, so timing does not reveal which accounts exist.
@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_kib, parallelism).hash(secrets.token_urlsafe(16))


def burn_password_check(settings: Settings, password: str) -> None:
    dummy = _dummy_hash(settings.triage_argon2_time_cost, settings.triage_argon2_memory_kib,
                        settings.triage_argon2_parallelism)
    verify_password(settings, dummy, password)


def new_secret() -> str:
    """A URL-safe random secret with 256 bits of entropy."""
    return secrets.token_urlsafe(32)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def same_secret(plain: str, stored_sha256: str | None) -> bool:
    return stored_sha256 is not None and hmac.compare_digest(sha256_hex(plain), stored_sha256)
