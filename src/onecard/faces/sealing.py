"""Face templates encrypted at rest: AES-256-GCM over the float32 descriptor.

Contract: ``seal(key, person_id, descriptor)`` returns nonce (12 random bytes) ‖
ciphertext ‖ tag; ``open_sealed(key, person_id, sealed)`` the descriptor back (128
float32), or raises ``cryptography.exceptions.InvalidTag`` for a wrong key, a changed
byte or another person's template (the person's id is the associated data).
``key_id(key)`` names a key without revealing it (the first 16 hex digits of its SHA-256).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from numpy.typing import NDArray

DIMENSIONS = 128
NONCE_BYTES = 12


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def _aad(person_id: int) -> bytes:
    return f"onecard-face:{person_id}".encode()


def seal(key: bytes, person_id: int, descriptor: NDArray[np.float32]) -> bytes:
    raw = np.ascontiguousarray(descriptor, dtype="<f4").tobytes()
    if len(raw) != DIMENSIONS * 4:
        raise ValueError("a face descriptor has 128 numbers")
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, raw, _aad(person_id))


def open_sealed(key: bytes, person_id: int, sealed: bytes) -> NDArray[np.float32]:
    nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    raw = AESGCM(key).decrypt(nonce, body, _aad(person_id))
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)
