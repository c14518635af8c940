"""One exception tree for the whole product.

::

    OneCardError                      code, zh/en message, params
    ├── InvalidInput                  the request itself is wrong (bad amount, bad code…)
    │   ├── InvalidAmount
    │   ├── MalformedCredential
    │   ├── ForeignRegion
    │   ├── FundSharedAbove           a region whose money its fund region above runs
    │   ├── StarsNotChosen            a meal rating with an aspect left without stars
    │   ├── ImportRejected            a file with row errors; nothing was written
    │   ├── AboveReferencePrice       a good priced above the city's large stores (R-A11)
    │   ├── NoReferencePrice          a good the bureau has published no price for
    │   ├── BadQuarter                '2026Q5', '26Q1'
    │   ├── InvalidBankAccount        wrong length, not digits, check digit fails
    │   ├── UnknownReference          an owner unit, region, parent, person not there
    │   ├── NotABackup                not a OneCard backup this database kind restores
    │   ├── BackupToolFailed          pg_dump / pg_restore / psql failed; nothing changed
    │   ├── NoFaceFound               face pay: not a picture, or no face in it (422)
    │   ├── FaceNotAttested           the till's face pay without the cashier's attestation
    │   ├── InvalidIdNumber           a resident's ID number: length, birth date, check digit
    │   ├── NotOnMenu                 a pre-order of a dish not on that day's menu (menus)
    │   ├── NotADish                  a dish rating of a shop good or a dish not in the meal
    │   ├── CategoryNotMet            a resident's age category the birth date contradicts
    │   └── LoveMealAboveCap          a love meal priced above the civil affairs cap
    ├── NotFound
    │   ├── PaymentNotSeen            no payment with this txn id from this terminal
    │   ├── StatementMissing          the bank statement of that day is not read yet
    │   ├── BackupSourceMissing       the backup file or the SQLite database is not there
    │   └── ToolMissing               pg_dump, pg_restore or psql is not installed
    ├── AuthError
    │   ├── TerminalUnauthorized
    │   ├── TerminalRevoked
    │   ├── TerminalNotLive           planned / installed / accepted: pays only when live
    │   ├── FacePayNotEnabled         a terminal without liveness detection: no face pay (403)
    │   ├── Forbidden
    │   │   ├── FundRunAbove          a region sharing the fund above it: that bureau runs it
    │   │   ├── CsrfRefused           a page form without its token
    │   │   ├── CrossSiteRefused      an API write with a cookie from another site
    │   │   └── PartnerOutOfScope     partner API: the agreement does not allow this (403)
    │   ├── PartnerUnauthorized       partner API: bad signature, stale timestamp, nonce replayed, revoked (401)
    │   ├── BadSignature              a bank notification's signature does not match
    │   │   └── NoCallbacks           the file-exchange bank sends none
    │   ├── BadCredentials            wrong staff number or password
    │   ├── AccountLocked
    │   ├── TooManyAttempts           (429)
    │   ├── BadSecondFactor
    │   ├── BadEnrolmentCode
    │   ├── BadActivationCode         wrong, expired or used activation code (401)
    │   └── PasswordChangeRequired    signed in, but must change the password first (403)
    ├── Conflict
    │   ├── IdempotencyConflict       same key, different request
    │   ├── StateConflict             e.g. reversing twice, window passed
    │   │   ├── ReversalWindowPassed / AlreadyReversed / WithdrawalRefused / PeriodClosed
    │   │   ├── AlreadyRated / NotRateable            a meal rated once, by its payer
    │   │   ├── DistributionExceedsFunds              a unit would get more than it paid
    │   │   ├── MissingQualityScore / MissingPayee    a canteen not ready to settle
    │   │   ├── PersonNotLeft                         a cash refund for someone enrolled
    │   │   ├── FaceConsentRequired                   a face template without recorded consent
    │   │   ├── NotFileExchange                       bank files without a file bank
    │   │   ├── TargetHoldsData / BackupFileExists    restore / backup would overwrite
    │   │   ├── IllegalTransition     a rollout move its state machine has not (rollout.states)
    │   │   ├── OfflineNotEnrolled    a terminal without a registered offline key (terminals)
    │   │   ├── GoLiveRefused         a canteen not inspected or without a live terminal
    │   │   ├── StockShort            a stock move would take a good's count below zero
    │   │   ├── BatchFailedInspection an ingredient batch that failed inspection is used
    │   │   ├── BatchShort            a batch's uses would exceed what was delivered
    │   │   ├── ClaimDecided          a community subsidy claim already approved
    │   │   ├── PreorderClosed        a pre-order or its cancellation after the cut-off
    │   │   ├── PreorderCancelled     picking up (or changing) a cancelled pre-order
    │   │   ├── PreorderNotOpen       a pre-order already picked up or closed as a no-show
    │   │   ├── PreorderExists        a second pre-order of the same meal
    │   │   ├── PreorderAcrossYear    subsidy held for a day in the next year (year-end clears it)
    │   │   ├── PreorderTooEarly      a meal further ahead than pre-orders are taken
    │   │   ├── PickupRefused         a pick-up the payment core refused (nothing moved)
    │   │   ├── NotRefundable         a refund of a payment that did not succeed (e-CNY)
    │   │   ├── RefundExceedsLeft     a refund beyond what is left of the payment (e-CNY)
    │   │   ├── DishAlreadyRated      a dish of a meal rated a second time
    │   │   ├── SurveyNotOpen         a survey answered before, after or once closed
    │   │   ├── SurveyPeriodRefused   a survey's period already over, backwards or too long
    │   │   ├── AlreadyAnswered       a survey answered twice by one diner
    │   │   └── OutOfCalendar         a money run before its time (funding.calendar):
    │   │       ├── SettlementTooEarly          the quarter has not ended yet
    │   │       ├── YearEndBeforeSettlement     the year's Q4 is not settled yet
    │   │       └── NoticesNotIssued            distribution before the notices
    │   ├── DuplicateCode             a code or unit name in use
    │   ├── ConcurrentChange          someone took the same code at the same moment
    │   ├── RetireRefused             people or money left, terminals in use, …
    │   └── CityExists                ``onecard init`` on a database with a city
    ├── Refused                       a business "no" to a payment: recorded and answered
    │   ├── InsufficientFunds
    │   ├── CardLost / CardCancelled / UnknownCard
    │   ├── CodeExpired / CodeReused / CodeInvalid / CodeRevoked
    │   ├── OutsideMealPeriod / PeriodLimitReached / VisitorsNotServed / NoPrice
    │   ├── PersonInactive
    │   ├── NoDiningAgreement         another fund region, no agreement in force (code foreign_region)
    │   ├── GoodsCashOnly             goods from the cash purse, and it holds too little
    │   ├── EcnyDeclined              the e-CNY acquirer declined (code used, wallet short)
    │   ├── FaceNotRecognised / FaceNotLive       face pay: no clear match; liveness failed
    │   └── OfflineRecordRefused      an offline record the server will not apply (terminals)
    │       ├── OfflineForged / OfflineAltered       not signed by the terminal / changed since
    │       ├── OfflineReplayed / OfflineSeqReused   txn or code spent / seq already taken
    │       ├── OfflineOverLimit      beyond a limit its working set gave
    │       └── OfflineNotInWorkingSet   person, card or code not (or lost) in that version
    ├── Unavailable                   not now: the database is unreachable or restarting (503)
    │   ├── PaymentNotConfirmed       no decision could be confirmed; retry the same txn id
    │   └── BatcherStopped            the payment batcher is not running
    ├── BankUnavailable               the bank cannot be reached; retry, same order id
    │   └── EcnyUnavailable           the e-CNY acquirer did not answer; resolved by query
    └── LedgerError                   an invariant of the books or the audit trail broke:
        ├── UnbalancedEntry           a bug or tampering, never a user's doing
        └── AuditChainBroken

Every class belongs in this module (``tests/core/test_errors.py`` checks that every
subclass anywhere in ``onecard`` is drawn above, under its own parent). Services raise
these; only ``web/errors.py`` maps them to HTTP status codes and
``cli.py`` to exit codes. Each class has a stable machine-readable ``code`` and a
message template in Chinese (default) and English.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar


class OneCardError(Exception):
    code: ClassVar[str] = "error"
    zh: ClassVar[str] = "系统错误"
    en: ClassVar[str] = "System error"

    def __init__(self, detail: str | None = None, **params: Any) -> None:
        self.params = params
        self.detail = detail
        # For logs and tracebacks: the English template with the detail as it is.
        super().__init__(self._text(self.en, detail))

    def message(self, lang: str = "zh-CN") -> str:
        """The message a person reads in ``lang``. A service's ``detail`` is its own
        words, mostly Chinese: an English message leaves a detail out when it is written
        in Chinese rather than show a Chinese sentence on an English page (the code and
        the English template still say what went wrong)."""
        if lang.startswith("en"):
            chinese = self.detail is not None and _CJK.search(self.detail)
            return self._text(self.en, None if chinese else self.detail)
        return self._text(self.zh, self.detail)

    def _text(self, template: str, detail: str | None) -> str:
        try:
            text = template.format(**self.params)
        except (KeyError, IndexError):
            text = template
        return f"{text}: {detail}" if detail else text


_CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef]")  # Han characters and full-width forms


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


class FundSharedAbove(InvalidInput):
    code = "fund_shared_above"
    zh = "区域 {region} 不单独核算经费，其经费由区域 {fund} 管理"
    en = "Region {region} has no fund of its own: its money is run by region {fund}"


class StarsNotChosen(InvalidInput):
    code = "stars_not_chosen"
    zh = "请为每一项选择星级（1–5 星），尚未选择：{aspects}"
    en = "Choose 1–5 stars for every aspect; not chosen yet: {aspects}"


class ImportRejected(InvalidInput):
    code = "import_rejected"
    zh = "导入文件有 {count} 处错误，未写入任何数据"
    en = "The file has {count} errors; nothing was written"


class AboveReferencePrice(InvalidInput):
    code = "above_reference_price"
    zh = "{name} 售价 {price} 元高于本市大型商超参考价 {reference} 元（{valid_from} 起），未保存"
    en = (
        "{name} at {price} yuan is above the city's large-store reference price of"
        " {reference} yuan (from {valid_from}); nothing was saved"
    )


class NoReferencePrice(InvalidInput):
    code = "no_reference_price"
    zh = "{name} 尚无本市大型商超参考价，请先由财政局发布参考价"
    en = "{name} has no large-store reference price yet; the bureau publishes one first"


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


class FacePayNotEnabled(AuthError):
    code = "face_pay_not_enabled"
    zh = "该消费机没有活体检测，不能刷脸支付"
    en = "This terminal has no liveness detection and cannot take face payments"


class Forbidden(AuthError):
    code = "forbidden"
    zh = "无权执行此操作"
    en = "You are not allowed to do this"


class FundRunAbove(Forbidden):
    """A region that shares the fund above it: that fund region's bureau runs its money
    (the message says who to ask)."""

    code = "fund_run_above"
    zh = "所在区域不单独核算经费，由上级经费区域（{fund}）的管理局办理"
    en = "Your region has no fund of its own: the bureau of {fund} runs its money"


class PartnerUnauthorized(AuthError):
    code = "partner_unauthorized"
    zh = "合作方请求签名验证失败（{reason}）"
    en = "The partner request's signature was not accepted ({reason})"


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


class StockShort(StateConflict):
    code = "stock_short"
    zh = "{name} 库存不足：现有 {stock}，不能出库 {qty}"
    en = "Not enough {name} in stock: {stock} held, cannot take out {qty}"


class BatchFailedInspection(StateConflict):
    code = "batch_failed_inspection"
    zh = "批次 {batch_no} 进货检验不合格，不能使用"
    en = "Batch {batch_no} failed its inspection on arrival and cannot be used"


class BatchShort(StateConflict):
    code = "batch_short"
    zh = "批次 {batch_no} 只剩 {left} {unit}，不能再用 {qty} {unit}"
    en = "Batch {batch_no} has only {left} {unit} left, cannot use {qty} {unit}"


class IllegalTransition(StateConflict):
    code = "illegal_transition"
    zh = "不能从「{frm}」变为「{to}」"
    en = 'Cannot move from "{frm}" to "{to}"'


class OfflineNotEnrolled(StateConflict):
    code = "offline_not_enrolled"
    zh = "该消费机尚未登记离线签名公钥"
    en = "This terminal has not registered an offline signing key"


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


class OutOfCalendar(StateConflict):
    """A money run asked for before its calendar allows it. Nothing was done; a real
    emergency may run it anyway with an audited reason (``override_calendar``)."""

    code = "out_of_calendar"
    zh = "现在还不能执行这项资金运行"
    en = "This money run cannot be done yet"


class SettlementTooEarly(OutOfCalendar):
    code = "settlement_too_early"
    zh = "{quarter} 到 {ends} 才结束（北京时间），今天是 {today}：季度结束后才能结算"
    en = "{quarter} ends on {ends} (Beijing time) and today is {today}: settle after the quarter ends"


class YearEndBeforeSettlement(OutOfCalendar):
    code = "year_end_before_settlement"
    zh = "{year} 年第四季度（{quarter}）尚未结算：年末清零须在全年最后一次结算之后"
    en = "{quarter} is not settled yet: year-end clearing comes after the year's last settlement"


class NoticesNotIssued(OutOfCalendar):
    code = "notices_not_issued"
    zh = "{quarter}{unit_zh} 的缴款通知尚未下发：先下发通知，才能拨付"
    en = "The funding notices of {quarter}{unit_en} are not out yet: issue them before distributing"


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


class NoDiningAgreement(Refused):
    """A person of another fund region, with no dining agreement in force between their
    region and the canteen's for their unit and this canteen (issue 17 §2)."""

    # The one code two errors share, by design (issue 17 §2): to a terminal, a payment
    # code of another network and a person of another fund region with no agreement are
    # the same answer, ``foreign_region`` — one a 422 before anything is recorded, the
    # other a recorded refusal, each with its own message.
    code = "foreign_region"
    shares_code_with = "ForeignRegion"
    zh = "本食堂与您所在区域无就餐协议"
    en = "There is no dining agreement between your region and this canteen's"


class PersonInactive(Refused):
    code = "person_inactive"
    zh = "该人员已离职或账户已停用"
    en = "This person has left or the account is inactive"


class EcnyDeclined(Refused):
    code = "ecny_declined"
    zh = "数字人民币支付失败：{reason}"
    en = "e-CNY payment declined: {reason}"


class OfflineRecordRefused(Refused):
    """An offline record the server does not apply; the upload's answer names it per
    record (``terminals.service.upload``) and no money moves for it."""

    code = "offline_refused"
    zh = "离线交易记录被拒绝"
    en = "Offline record refused"


class OfflineForged(OfflineRecordRefused):
    code = "offline_forged"
    zh = "离线记录的签名不是本消费机的"
    en = "The record is not signed by this terminal's key"


class OfflineAltered(OfflineRecordRefused):
    code = "offline_altered"
    zh = "离线记录签名后被改动"
    en = "The record was changed after it was signed"


class OfflineReplayed(OfflineRecordRefused):
    code = "offline_replayed"
    zh = "该交易号或付款码已使用过"
    en = "This transaction id or payment code was already used"


class OfflineSeqReused(OfflineRecordRefused):
    code = "offline_seq_reused"
    zh = "该序号已被另一条离线记录使用"
    en = "This sequence number was already used by another record"


class OfflineOverLimit(OfflineRecordRefused):
    code = "offline_over_limit"
    zh = "超出离线限额：{limit}"
    en = "Beyond the offline limit: {limit}"


class OfflineNotInWorkingSet(OfflineRecordRefused):
    code = "offline_not_in_working_set"
    zh = "离线名单中无此人、此卡已挂失或凭证不符"
    en = "Not in the working set, card listed as lost, or credential not the person's"


class GoodsCashOnly(Refused):
    code = "goods_cash_only"
    zh = "超市商品只能用现金账户支付，现金余额不足"
    en = "Shop goods are paid from the cash purse only, and it holds too little"


class NoPrice(Refused):
    code = "no_price"
    zh = "本餐次未设置该类人员的价格"
    en = "No price set for this diner category at this meal"


class FaceNotRecognised(Refused):
    code = "face_not_recognised"
    zh = "未能确认身份，请刷卡或出示付款码"
    en = "The face was not recognised; use a card or a payment code"


class FaceNotLive(Refused):
    code = "face_not_live"
    zh = "活体检测未通过，请刷卡或出示付款码"
    en = "The liveness check failed; use a card or a payment code"


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


# --- funding: the money runs -----------------------------------------------------------------
class NotFileExchange(StateConflict):
    code = "not_file_exchange"
    zh = "本市银行接口不是文件交换方式（ONECARD_BANK=files），没有批量文件和处理结果文件"
    en = "The bank is not connected by file exchange (ONECARD_BANK=files)"


class BadQuarter(InvalidInput):
    code = "bad_quarter"
    zh = "季度格式应为 2026Q1 这样的形式：{value}"
    en = "A quarter looks like 2026Q1: {value}"


class DistributionExceedsFunds(StateConflict):
    code = "distribution_exceeds_funds"
    zh = "{unit} 待分配 {need} 元，超过该单位已拨入未分配的 {have} 元"
    en = "{unit}: distribution of {need} yuan exceeds the {have} yuan the unit paid in"


class MissingQualityScore(StateConflict):
    code = "missing_quality_score"
    zh = "食堂 {canteen} 设有质量考核规则，但 {quarter} 尚未录入考核分数"
    en = "Canteen {canteen} has a quality rule but no score for {quarter}"


class MissingPayee(StateConflict):
    code = "missing_payee"
    zh = "食堂 {canteen} 未登记经营者收款账户，无法结算付款"
    en = "Canteen {canteen} has no operator bank account to pay"


class FaceConsentRequired(StateConflict):
    code = "face_consent_required"
    zh = "须先由本人同意采集人脸信息（用途与保存期限已告知），才能登记人脸"
    en = "The person's consent (purpose and retention shown) must be recorded before a face is enrolled"


class PersonNotLeft(StateConflict):
    code = "person_not_left"
    zh = "该人员尚未办理离职，现金余额不得退还（不得提现）"
    en = "This person has not left; cash cannot be paid out"


# --- ops: backup and restore -----------------------------------------------------------------
class NotABackup(InvalidInput):
    code = "not_a_backup"
    zh = "{path} 不是可恢复到{kind}的一卡通备份"
    en = "{path} is not a OneCard backup that {kind} can restore"


class BackupToolFailed(InvalidInput):
    code = "backup_tool_failed"
    zh = "{tool} 执行失败，未做任何改动"
    en = "{tool} failed; nothing was changed"


class BackupSourceMissing(NotFound):
    code = "backup_source_missing"
    zh = "找不到 {path}"
    en = "{path} does not exist"


class ToolMissing(NotFound):
    code = "tool_missing"
    zh = "未安装 {tool}（Debian: apt-get install postgresql-client-15）"
    en = "{tool} is not installed (Debian: apt-get install postgresql-client-15)"


class TargetHoldsData(StateConflict):
    code = "target_holds_data"
    zh = "目标数据库 {target} 已有数据（{tables} 张表，{entries} 笔分录）；确需覆盖请加 --replace"
    en = (
        "The target database {target} already holds data ({tables} tables, {entries} "
        "ledger entries); add --replace to overwrite it"
    )


class BackupFileExists(StateConflict):
    code = "backup_file_exists"
    zh = "{path} 已存在；确需覆盖请加 --overwrite"
    en = "{path} already exists; add --overwrite to replace it"


# --- org: administration ---------------------------------------------------------------------
class CityExists(Conflict):
    code = "city_exists"
    zh = "该数据库已有城市「{city}」，onecard init 只能用于空数据库"
    en = "This database already holds the city {city}; onecard init needs an empty database"


class InvalidBankAccount(InvalidInput):
    code = "invalid_bank_account"
    zh = "{field}不正确：{problem}"
    en = "{field_en} is not valid: {problem_en}"


class NoFaceFound(InvalidInput):
    code = "no_face"
    zh = "照片中未检测到人脸（或不是可读的 JPEG/PNG 图片），请正对镜头重拍"
    en = "No face found in the picture (or not a readable JPEG/PNG); take it again, facing the camera"


class FaceNotAttested(InvalidInput):
    code = "face_not_attested"
    zh = "请先勾选“收银员已核验本人在场”再刷脸收款"
    en = "Tick “the cashier has checked the diner is present” before taking a face payment"


class UnknownReference(InvalidInput):
    code = "unknown_reference"
    zh = "{field}不存在：{value}"
    en = "{field_en} does not exist: {value}"


class DuplicateCode(Conflict):
    code = "duplicate_code"
    zh = "{field}「{value}」已被使用"
    en = "{field_en} {value} is already in use"


class ConcurrentChange(Conflict):
    code = "concurrent_change"
    zh = "同一编码或授权刚被他人同时占用，未写入任何数据，请刷新后重试"
    en = "Someone took the same code or role at the same moment; nothing was written, reload and try again"


class RetireRefused(Conflict):
    code = "retire_refused"
    zh = "不能撤销{what}：{reasons}"
    en = "{what} cannot be retired: {reasons}"


# --- channels: the bank ----------------------------------------------------------------------
class StatementMissing(NotFound):
    code = "statement_missing"
    zh = "尚未读入 {day} 的银行对账单，请先上传对账单文件"
    en = "The bank statement of {day} has not been read yet; upload the statement file"


class BankUnavailable(OneCardError):
    code = "bank_unavailable"
    zh = "银行系统暂时无法访问，请稍后使用同一订单号重试"
    en = "The bank is unavailable; retry later with the same order id"


class EcnyUnavailable(BankUnavailable):
    code = "ecny_unavailable"
    zh = "数字人民币收单机构暂时无法访问，订单结果将通过查询确认"
    en = "The e-CNY acquirer did not answer; the order's outcome will be settled by query"


class BadSignature(AuthError):
    code = "bad_signature"
    zh = "银行通知签名无效"
    en = "Invalid bank notification signature"


class NoCallbacks(BadSignature):
    code = "no_bank_callbacks"
    zh = "文件交换方式下银行不发送回调通知"
    en = "The bank sends no callbacks in the file exchange"


# --- web: signing in and forms ---------------------------------------------------------------
class BadCredentials(AuthError):
    code = "bad_credentials"
    zh = "工号或密码错误"
    en = "Wrong staff ID or password"


class AccountLocked(AuthError):
    code = "account_locked"
    zh = "连续多次登录失败，账户已锁定，请 {minutes} 分钟后再试"
    en = "Too many failed attempts; the account is locked for {minutes} minutes"


class TooManyAttempts(AuthError):
    code = "too_many_attempts"
    zh = "尝试次数过多，请 {wait_zh}后再试"
    en = "Too many attempts; try again in {wait_en}"


class BadSecondFactor(AuthError):
    code = "bad_second_factor"
    zh = "动态验证码错误"
    en = "Wrong authenticator code"


class BadEnrolmentCode(AuthError):
    code = "bad_enrolment_code"
    zh = "绑定码错误或已过期，请向机关事务局索取新的绑定码"
    en = "Wrong or expired enrolment code; ask the bureau for a new one"


class CsrfRefused(Forbidden):
    code = "csrf_failed"
    zh = "页面已过期或请求来源不可信，请刷新页面后重试"
    en = "The page expired or the request did not come from it; reload and try again"


class PartnerOutOfScope(Forbidden):
    code = "partner_out_of_scope"
    zh = "合作协议未授权此操作（需要 {scope}）"
    en = "The partner agreement does not allow this (needs {scope})"


class CrossSiteRefused(Forbidden):
    code = "cross_site"
    zh = "拒绝来自其他网站的请求"
    en = "Requests from another site are refused"


# --- feedback --------------------------------------------------------------------------------
class AlreadyRated(StateConflict):
    code = "already_rated"
    zh = "这餐已经评价过了"
    en = "This meal has already been rated"


class NotRateable(StateConflict):
    code = "not_rateable"
    zh = "只能评价已成功支付的用餐"
    en = "Only a meal that was actually paid can be rated"


# --- community canteens (community/) -------------------------------------------------
class InvalidIdNumber(InvalidInput):
    code = "invalid_id_number"
    zh = "身份证号码不正确：{problem}"
    en = "The ID number is not valid: {problem_en}"


class CategoryNotMet(InvalidInput):
    code = "category_not_met"
    zh = "出生日期与类别“{category}”不符"
    en = "The birth date does not meet the category {category}"


class LoveMealAboveCap(InvalidInput):
    code = "love_meal_above_cap"
    zh = "爱心餐价格 {price} 元高于上限 {cap} 元"
    en = "A love meal at {price} yuan is above the cap of {cap} yuan"


class ClaimDecided(StateConflict):
    code = "claim_decided"
    zh = "该补贴申报已审核通过，不能再修改"
    en = "This subsidy claim is already approved and cannot change"


# --- dish ratings (feedback.dishes, R-S1) ----------------------------------------------
class DishAlreadyRated(StateConflict):
    code = "dish_already_rated"
    zh = "这餐的这道菜已经评价过了"
    en = "This dish of this meal has already been rated"


class NotADish(InvalidInput):
    code = "not_a_dish"
    zh = "只能评价本餐的菜品（商品不参与评价）"
    en = "Only the dishes of this meal can be rated (shop goods are not rated)"


# --- menus and pre-orders (menus/) ---------------------------------------------------
class NotOnMenu(InvalidInput):
    code = "not_on_menu"
    zh = "{sku} 不在 {day} {meal} 的菜单上，未预订"
    en = "{sku} is not on the menu of {day} {meal}; nothing was ordered"


class PreorderClosed(StateConflict):
    code = "preorder_closed"
    zh = "已过预订截止时间（{cutoff}），未作任何更改"
    en = "The pre-order cut-off ({cutoff}) has passed; nothing was changed"


class PreorderCancelled(StateConflict):
    code = "preorder_cancelled"
    zh = "该预订已取消"
    en = "This pre-order was cancelled"


class PreorderNotOpen(StateConflict):
    code = "preorder_not_open"
    zh = "该预订已{state}，不能再更改"
    en = "This pre-order is already {state_en} and cannot change"


class PreorderExists(StateConflict):
    code = "preorder_exists"
    zh = "这一餐已有预订，请先取消原预订"
    en = "This meal is already pre-ordered; cancel that pre-order first"


class PreorderAcrossYear(StateConflict):
    code = "preorder_across_year"
    zh = "{day} 已是下一年度：补贴余额年末清零，不能预先扣补贴；请选择取餐时付款"
    en = (
        "{day} is in the next year: allocated balances are cleared at year end and cannot"
        " be held for it; choose to pay at pick-up"
    )


class PreorderTooEarly(StateConflict):
    code = "preorder_too_early"
    zh = "只能预订 {days} 天之内的餐"
    en = "Meals can be pre-ordered at most {days} days ahead"


class PickupRefused(StateConflict):
    code = "pickup_refused"
    zh = "未能取餐：{reason}（未扣款，预订保留）"
    en = "Not picked up: {reason_en} (nothing charged; the pre-order stands)"


class NotRefundable(StateConflict):
    code = "not_refundable"
    zh = "只有成功的交易可以退款"
    en = "Only a payment that succeeded can be refunded"


class RefundExceedsLeft(StateConflict):
    code = "refund_exceeds_left"
    zh = "退款超过可退金额：最多还可退 {left} 元"
    en = "The refund is more than is left: at most {left} yuan can still be refunded"


# --- surveys (R-S3) ----------------------------------------------------------------------------
class SurveyNotOpen(StateConflict):
    code = "survey_not_open"
    zh = "该问卷不在填写期内（{starts} 至 {ends}）{why}"
    en = "This survey is not open (from {starts} to {ends}){why_en}"


class SurveyPeriodRefused(StateConflict):
    code = "survey_period_refused"
    zh = "问卷填写期不可用：{why}"
    en = "The survey's period cannot be used: {why_en}"


class AlreadyAnswered(StateConflict):
    code = "already_answered"
    zh = "您已填写过这份问卷，每人只能填写一次"
    en = "You have already answered this survey; each person answers once"
