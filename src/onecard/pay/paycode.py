"""Dynamic payment codes (付款码): make, parse, verify and draw them.

Contract:

* A code is 18 ASCII digits: ``"8"`` + ``region_no`` (3 digits, the city network's
  number, e.g. ``"735"``) + ``token`` (8 digits, a random per-person token stored on the
  person row — never the staff id, so a code does not reveal who paid) + ``otp`` (6-digit
  TOTP, RFC 6238, HMAC-SHA1, ``step_seconds`` per step, base32 secret).
* With ``T = floor(unix_time / step_seconds)``, an otp is accepted for steps ``T-1``,
  ``T`` and ``T+1``: a code lives for its own step and the next one (≤ 60 s with 30-s
  steps) and a phone whose clock runs one step ahead is still served.
* Single use: the server keeps per person only the secret and ``last_step`` (the highest
  step already spent). ``match_step`` refuses a step ``<= last_step`` with ``CodeReused``
  and returns the matched step; the caller stores it with a guarded
  ``UPDATE … WHERE paycode_last_step < :step`` so two terminals cannot both spend it.
  Codes themselves are never stored.
* ``parse_code`` raises ``MalformedCredential`` / ``ForeignRegion``; ``match_step`` raises
  ``CodeReused`` / ``CodeExpired`` / ``CodeInvalid``. Times are Unix seconds (≥ 0) passed
  in explicitly — this module never reads the clock.
* Card numbers are at most 16 digits, so ``looks_like_code`` (18 digits starting with
  ``8``) is how a terminal's credential string is told apart from a card number.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyotp
import segno

from onecard.core.errors import (
    CodeExpired,
    CodeInvalid,
    CodeReused,
    ForeignRegion,
    MalformedCredential,
)

CODE_LENGTH = 18
CODE_PREFIX = "8"
OTP_DIGITS = 6
DEFAULT_STEP_SECONDS = 30
# How far back we look to tell "expired" from "wrong": only to give the diner a better
# message ("refresh your code") — these steps are never accepted.
EXPIRED_LOOKBACK_STEPS = 10

# [0-9] rather than \d: \d also matches full-width and other Unicode digits, which
# str.isdigit() would let through as well.
_CODE_RE = re.compile(r"8[0-9]{17}")
_REGION_RE = re.compile(r"[0-9]{3}")
_TOKEN_RE = re.compile(r"[0-9]{8}")
_OTP_RE = re.compile(r"[0-9]{6}")

_DIGESTS: dict[str, Callable[..., Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}


@dataclass(frozen=True)
class ParsedCode:
    region_no: str
    token: str
    otp: str


def _step(at_unix: float, step_seconds: int) -> int:
    # Floor, not truncation, and done here rather than in pyotp so that every function
    # of this module agrees on which step a fractional time falls in.
    return int(at_unix // step_seconds)


def _totp(
    secret: str, step_seconds: int, digits: int = OTP_DIGITS, digest: str = "sha1"
) -> pyotp.TOTP:
    try:
        digest_fn = _DIGESTS[digest]
    except KeyError:
        raise ValueError(f"unsupported digest {digest!r}") from None
    return pyotp.TOTP(secret, digits=digits, digest=digest_fn, interval=step_seconds)


def otp_at(
    secret: str,
    at_unix: float,
    step_seconds: int = DEFAULT_STEP_SECONDS,
    digits: int = OTP_DIGITS,
    digest: str = "sha1",
) -> str:
    """The RFC 6238 otp for ``secret`` (base32) at ``at_unix``; digest sha1/sha256/sha512."""
    totp = _totp(secret, step_seconds, digits, digest)
    return totp.generate_otp(_step(at_unix, step_seconds))


def make_code(
    region_no: str,
    token: str,
    secret: str,
    at_unix: float,
    step_seconds: int = DEFAULT_STEP_SECONDS,
) -> str:
    """The 18-digit code a person's phone shows at ``at_unix``."""
    # Bad inputs here are our own data being wrong, not a diner's mistake: ValueError.
    if not _REGION_RE.fullmatch(region_no):
        raise ValueError("region_no must be 3 digits")
    if not _TOKEN_RE.fullmatch(token):
        raise ValueError("token must be 8 digits")
    return CODE_PREFIX + region_no + token + otp_at(secret, at_unix, step_seconds)


def _normalise(s: str) -> str:
    # Codes are often shown grouped ("8735 1234 5678 901234") and scanners may append a
    # newline; neither should make a good code look malformed.
    return s.strip().replace(" ", "")


def looks_like_code(s: str) -> bool:
    """True if ``s`` has the shape of a payment code (18 digits starting with 8).

    Uses the same normalisation as ``parse_code`` so the two never disagree.
    """
    return _CODE_RE.fullmatch(_normalise(s)) is not None


def parse_code(
    code: str, expected_region_no: str, also: frozenset[str] = frozenset()
) -> ParsedCode:
    """Split a scanned code; raise ``MalformedCredential`` or ``ForeignRegion``. ``also``:
    the other payment networks of this deployment (a province's cities), whose codes are
    read like our own (the payment then needs a dining agreement, ``pay.decide``)."""
    normalised = _normalise(code)
    if not _CODE_RE.fullmatch(normalised):
        raise MalformedCredential()
    parsed = ParsedCode(region_no=normalised[1:4], token=normalised[4:12], otp=normalised[12:])
    if parsed.region_no != expected_region_no and parsed.region_no not in also:
        raise ForeignRegion(detail=parsed.region_no)
    return parsed


def match_step(
    secret: str,
    otp: str,
    at_unix: float,
    last_step: int,
    step_seconds: int = DEFAULT_STEP_SECONDS,
) -> int:
    """Return the step (``T-1``..``T+1``) that ``otp`` belongs to, for the caller to store.

    Raises ``CodeReused`` if it only matches already-spent steps (``<= last_step``),
    ``CodeExpired`` if it matches an older step (down to ``T-EXPIRED_LOOKBACK_STEPS``),
    ``CodeInvalid`` otherwise.
    """
    # compare_digest on str raises TypeError for non-ASCII text; an otp of the wrong shape
    # can never match anyway.
    if not _OTP_RE.fullmatch(otp):
        raise CodeInvalid()
    totp = _totp(secret, step_seconds)
    now = _step(at_unix, step_seconds)
    given = otp.encode("ascii")

    def matches(step: int) -> bool:
        # Steps before the epoch do not exist (pyotp refuses them).
        if step < 0:
            return False
        expected = totp.generate_otp(step).encode("ascii")
        return hmac.compare_digest(given, expected)

    window = [s for s in (now - 1, now, now + 1) if matches(s)]
    # Oldest unspent step first: if a 6-digit otp happens to collide with two steps, this
    # spends as little of the future as possible.
    fresh = [s for s in window if s > last_step]
    if fresh:
        return fresh[0]
    if window:
        raise CodeReused()
    for step in range(now - 2, now - EXPIRED_LOOKBACK_STEPS - 1, -1):
        if matches(step):
            raise CodeExpired()
    raise CodeInvalid()


def _qr(code: str) -> segno.QRCode:
    # micro=False: an 18-digit numeric payload fits in a Micro QR symbol, which segno
    # would otherwise pick, and most phone and terminal scanners cannot read Micro QR.
    return segno.make(code, micro=False)


def qr_png(code: str, scale: int = 6) -> bytes:
    """A PNG image of ``code`` as a (regular, non-micro) QR code."""
    buf = io.BytesIO()
    _qr(code).save(buf, kind="png", scale=scale)
    return buf.getvalue()


def qr_svg(code: str) -> str:
    """An SVG of ``code`` as a QR code, without XML declaration (fit for inline HTML)."""
    return _qr(code).svg_inline()
