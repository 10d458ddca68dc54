"""The consistency token (`x-lx-consistency-token`): the id of the transaction that made a write, sealed.

The raw id is `pg_current_xact_id()`, one counter for the whole platform: two raw tokens a tenant sees would tell it how
many transactions everyone ran in between. The token the API hands out is that id encrypted and authenticated under a
per-deployment key, deterministically (the same id always seals to the same token, so an idempotent replay, which
keeps the raw id, answers the first response's token). Nothing of the counter shows: neither its value nor the order
or distance of two tokens.

The construction is SIV (a synthetic IV: deterministic authenticated encryption, Rogaway and Shrimpton 2006), with
HMAC-SHA-256 as both of its pseudorandom functions (the standard library only; a few µs a token):
    iv  = HMAC(k_mac, id)[:16]                     the id's tag, which also makes the encryption deterministic
    ct  = id XOR HMAC(k_enc, iv)[:8]               the id, 8 bytes big-endian
    token = base64url(iv ‖ ct)                     32 characters, `^[A-Za-z0-9_-]{32}$`
Opening decrypts and checks the tag: a token sealed under another key, altered or made up opens to nothing.

What the server does with a token it receives: today nothing, since every read goes to the writer, which has every
committed write (read-your-writes holds for every request). Once a reader endpoint serves reads, a read that carries a
token will open it and go to the reader only when the reader has replayed that transaction (visible in its snapshot),
else to the writer; a token that opens to nothing (not issued here, another key, a rotated key) goes to the writer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from functools import lru_cache

PATTERN = r"^[A-Za-z0-9_-]{32}$"
_SHAPE = re.compile(PATTERN)
_IV_BYTES, _ID_BYTES = 16, 8


@lru_cache(maxsize=4)
def _keys(key: str) -> tuple[bytes, bytes]:
    root = hashlib.sha256(b"luxxon consistency token\x00" + key.encode()).digest()
    return hmac.digest(root, b"mac", "sha256"), hmac.digest(root, b"enc", "sha256")


def seal(transaction_id: int, key: str) -> str:
    """The token of a transaction id (an xid8: 0 ≤ id < 2⁶⁴)."""
    k_mac, k_enc = _keys(key)
    plain = transaction_id.to_bytes(_ID_BYTES, "big")
    iv = hmac.digest(k_mac, plain, "sha256")[:_IV_BYTES]
    pad = hmac.digest(k_enc, iv, "sha256")[:_ID_BYTES]
    sealed = iv + bytes(a ^ b for a, b in zip(plain, pad, strict=True))
    return base64.urlsafe_b64encode(sealed).decode("ascii")


def open_token(token: str, key: str) -> int | None:
    """The transaction id a token this deployment issued stands for; None for anything else."""
    if not _SHAPE.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        return None
    k_mac, k_enc = _keys(key)
    iv, sealed = raw[:_IV_BYTES], raw[_IV_BYTES:]
    pad = hmac.digest(k_enc, iv, "sha256")[:_ID_BYTES]
    plain = bytes(a ^ b for a, b in zip(sealed, pad, strict=True))
    if not hmac.compare_digest(hmac.digest(k_mac, plain, "sha256")[:_IV_BYTES], iv):
        return None
    return int.from_bytes(plain, "big")


def issue(raw: str) -> str:
    """The token for the raw id a write returned (`pg_current_xact_id()::text`), under this deployment's key."""
    from luxxon import wiring

    return seal(int(raw), wiring.consistency_key())
