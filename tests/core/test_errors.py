"""The exception tree is complete at both edges: every error has an HTTP status, an exit
code, a stable unique code and a message in Chinese and English (httpx-style: a test
fails when a mapping is missing)."""

from __future__ import annotations

import re

import pytest

from onecard.channels.bank import BadSignature, BankUnavailable
from onecard.cli import EXIT_CODES, exit_code_for
from onecard.core import errors as e
from onecard.web.errors import STATUS, status_for

CJK = re.compile(r"[\u4e00-\u9fff]")
# Errors a user can cause: 4xx, never a 5xx, and an exit code that says which kind.
USER_CAUSED = (e.InvalidInput, e.NotFound, e.AuthError, e.Conflict, e.Refused)


def every_error() -> list[type[e.OneCardError]]:
    classes = set(e.all_error_classes()) | {BankUnavailable, BadSignature}
    return sorted(classes, key=lambda c: (c.__module__, c.__qualname__))


ALL = every_error()


def _first_mapped(cls: type[e.OneCardError], table: dict[type[e.OneCardError], int]) -> type:
    return next(k for k in cls.__mro__ if k in table)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_error_maps_to_an_http_status(cls: type[e.OneCardError]) -> None:
    status = status_for(cls())
    assert 400 <= status < 600
    if issubclass(cls, USER_CAUSED):
        assert 400 <= status < 500, f"{cls.__name__} is the user's doing: 4xx, not {status}"
    # Nothing but the root itself falls through to the generic "500 system error".
    assert cls is e.OneCardError or _first_mapped(cls, STATUS) is not e.OneCardError


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_error_maps_to_an_exit_code(cls: type[e.OneCardError]) -> None:
    code = exit_code_for(cls())
    assert 1 <= code <= 127
    if issubclass(cls, USER_CAUSED):
        assert code >= 2
    if issubclass(cls, e.LedgerError):
        assert code == 7
    assert cls is e.OneCardError or _first_mapped(cls, EXIT_CODES) is not e.OneCardError


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_error_has_messages_in_both_languages(cls: type[e.OneCardError]) -> None:
    assert cls.zh.strip() and CJK.search(cls.zh), cls.__name__
    assert cls.en.strip() and not CJK.search(cls.en), cls.__name__
    err = cls()  # templates without their parameters still read as a sentence
    assert err.message("zh-CN") and err.message("en")
    assert re.fullmatch(r"[a-z][a-z0-9_]*", cls.code)


def test_error_codes_are_unique() -> None:
    seen: dict[str, str] = {}
    for cls in ALL:
        assert cls.code not in seen, f"{cls.__name__} reuses {cls.code!r} of {seen[cls.code]}"
        seen[cls.code] = cls.__name__


def test_messages_fill_their_parameters_and_keep_the_detail() -> None:
    err = e.PeriodLimitReached(limit=2)
    assert err.message() == "本餐次消费次数已达上限（2 次）"
    assert err.message("en") == "Limit of 2 payments for this meal reached"
    assert e.InvalidAmount("最多可退 5 分").message().endswith(": 最多可退 5 分")
    assert str(e.InsufficientFunds()) == "Insufficient balance"
