"""A session's id on chain: its UUID's 16 bytes LEFT-aligned in a `bytes32`, the low 16 bytes zero.

`bytes16(sessionId)` in Solidity is the UUID, and the hex reads as the UUID followed by zeros
(`0x<32 hex digits of the uuid><32 zeros>`). The contract refuses any other shape, so every id in a `Settled`
event decodes back to a session. Signed session terms (EIP-712) use the same encoding.
"""

from __future__ import annotations

import uuid

_PADDING = bytes(16)


def to_bytes32(session_id: uuid.UUID | str) -> bytes:
    """The 32 bytes the contract takes for this session (a UUID or its string form)."""
    value = session_id if isinstance(session_id, uuid.UUID) else uuid.UUID(session_id)
    return value.bytes + _PADDING


def to_hex(session_id: uuid.UUID | str) -> str:
    """`to_bytes32` as 0x-prefixed hex (what JSON-RPC and event topics show)."""
    return "0x" + to_bytes32(session_id).hex()


def from_bytes32(value: bytes | str) -> uuid.UUID:
    """The session UUID back from the contract's `bytes32` (raw bytes or 0x-hex); ValueError for any other shape."""
    raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)
    if len(raw) != 32 or raw[16:] != _PADDING:
        raise ValueError(f"not a session id: 0x{raw.hex()}")
    return uuid.UUID(bytes=raw[:16])
