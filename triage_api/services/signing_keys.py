"""Ed25519 signing keys kept in files, outside the database: the evidence key and the audit
checkpoint key. A stolen or rewritten database cannot forge what they sign."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from saqshy.errors import ServiceUnavailable


def load_ed25519_key(path: Path, *, configured_by: str | None, what: str) -> Ed25519PrivateKey:
    """The Ed25519 key in ``path``; created there on first use unless it was configured.

    ``configured_by``: the setting that named ``path``, if one did. A configured key that is missing
    or unreadable is a server problem (ServiceUnavailable), never replaced silently: everything
    must verify against the one published public key.
    """
    if not path.exists():
        if configured_by is not None:
            raise ServiceUnavailable(f"{what} {path} ({configured_by}) does not exist")
        create_key_file(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ServiceUnavailable(f"{what} {path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ServiceUnavailable(f"{what} {path} is a {type(key).__name__}, not an Ed25519 key")
    return key


def create_key_file(path: Path) -> None:
    """A new Ed25519 key in ``path`` (mode 600), unless another process created one meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
        os.close(fd)
        # link() fails if another process created the key meanwhile: theirs wins, ours is dropped,
        # so everything is signed with the one key.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()
