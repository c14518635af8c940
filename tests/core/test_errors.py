"""The exception tree is complete at both edges: every error has an HTTP status, an exit
code, a stable unique code and a message in Chinese and English (httpx-style: a test
fails when a mapping is missing)."""

from __future__ import annotations

import re

import pytest

from onecard.cli import EXIT_CODES, exit_code_for
from onecard.core import errors as e
from onecard.core.errors import BadSignature, BankUnavailable
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
        if cls.code in seen and getattr(cls, "shares_code_with", None) == seen[cls.code]:
            continue  # a declared share (NoDiningAgreement: foreign_region, issue 17 §2)
        assert cls.code not in seen, f"{cls.__name__} reuses {cls.code!r} of {seen[cls.code]}"
        seen[cls.code] = cls.__name__


def test_messages_fill_their_parameters_and_keep_the_detail() -> None:
    err = e.PeriodLimitReached(limit=2)
    assert err.message() == "本餐次消费次数已达上限（2 次）"
    assert err.message("en") == "Limit of 2 payments for this meal reached"
    assert e.InvalidAmount("最多可退 5 分").message().endswith(": 最多可退 5 分")
    assert str(e.InsufficientFunds()) == "Insufficient balance"


def test_an_english_message_leaves_out_a_chinese_detail() -> None:
    """A service's own words are Chinese: an English page gets the English template
    alone, never a Chinese sentence after it; a detail in Latin letters is kept."""
    chinese = e.InvalidInput("所选单位不属于该经费区域")
    assert chinese.message() == "请求参数有误: 所选单位不属于该经费区域"
    assert chinese.message("en") == "Invalid request"
    assert str(chinese) == "Invalid request: 所选单位不属于该经费区域"  # logs keep it
    assert e.InvalidInput("（全角）".replace("全角", "x")).message("en") == "Invalid request"
    assert e.InvalidInput("field quarter").message("en") == "Invalid request: field quarter"


def _drawn_tree() -> dict[str, str | None]:
    """Each class name drawn in ``core/errors.py``'s docstring, with the name it hangs
    under (``A / B`` on one line are siblings)."""
    doc = e.__doc__ or ""
    drawing = doc[doc.index("::") + 2 : doc.index("\n\n", doc.index("::") + 4)]
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []  # (column, name) of the open branches
    for line in drawing.splitlines():
        m = re.match(r"^([ │├└─]*)([A-Z]\w+(?: / [A-Z]\w+)*)", line)
        if not m:
            continue
        column = len(m.group(1))
        while stack and stack[-1][0] >= column:
            stack.pop()
        names = m.group(2).split(" / ")
        for name in names:
            parents[name] = stack[-1][1] if stack else None
        stack.append((column, names[0]))
    return parents


def _every_subclass_anywhere() -> list[type[e.OneCardError]]:
    import importlib
    import pkgutil

    import onecard

    for mod in pkgutil.walk_packages(onecard.__path__, "onecard."):
        if ".migrations." not in mod.name:
            importlib.import_module(mod.name)
    return e.all_error_classes()


def test_every_error_anywhere_is_drawn_in_the_tree_under_its_parent() -> None:
    drawn = _drawn_tree()
    classes = _every_subclass_anywhere()
    assert len(classes) > 60
    missing = sorted(c.__name__ for c in classes if c.__name__ not in drawn)
    assert not missing, f"draw these in core/errors.py's tree: {missing}"
    misplaced = sorted(
        f"{c.__name__} (drawn under {drawn[c.__name__]}, is a {c.__bases__[0].__name__})"
        for c in classes
        if c is not e.OneCardError and drawn[c.__name__] != c.__bases__[0].__name__
    )
    assert not misplaced, f"drawn under the wrong parent: {misplaced}"
    stale = sorted(set(drawn) - {c.__name__ for c in classes})
    assert not stale, f"drawn but no such class: {stale}"


def test_the_tree_reader_sees_parents() -> None:
    drawn = _drawn_tree()
    assert drawn["OneCardError"] is None
    assert drawn["CardCancelled"] == "Refused"
    assert drawn["NoCallbacks"] == "BadSignature"
    assert drawn["AlreadyReversed"] == "StateConflict"
