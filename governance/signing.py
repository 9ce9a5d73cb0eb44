"""Checkpoint signatures: Ed25519 with the key from LEDGER_SIGNING_KEY, else HMAC-SHA256."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings

from governance.verify import checkpoint_message, checkpoint_signature_ok


def _ed25519_key() -> Ed25519PrivateKey | None:
    seed = settings.LEDGER_SIGNING_KEY
    if not seed:
        return None
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed))


def _hmac_key() -> bytes:
    """The fallback key, derived from SECRET_KEY (so it is never stored beside the ledger)."""
    return hashlib.sha256(b"locus-ledger-hmac:" + settings.SECRET_KEY.encode()).digest()


def hmac_key_hex() -> str:
    """The HMAC key as the offline verifier's --hmac-key takes it."""
    return _hmac_key().hex()


def public_key_b64() -> str:
    key = _ed25519_key()
    if key is None:
        return ""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def sign_checkpoint(sequence: int, head_hash: str, at: str) -> dict:
    """Sign a head: the fields a checkpoint stores besides sequence, hash and time."""
    message = checkpoint_message(sequence, head_hash, at)
    key = _ed25519_key()
    if key is not None:
        public = public_key_b64()
        return {
            "algorithm": "ed25519",
            "public_key": public,
            "key_id": hashlib.sha256(public.encode()).hexdigest()[:16],
            "signature": base64.b64encode(key.sign(message)).decode(),
        }
    secret = _hmac_key()
    return {
        "algorithm": "hmac-sha256",
        "public_key": "",
        "key_id": hashlib.sha256(secret).hexdigest()[:16],
        "signature": hmac.new(secret, message, hashlib.sha256).hexdigest(),
    }


def trusted_public_keys() -> set[str]:
    """Keys whose checkpoints we accept: ours, and earlier ones kept after a rotation."""
    return {key for key in [public_key_b64(), *settings.LEDGER_TRUSTED_PUBLIC_KEYS] if key}


def verify_checkpoint(cp: dict) -> bool:
    """A stored checkpoint's signature holds, by a key we trust (Ed25519), or our HMAC key.

    A checkpoint carries its public key; trusting that key alone would let whoever rewrote the
    chain sign new checkpoints with a key of their own.
    """
    if cp["algorithm"] == "ed25519" and cp["public_key"] not in trusted_public_keys():
        return False
    return bool(checkpoint_signature_ok(cp, _hmac_key()))
