"""Signing offline records with the terminal's Ed25519 device key.

Contract: a record is a flat JSON object (``RECORD_FIELDS``); its ``canonical`` bytes
are compact JSON with sorted keys, its ``body_hash`` their SHA-256 (hex), and the
terminal signs the hash's ASCII with its private key (which never leaves the device;
the server holds the public half, registered once over the authenticated API). ``check``
tells the two ways a record can be bad apart: a signature that does not verify under
the terminal's key over the hash it came with is ``OfflineForged``; a good signature
over a hash the body no longer has is ``OfflineAltered`` (the body changed after
signing — an amount raised in transit).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from onecard.core.errors import OfflineAltered, OfflineForged, OfflineRecordRefused

RECORD_FIELDS = (
    "terminal",  # the terminal's code
    "seq",  # 1, 2, 3 … per terminal, never reused
    "txn_id",
    "ws_version",  # the working set it was decided on
    "synced_at",  # when that version was last confirmed to the terminal (UTC)
    "taken_at",  # when it was sold (UTC, the terminal's clock)
    "person_id",
    "credential",  # card number or payment code, as scanned
    "code_step",  # a payment code's TOTP step, else null
    "meal",  # meal period code, or null for an open amount
    "amount_fen",
)


def canonical(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def body_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def new_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def private_hex(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()


def key_from_hex(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text))


def sign(key: Ed25519PrivateKey, record: Mapping[str, Any]) -> tuple[str, str]:
    """(body hash, signature hex) of ``record``."""
    h = body_hash(record)
    return h, key.sign(h.encode()).hex()


def valid_public_key(text: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except ValueError:
        return False
    return True


def check(
    public_key: str, record: Mapping[str, Any], hash_: str, signature: str
) -> OfflineRecordRefused | None:
    """None for a record signed by this key as it stands; else why not."""
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(
            bytes.fromhex(signature), hash_.encode()
        )
    except (InvalidSignature, ValueError):
        return OfflineForged()
    if body_hash(record) != hash_:
        return OfflineAltered()
    return None
