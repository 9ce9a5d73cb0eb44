"""Ed25519 signature checks for the decision log's receipts, tree heads, checkpoints and
export headers: pure Python (RFC 8032 section 5.1.7), standard library only, so the installed
`locus` command and an evidence package's `verifier/` folder check signatures by themselves.
Signatures are checked, never made, here: speed is not the point.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection

__all__ = ["ed25519_verify", "signature_problem"]

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_I = pow(2, (_P - 1) // 4, _P)


def _recover_x(y: int, sign: int) -> int | None:
    xx = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(xx, (_P + 3) // 8, _P)
    if (x * x - xx) % _P:
        x = x * _I % _P
    if (x * x - xx) % _P:
        return None
    if x == 0 and sign:
        return None
    return _P - x if x & 1 != sign else x


def _add(a: tuple, b: tuple) -> tuple:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    k_a = (y1 - x1) * (y2 - x2) % _P
    k_b = (y1 + x1) * (y2 + x2) % _P
    k_c = t1 * 2 * _D * t2 % _P
    k_d = z1 * 2 * z2 % _P
    e, f, g, h = k_b - k_a, k_d - k_c, k_d + k_c, k_b + k_a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(point: tuple, scalar: int) -> tuple:
    result = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _decode_point(data: bytes) -> tuple | None:
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= _P:
        return None
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


def _same(a: tuple, b: tuple) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = _recover_x(_BY, 0)
assert _BX is not None  # the standard base point is on the curve
_B = (_BX, _BY, 1, _BX * _BY % _P)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is `public_key`'s Ed25519 signature of `message`."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a, r = _decode_point(public_key), _decode_point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    h = (
        int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little")
        % _L
    )
    return _same(_mul(_B, s), _add(r, _mul(a, h)))


def signature_problem(signed: object, message: bytes, trusted: Collection[str]) -> str:
    """Why `signed` (its algorithm, public_key, signature) is not a trusted key's Ed25519
    signature of `message` ("" when it is)."""
    if not isinstance(signed, dict) or signed.get("algorithm") != "ed25519":
        return "not signed with Ed25519"
    if not trusted:
        return "no trusted public key was given, so no signature can be trusted"
    if signed.get("public_key") not in trusted:
        return "signed by a key that is not among the trusted keys"
    try:
        public_key = base64.b64decode(signed["public_key"], validate=True)
        signature = base64.b64decode(signed["signature"], validate=True)
    except (KeyError, TypeError, ValueError):
        return "the signature is malformed"
    return "" if ed25519_verify(public_key, message, signature) else "the signature does not verify"
