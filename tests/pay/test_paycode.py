"""Dynamic payment codes: RFC 6238 vectors, code layout, acceptance window, single use."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onecard.core.errors import (
    CodeExpired,
    CodeInvalid,
    CodeReused,
    ForeignRegion,
    MalformedCredential,
)
from onecard.org.builders import generate_secret, generate_token
from onecard.pay.paycode import (
    ParsedCode,
    looks_like_code,
    make_code,
    match_step,
    otp_at,
    parse_code,
    qr_png,
    qr_svg,
)

REGION = "735"
TOKEN = "01234567"
STEP = 30
# A step boundary well after the epoch: step K starts at T0.
K = 57_000_000
T0 = K * STEP
# Fixed secrets keep the tests deterministic: with random ones a 6-digit otp collides with
# a neighbouring step about once in a million runs.
SECRET = base64.b32encode(b"onecard-test-secret-0001").decode("ascii")
OTHER_SECRET = base64.b32encode(b"onecard-test-secret-0002").decode("ascii")


def b32(seed: bytes) -> str:
    return base64.b32encode(seed).decode("ascii")


# RFC 6238 Appendix B (8 digits, 30-s steps), with the seed of each hash's key length.
RFC_SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC_VECTORS = [
    (59, "sha1", "94287082"),
    (59, "sha256", "46119246"),
    (59, "sha512", "90693936"),
    (1111111109, "sha1", "07081804"),
    (1111111109, "sha256", "68084774"),
    (1111111109, "sha512", "25091201"),
    (1111111111, "sha1", "14050471"),
    (1111111111, "sha256", "67062674"),
    (1111111111, "sha512", "99943326"),
    (1234567890, "sha1", "89005924"),
    (1234567890, "sha256", "91819424"),
    (1234567890, "sha512", "93441116"),
    (2000000000, "sha1", "69279037"),
    (2000000000, "sha256", "90698825"),
    (2000000000, "sha512", "38618901"),
    (20000000000, "sha1", "65353130"),
    (20000000000, "sha256", "77737706"),
    (20000000000, "sha512", "47863826"),
]


@pytest.mark.parametrize(("at", "digest", "expected"), RFC_VECTORS)
def test_rfc6238_vectors(at: int, digest: str, expected: str) -> None:
    secret = b32(RFC_SEEDS[digest])
    assert otp_at(secret, at, step_seconds=30, digits=8, digest=digest) == expected


def test_rfc_sha1_six_digits_is_the_tail_of_eight() -> None:
    # The 6-digit otp used in codes is the same truncation mod 10**6.
    assert otp_at(b32(RFC_SEEDS["sha1"]), 59) == "287082"


def test_unknown_digest_rejected() -> None:
    with pytest.raises(ValueError):
        otp_at(generate_secret(), 59, digest="md5")


def test_generate_secret_and_token() -> None:
    secret = generate_secret()
    assert len(base64.b32decode(secret)) >= 16
    assert generate_secret() != secret
    tokens = {generate_token() for _ in range(200)}
    assert all(len(t) == 8 and t.isascii() and t.isdigit() for t in tokens)
    assert len(tokens) > 190


def test_code_layout() -> None:
    secret = SECRET
    code = make_code(REGION, TOKEN, secret, T0)
    assert len(code) == 18
    assert code == "8" + REGION + TOKEN + otp_at(secret, T0)


@pytest.mark.parametrize(("region", "token"), [("73", TOKEN), ("7a5", TOKEN), (REGION, "1234567")])
def test_make_code_rejects_bad_parts(region: str, token: str) -> None:
    with pytest.raises(ValueError):
        make_code(region, token, SECRET, T0)


def test_round_trip() -> None:
    secret = SECRET
    code = make_code(REGION, TOKEN, secret, T0 + 7)
    parsed = parse_code(code, REGION)
    assert parsed == ParsedCode(region_no=REGION, token=TOKEN, otp=code[12:])
    assert match_step(secret, parsed.otp, T0 + 7, last_step=0) == K


def test_parse_strips_spaces() -> None:
    code = make_code(REGION, TOKEN, SECRET, T0)
    grouped = f" {code[:4]} {code[4:8]} {code[8:12]} {code[12:]}\n"
    assert looks_like_code(grouped)
    assert parse_code(grouped, REGION).otp == code[12:]


@pytest.mark.parametrize(
    "bad",
    [
        "87350123456712345",  # 17 digits
        "8735012345671234567",  # 19 digits
        "87350123456712345a",  # a letter
        "973501234567123456",  # wrong prefix
        "８７３５０１２３４５６７１２３４５６",  # full-width digits: isdigit() but not ASCII
        "",
    ],
)
def test_malformed(bad: str) -> None:
    assert not looks_like_code(bad)
    with pytest.raises(MalformedCredential):
        parse_code(bad, REGION)


def test_foreign_region() -> None:
    code = make_code("010", TOKEN, SECRET, T0)
    assert looks_like_code(code)
    with pytest.raises(ForeignRegion):
        parse_code(code, REGION)


def test_card_numbers_do_not_look_like_codes() -> None:
    assert not looks_like_code("8735012345671234")  # 16 digits


def test_valid_until_end_of_next_step_only() -> None:
    secret = SECRET
    otp = make_code(REGION, TOKEN, secret, T0)[12:]  # made at the start of step K
    assert match_step(secret, otp, T0 + 29, last_step=0) == K
    assert match_step(secret, otp, T0 + 59, last_step=0) == K
    assert match_step(secret, otp, T0 + 59.999, last_step=0) == K
    # From T0 + 60 the server is in step K+2; K is older than T-1.
    for later in (T0 + 60, T0 + 61, T0 + 200):
        with pytest.raises(CodeExpired):
            match_step(secret, otp, later, last_step=0)


def test_long_expired_is_just_invalid() -> None:
    secret = SECRET
    otp = otp_at(secret, T0)
    # Far outside the look-back: no claim that it ever was valid.
    with pytest.raises(CodeInvalid):
        match_step(secret, otp, T0 + 3600, last_step=0)


def test_phone_one_step_ahead_accepted_two_not() -> None:
    secret = SECRET
    one_ahead = otp_at(secret, T0 + STEP)
    two_ahead = otp_at(secret, T0 + 2 * STEP)
    assert match_step(secret, one_ahead, T0 + 10, last_step=0) == K + 1
    with pytest.raises(CodeInvalid):
        match_step(secret, two_ahead, T0 + 10, last_step=0)


def test_reuse_refused() -> None:
    secret = SECRET
    otp = otp_at(secret, T0)
    step = match_step(secret, otp, T0 + 1, last_step=K - 5)
    assert step == K
    with pytest.raises(CodeReused):
        match_step(secret, otp, T0 + 2, last_step=step)
    # A code from before the last spent step is refused too, even if still in the window.
    older = otp_at(secret, T0 - STEP)
    with pytest.raises(CodeReused):
        match_step(secret, older, T0 + 3, last_step=step)
    # The next step's code is fine.
    nxt = otp_at(secret, T0 + STEP)
    assert match_step(secret, nxt, T0 + STEP, last_step=step) == K + 1


def test_wrong_otp_and_wrong_secret_invalid() -> None:
    secret = SECRET
    otp = otp_at(secret, T0)
    with pytest.raises(CodeInvalid):
        match_step(OTHER_SECRET, otp, T0, last_step=0)
    for bad in ("12345", "1234567", "12345a", "１２３４５６"):
        with pytest.raises(CodeInvalid):
            match_step(secret, bad, T0, last_step=0)


def test_near_epoch_does_not_crash() -> None:
    secret = SECRET
    otp = otp_at(secret, 5)
    assert match_step(secret, otp, 5, last_step=-1) == 0


@settings(max_examples=200, deadline=None)
@given(
    seed=st.binary(min_size=20, max_size=20),
    at=st.floats(min_value=60, max_value=2**33, allow_nan=False, allow_infinity=False),
)
def test_code_verifies_within_window(seed: bytes, at: float) -> None:
    secret = b32(seed)
    code = make_code(REGION, TOKEN, secret, at)
    otp = parse_code(code, REGION).otp
    step = int(at // STEP)
    # last_step = step - 1 so a chance collision with the previous step cannot be picked.
    assert match_step(secret, otp, at, last_step=step - 1) == step
    assert match_step(secret, otp, at + 29, last_step=step - 1) == step


def test_qr_png_and_svg() -> None:
    code = make_code(REGION, TOKEN, SECRET, T0)
    png = qr_png(code)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(qr_png(code, scale=10)) > 0
    svg = qr_svg(code)
    assert svg.startswith("<svg")
    assert "</svg>" in svg
