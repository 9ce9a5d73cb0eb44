"""Sealing subjects' data at rest: Fernet under the keys of settings.SUBJECT_DATA_KEY.

SUBJECT_DATA_KEY holds one key or several, separated by commas: the first seals, every one
unseals (MultiFernet), so a new key is put first, `manage.py rotate_subject_key` re-seals every
stored value under it, and the old key is then dropped. Each key is any string; the Fernet key
is derived from it by hashing.

A value that no key opens raises SealedDataUnreadable and is logged: it is never taken for
empty, so a lost or mistyped key cannot silently blank identifiers or exports.

Every model field that holds sealed data is named `sealed` or ends in `_sealed` (a TextField
of a token, or a BinaryField of token bytes): the rotation command finds them by that name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

logger = logging.getLogger("locus.sealing")

UNREADABLE = "cannot be decrypted"


class SealedDataUnreadable(Exception):
    """A sealed value that none of SUBJECT_DATA_KEY's keys opens (a lost or wrong key)."""


def key_strings() -> list[str]:
    """The configured keys, newest (the sealing one) first."""
    keys = [key.strip() for key in settings.SUBJECT_DATA_KEY.split(",") if key.strip()]
    if not keys:
        raise SealedDataUnreadable("SUBJECT_DATA_KEY holds no key")
    return keys


def hmac_key() -> bytes:
    """The key of the HMACs kept of codes and link tokens: the oldest key still listed, so
    putting a new key first does not void links already sent (keep an old key listed until
    they have expired: SUBJECT_PACKAGE_DAYS)."""
    return key_strings()[-1].encode()


def _derived(secret: str) -> Fernet:
    digest = hashlib.sha256(b"locus-subject:" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def fernets() -> MultiFernet:
    """Every key: the first encrypts, each decrypts."""
    return MultiFernet([_derived(key) for key in key_strings()])


def primary() -> Fernet:
    """The key new values are sealed with."""
    return _derived(key_strings()[0])


def _open(token: bytes, what: str) -> bytes:
    try:
        return fernets().decrypt(token)
    except InvalidToken:
        logger.error("sealed %s %s: no key of SUBJECT_DATA_KEY opens it", what, UNREADABLE)
        raise SealedDataUnreadable(
            f"the sealed {what} {UNREADABLE}: no key of SUBJECT_DATA_KEY opens it"
        ) from None


def seal(document) -> str:
    """Encrypt a JSON-serialisable document for storage."""
    return primary().encrypt(json.dumps(document, default=str).encode()).decode()


def unseal(token: str, default=None, *, what: str = "value"):
    """Decrypt what `seal` stored; `default` only when nothing was stored.

    Raises SealedDataUnreadable when no configured key opens it.
    """
    if not token:
        return default
    return json.loads(_open(token.encode(), what))


def seal_bytes(data: bytes) -> bytes:
    """Encrypt bytes (a package) for storage."""
    return primary().encrypt(data)


def unseal_bytes(data: bytes, *, what: str = "file") -> bytes:
    """Decrypt what `seal_bytes` stored; raises SealedDataUnreadable when no key opens it."""
    return _open(bytes(data), what)


def is_current(token: bytes) -> bool:
    """The token is sealed under the first key already (rotation has nothing to do)."""
    try:
        primary().decrypt(token)
    except InvalidToken:
        return False
    return True


def reseal(token: bytes) -> bytes:
    """The same plaintext sealed under the first key; raises SealedDataUnreadable."""
    try:
        return fernets().rotate(token)
    except InvalidToken:
        raise SealedDataUnreadable(f"a sealed value {UNREADABLE}") from None
