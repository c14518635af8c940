"""One exception tree for the whole product.

::

    OneCardError                      code, zh/en message, params
    ├── InvalidInput                  the request itself is wrong (bad amount, bad code…)
    │   ├── InvalidAmount
    │   ├── MalformedCredential
    │   ├── ForeignRegion
    │   └── ImportRejected            a file with row errors; nothing was written
    ├── NotFound
    │   └── PaymentNotSeen            no payment with this txn id from this terminal
    ├── AuthError
    │   ├── TerminalUnauthorized
    │   ├── TerminalRevoked
    │   ├── TerminalNotLive           planned / installed / accepted: pays only when live
    │   ├── Forbidden
    │   ├── BadActivationCode         wrong, expired or used activation code (401)
    │   └── PasswordChangeRequired    signed in, but must change the password first (403)
    ├── Conflict
    │   ├── IdempotencyConflict       same key, different request
    │   └── StateConflict             e.g. reversing twice, window passed
    │       ├── IllegalTransition     a rollout move its state machine has not (rollout.states)
    │       └── GoLiveRefused         a canteen not inspected or without a live terminal
    ├── Refused                       a business "no" to a payment: recorded and answered
    │   ├── InsufficientFunds
    │   ├── CardLost / CardCancelled / UnknownCard
    │   ├── CodeExpired / CodeReused / CodeInvalid / CodeRevoked
    │   ├── OutsideMealPeriod / PeriodLimitReached / VisitorsNotServed
    │   └── PersonInactive
    ├── Unavailable                   not now: the database is unreachable or restarting (503)
    │   └── PaymentNotConfirmed       no decision could be confirmed; retry the same txn id
    └── LedgerError                   an invariant of the books or the audit trail broke:
        ├── UnbalancedEntry           a bug or tampering, never a user's doing
        └── AuditChainBroken

Services raise these; only ``web/errors.py`` maps them to HTTP status codes and
``cli.py`` to exit codes. Each class has a stable machine-readable ``code`` and a
message template in Chinese (default) and English.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OneCardError(Exception):
    code: ClassVar[str] = "error"
    zh: ClassVar[str] = "系统错误"
    en: ClassVar[str] = "System error"

    def __init__(self, detail: str | None = None, **params: Any) -> None:
        self.params = params
        self.detail = detail
        super().__init__(self.message("en"))

    def message(self, lang: str = "zh-CN") -> str:
        template = self.en if lang.startswith("en") else self.zh
        try:
            text = template.format(**self.params)
        except (KeyError, IndexError):
            text = template
        if self.detail:
            text = f"{text}: {self.detail}"
        return text


# --- the request is wrong -------------------------------------------------------------
class InvalidInput(OneCardError):
    code = "invalid_input"
    zh = "请求参数有误"
    en = "Invalid request"


class InvalidAmount(InvalidInput):
    code = "invalid_amount"
    zh = "金额必须是 1 至 1,000,000,000 分之间的整数"
    en = "Amount must be an integer number of fen between 1 and 1,000,000,000"


class MalformedCredential(InvalidInput):
    code = "malformed_credential"
    zh = "卡号或付款码格式不正确"
    en = "The card number or payment code is malformed"


class ForeignRegion(InvalidInput):
    code = "foreign_region"
    zh = "该付款码不属于本市一卡通网络"
    en = "This payment code belongs to another city's network"


class ImportRejected(InvalidInput):
    code = "import_rejected"
    zh = "导入文件有 {count} 处错误，未写入任何数据"
    en = "The file has {count} errors; nothing was written"


# --- not there ------------------------------------------------------------------------
class NotFound(OneCardError):
    code = "not_found"
    zh = "未找到{what}"
    en = "{what} not found"


class PaymentNotSeen(NotFound):
    code = "payment_not_seen"
    zh = "本消费机未提交过该交易号的支付"
    en = "This terminal has sent no payment with this transaction id"


# --- who are you ----------------------------------------------------------------------
class AuthError(OneCardError):
    code = "unauthorized"
    zh = "身份验证失败"
    en = "Authentication failed"


class TerminalUnauthorized(AuthError):
    code = "terminal_unauthorized"
    zh = "消费机未注册或密钥错误"
    en = "Unknown terminal or wrong device key"


class TerminalRevoked(AuthError):
    code = "terminal_revoked"
    zh = "该消费机已停用"
    en = "This terminal has been revoked"


class TerminalNotLive(AuthError):
    code = "terminal_not_live"
    zh = "该消费机尚未启用（当前：{status}），不能收款"
    en = "This terminal is not live yet (now: {status}) and cannot take payments"


class Forbidden(AuthError):
    code = "forbidden"
    zh = "无权执行此操作"
    en = "You are not allowed to do this"


class BadActivationCode(AuthError):
    code = "bad_activation_code"
    zh = "工号（或手机号）或激活码错误，或激活码已过期、已使用；请联系本单位管理员重新发放"
    en = (
        "Wrong staff ID (or phone) or activation code, or the code has expired or was used;"
        " ask your unit's administrator for a new one"
    )


class PasswordChangeRequired(AuthError):
    code = "password_change_required"
    zh = "请先修改密码（首次登录或管理员设置了临时密码）：/login/password"
    en = "Change your password first (first sign-in or a temporary password): /login/password"


# --- clashes with what is already there ----------------------------------------------
class Conflict(OneCardError):
    code = "conflict"
    zh = "操作冲突"
    en = "Conflict"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    zh = "该交易号已用于另一笔不同的请求"
    en = "This transaction id was already used for a different request"


class StateConflict(Conflict):
    code = "state_conflict"
    zh = "当前状态不允许此操作"
    en = "Not allowed in the current state"


class IllegalTransition(StateConflict):
    code = "illegal_transition"
    zh = "不能从「{frm}」变为「{to}」"
    en = 'Cannot move from "{frm}" to "{to}"'


class GoLiveRefused(StateConflict):
    code = "go_live_refused"
    zh = "食堂不能上线：{reason}"
    en = "The canteen cannot go live: {reason}"


class ReversalWindowPassed(StateConflict):
    code = "reversal_window_passed"
    zh = "已超过冲正时限，请由食堂管理员办理退款"
    en = "The reversal window has passed; a canteen manager can refund instead"


class AlreadyReversed(StateConflict):
    code = "already_reversed"
    zh = "该笔交易已冲正"
    en = "This payment was already reversed"


class WithdrawalRefused(StateConflict):
    code = "withdrawal_not_allowed"
    zh = "就餐账户余额不得提现"
    en = "Meal account balances cannot be withdrawn"


class PeriodClosed(StateConflict):
    code = "period_closed"
    zh = "会计期间 {period} 已结账"
    en = "Accounting period {period} is closed"


# --- a business "no" to a payment ----------------------------------------------------
class Refused(OneCardError):
    code = "refused"
    zh = "交易被拒绝"
    en = "Payment refused"


class InsufficientFunds(Refused):
    code = "insufficient_funds"
    zh = "余额不足"
    en = "Insufficient balance"


class UnknownCard(Refused):
    code = "unknown_card"
    zh = "无效卡：本系统无此卡"
    en = "Unknown card"


class CardLost(Refused):
    code = "card_lost"
    zh = "此卡已挂失"
    en = "This card has been reported lost"


class CardCancelled(Refused):
    code = "card_cancelled"
    zh = "此卡已注销"
    en = "This card has been cancelled"


class CodeExpired(Refused):
    code = "code_expired"
    zh = "付款码已过期，请刷新后重试"
    en = "Payment code expired; refresh and try again"


class CodeReused(Refused):
    code = "code_reused"
    zh = "付款码已使用，请刷新后重试"
    en = "Payment code already used; refresh and try again"


class CodeInvalid(Refused):
    code = "code_invalid"
    zh = "付款码无效"
    en = "Invalid payment code"


class CodeRevoked(Refused):
    code = "code_revoked"
    zh = "付款码已失效：付款码密钥已更换（如挂失手机），请联网刷新付款码"
    en = "This payment code was made with a replaced secret (e.g. a phone reported lost); refresh the code online"


class OutsideMealPeriod(Refused):
    code = "outside_meal_period"
    zh = "当前不在供餐时段"
    en = "Outside meal hours"


class PeriodLimitReached(Refused):
    code = "period_limit_reached"
    zh = "本餐次消费次数已达上限（{limit} 次）"
    en = "Limit of {limit} payments for this meal reached"


class VisitorsNotServed(Refused):
    code = "visitors_not_served"
    zh = "本食堂暂不对外单位人员开放"
    en = "This canteen does not serve other units' staff"


class PersonInactive(Refused):
    code = "person_inactive"
    zh = "该人员已离职或账户已停用"
    en = "This person has left or the account is inactive"


class NoPrice(Refused):
    code = "no_price"
    zh = "本餐次未设置该类人员的价格"
    en = "No price set for this diner category at this meal"


# --- not now ----------------------------------------------------------------------------
class Unavailable(OneCardError):
    """Nothing was done and trying again later is the right answer (HTTP 503)."""

    code = "service_unavailable"
    zh = "服务暂时不可用，请稍后重试"
    en = "The service is temporarily unavailable; please retry"


class PaymentNotConfirmed(Unavailable):
    """No decision for this payment could be confirmed: the database was unreachable, its
    transaction failed, or the wait bound (``payment_wait_seconds``) passed. Re-sending
    the same request (same txn id) is always safe: it gets the stored decision if one was
    made, or is decided now."""

    code = "payment_not_confirmed"
    zh = "本笔交易未能确认，请用同一交易号重试（不会重复扣款）"
    en = "The payment could not be confirmed; retry with the same transaction id (never charged twice)"


# --- invariants ----------------------------------------------------------------------
class LedgerError(OneCardError):
    code = "ledger_error"
    zh = "账务不平衡"
    en = "Ledger invariant violated"


class UnbalancedEntry(LedgerError):
    code = "unbalanced_entry"
    zh = "分录借贷不平衡"
    en = "Entry does not sum to zero"


class AuditChainBroken(LedgerError):
    code = "audit_chain_broken"
    zh = "操作记录链校验失败：有记录被修改、删除或重排"
    en = "The audit trail's chain is broken: a record was edited, deleted or reordered"


def all_error_classes() -> list[type[OneCardError]]:
    """Every class in the tree (used to check the HTTP mapping is complete)."""
    seen: list[type[OneCardError]] = []
    stack: list[type[OneCardError]] = [OneCardError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
