"""Ledger signatures: checkpoints and export headers, Ed25519 with LEDGER_SIGNING_KEY.

Production must set LEDGER_SIGNING_KEY (settings refuse to start without it); debug derives one
from SECRET_KEY. Checkpoints stored before every checkpoint was Ed25519 may be HMAC-SHA256,
keyed from SECRET_KEY: they are still checked (with that key), never made any more.
"""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings

from governance.ledger.proofcheck import receipt_message, tree_head_message
from governance.ledger.verify import checkpoint_message, checkpoint_signature_ok, header_message


@functools.lru_cache(maxsize=4)
def _keypair(seed: str) -> tuple[Ed25519PrivateKey, str]:
    """The private key of a seed and its public key (base64), derived once: every receipt is
    signed with them."""
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed))
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, base64.b64encode(raw).decode()


def _ed25519_key() -> Ed25519PrivateKey:
    return _keypair(settings.LEDGER_SIGNING_KEY)[0]


def _hmac_key() -> bytes:
    """The key of earlier HMAC checkpoints, derived from SECRET_KEY (verification only)."""
    return hashlib.sha256(b"locus-ledger-hmac:" + settings.SECRET_KEY.encode()).digest()


def hmac_key_hex() -> str:
    """The HMAC key as the offline verifier's --hmac-key takes it (for earlier checkpoints)."""
    return _hmac_key().hex()


def public_key_b64() -> str:
    """The public key (base64) that verifies our signatures: the one to publish and trust."""
    return _keypair(settings.LEDGER_SIGNING_KEY)[1]


def _signature(message: bytes) -> dict:
    public = public_key_b64()
    return {
        "algorithm": "ed25519",
        "public_key": public,
        "key_id": hashlib.sha256(public.encode()).hexdigest()[:16],
        "signature": base64.b64encode(_ed25519_key().sign(message)).decode(),
    }


def sign_checkpoint(sequence: int, head_hash: str, at: str) -> dict:
    """Sign a head: the fields a checkpoint stores besides sequence, hash and time."""
    return _signature(checkpoint_message(sequence, head_hash, at))


def sign_header(header: dict) -> dict:
    """The export header with its signature (over every other field) added."""
    return {**header, "signature": _signature(header_message(header))}


def trusted_public_keys() -> set[str]:
    """Keys whose checkpoints we accept: ours, and earlier ones kept after a rotation."""
    return {key for key in [public_key_b64(), *settings.LEDGER_TRUSTED_PUBLIC_KEYS] if key}


def verify_checkpoint(cp: dict) -> bool:
    """A stored checkpoint's signature holds, by a key we trust (Ed25519), or our HMAC key.

    A checkpoint carries its public key; trusting that key alone would let whoever rewrote the
    chain sign new checkpoints with a key of their own.
    """
    return bool(checkpoint_signature_ok(cp, _hmac_key(), trusted=trusted_public_keys()))


def sign_receipt(leaf_hash: str, at: str) -> dict:
    """A receipt's signature fields: the log's promise to include this leaf."""
    return _signature(receipt_message(leaf_hash, at))


def sign_tree_head(size: int, root: str, at: str) -> dict:
    """A tree head's signature fields."""
    return _signature(tree_head_message(size, root, at))
