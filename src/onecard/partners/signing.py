"""The partner API's request signature (OC-HMAC-SHA256), and the secrets' sealing.

Contract:
- A request carries ``Authorization: OC-HMAC-SHA256 Credential=<client_id>,
  Timestamp=<unix seconds>, Nonce=<8–64 of [A-Za-z0-9_-]>, Signature=<64 hex digits>``.
- ``canonical(method, path, query, timestamp, nonce, body)`` is six lines joined by
  ``\\n``: the method upper-cased, the path, the query's pairs sorted and percent-encoded
  (RFC 3986, ``k=v`` joined by ``&``), the timestamp, the nonce, and the SHA-256 (hex) of
  the raw body (of ``b""`` for none).
- ``sign(secret, canonical)`` is HMAC-SHA256 with the secret's UTF-8 bytes as key, hex;
  ``matches`` compares in constant time (``hmac.compare_digest``).
- ``parse(header)`` returns the four fields or ``None`` for anything malformed.
- ``seal`` / ``unseal``: AES-256-GCM of a secret, the client id and credential number
  as associated data (a sealed secret moved to another row does not open).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEME = "OC-HMAC-SHA256"
WINDOW_S = 300  # a timestamp more than 5 minutes off the server's clock is refused
GRACE_HOURS = 24  # after a rotation, the old secret still signs this long (by default)

# What an agreement may allow; each partner route needs one.
SCOPES: dict[str, str] = {
    "directory:read": "the canteen directory: live canteens, meals, prices",
}

_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_CLIENT = re.compile(r"[a-z0-9][a-z0-9-]{1,39}")
NONCE_BYTES = 12


def valid_client_id(client_id: str) -> bool:
    return _CLIENT.fullmatch(client_id) is not None


@dataclass(frozen=True)
class SignedHeader:
    client_id: str
    timestamp: int
    nonce: str
    signature: str


def parse(header: str) -> SignedHeader | None:
    scheme, _, rest = header.strip().partition(" ")
    if scheme != SCHEME:
        return None
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, eq, value = part.strip().partition("=")
        if not eq or key in fields:
            return None
        fields[key] = value
    if set(fields) != {"Credential", "Timestamp", "Nonce", "Signature"}:
        return None
    ts, nonce, sig = fields["Timestamp"], fields["Nonce"], fields["Signature"]
    if not (
        ts.isdigit() and len(ts) <= 12 and _NONCE.fullmatch(nonce) and _SIGNATURE.fullmatch(sig)
    ):
        return None
    if not valid_client_id(fields["Credential"]):
        return None
    return SignedHeader(fields["Credential"], int(ts), nonce, sig)


def _enc(text: str) -> str:
    return quote(text, safe="-_.~")


def sorted_query(query: str) -> str:
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{_enc(k)}={_enc(v)}" for k, v in pairs)


def canonical(method: str, path: str, query: str, timestamp: int, nonce: str, body: bytes) -> str:
    return "\n".join(
        (
            method.upper(),
            path,
            sorted_query(query),
            str(timestamp),
            nonce,
            hashlib.sha256(body).hexdigest(),
        )
    )


def sign(secret: str, canonical_text: str) -> str:
    return hmac.new(secret.encode(), canonical_text.encode(), hashlib.sha256).hexdigest()


def matches(secret: str, canonical_text: str, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, canonical_text), signature)


def authorization(client_id: str, timestamp: int, nonce: str, signature: str) -> str:
    return (
        f"{SCHEME} Credential={client_id}, Timestamp={timestamp}, "
        f"Nonce={nonce}, Signature={signature}"
    )


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def _aad(client_id: str, number: int) -> bytes:
    return f"onecard-partner:{client_id}:{number}".encode()


def seal(key: bytes, client_id: str, number: int, secret: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, secret.encode(), _aad(client_id, number))


def unseal(key: bytes, client_id: str, number: int, sealed: bytes) -> str:
    nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    return AESGCM(key).decrypt(nonce, body, _aad(client_id, number)).decode()
