"""Passwords (Argon2id through argon2-cffi) and opaque random tokens (only their SHA-256 is stored)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, make_url, select
from sqlalchemy.orm import Session

from saqshy.db.models import User
from saqshy.errors import InvalidInput
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


# --- Production start-up checks -----------------------------------------------------------------

# Secrets that ship in examples, tests and tutorials: anyone can read them.
_PLACEHOLDER_SECRETS = frozenset({
    "", "change-me", "change-me-in-production", "changeme", "secret", "password", "saqshy", "postgres", "test",
})
MIN_WEBHOOK_SECRET_CHARS = 32


def _placeholder(secret: str | None) -> bool:
    return secret is None or secret.strip().lower() in _PLACEHOLDER_SECRETS


def configuration_problems(settings: Settings) -> list[str]:
    """What in the settings alone makes a production server unsafe (empty when nothing does)."""
    problems: list[str] = []
    if not settings.triage_cookie_secure:
        problems.append("SAQSHY_TRIAGE_COOKIE_SECURE is false: session cookies would travel over plain HTTP")
    if settings.database_url:
        password = make_url(settings.sqlalchemy_url).password
        if password is not None and _placeholder(str(password)):
            problems.append("the database password in SAQSHY_DATABASE_URL is a well-known default")
    if settings.police_webhook_url:
        secret = settings.police_webhook_secret.get_secret_value() if settings.police_webhook_secret else None
        if _placeholder(secret) or len(secret or "") < MIN_WEBHOOK_SECRET_CHARS:
            problems.append(f"SAQSHY_POLICE_WEBHOOK_SECRET must be a random value of at least "
                            f"{MIN_WEBHOOK_SECRET_CHARS} characters")
    from triage_api.services import audit_checkpoints, evidence

    for key in (evidence.signing_key_path(settings), audit_checkpoints.key_path(settings)):
        if key.exists() and key.stat().st_mode & 0o077:
            problems.append(f"the signing key {key} is readable by other users (chmod 600)")
    return problems


def production_problems(settings: Settings, session: Session) -> list[str]:
    """``configuration_problems``, and demo accounts (their password is published) in the store."""
    from saqshy.demo import DEMO_DOMAIN

    problems = configuration_problems(settings)
    demo = session.execute(
        select(func.count()).select_from(User).where(User.email.like(f"%@{DEMO_DOMAIN}"), User.is_active.is_(True))
    ).scalar_one()
    if demo:
        problems.append(f"{demo} demo accounts (@{DEMO_DOMAIN}, published password) are active: disable them")
    return problems


def refuse_insecure_production(settings: Settings, session: Session) -> None:
    """With ``SAQSHY_ENV=production``, refuse to start while ``production_problems`` finds any."""
    if not settings.production:
        return
    problems = production_problems(settings, session)
    if problems:
        raise InvalidInput("refusing to start in production (SAQSHY_ENV=production): " + "; ".join(problems))
