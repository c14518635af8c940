"""The words a person reads for the codes the system stores (issue 14 §3).

Contract: ``word(code, domain)`` is the Chinese word for a stored code — a status
(``active``), a kind (``self``, ``outsourced``), a run (``distribute``), an audited action
(``import_roster``) — looked up in that domain's table (a code means different things in
different places: a card's ``active`` is 正常, a canteen's ``live`` 已上线); an unknown
code is returned as it is, so a new code shows up rather than vanishes (and
tests/web/test_words.py lists the codes pages use). ``who(label)`` turns an actor label
or an audit target (``person:23:张伟``, ``person:23``, ``notice:5``, ``cli:ops``)
into a name. Pages translate the Chinese through the page's language (the ``word`` and
``who`` template filters); the PDF statements use the Chinese as it is. This module
knows no area: the tables are plain text, kept here so every page, export and PDF says
the same word for the same code.
"""

from __future__ import annotations

import re
from collections.abc import Callable

WORDS: dict[str, dict[str, str]] = {
    "card": {"active": "正常", "lost": "已挂失", "cancelled": "已注销", "frozen": "已冻结"},
    "person": {"active": "在职", "left": "离职"},
    "payment": {"approved": "成功", "refused": "失败", "reversed": "已冲正", "refunded": "已退款"},
    "terminal": {
        "planned": "计划",
        "installed": "已安装",
        "accepted": "已验收",
        "live": "已启用",
        "revoked": "已停用",
    },
    "canteen": {"planned": "计划", "inspected": "已验收检查", "live": "已上线"},
    "operation": {"self": "自营", "outsourced": "委托经营"},
    # Whether someone without a one card may eat at a canteen (org.fields.GUEST_ACCESS_ZH).
    "guest_access": {
        "none": "仅限持卡工作人员",
        "appointment": "来客须预约",
        "open": "欢迎来客就餐",
    },
    # A quarter's settlement of one canteen (funding.models.Settlement.status).
    "settlement": {
        "nothing": "无需付款",
        "payout_pending": "待付款",
        "paid": "已付款",
        "payout_failed": "付款失败",
    },
    # A bank order (funding.models.BankOrder.status).
    # (an e-CNY order may also be ``refused``: the decision core said no, nothing sent)
    "order": {"pending": "处理中", "succeeded": "成功", "failed": "失败", "refused": "已拒绝"},
    # How the server answered an offline record (terminals.models.OfflineRecord.status,
    # plus ``duplicate`` — sent again — and ``deferred`` — waiting behind a gap).
    "offline_record": {
        "applied": "已入账",
        "refused": "已拒绝",
        "duplicate": "重复上传",
        "deferred": "待补传",
    },
    # Who recorded a face-pay consent (faces.models.FaceConsent.given_via).
    "face_consent": {"self": "本人在线同意", "admin": "单位代录纸质同意"},
    # What was run or done (audit actions, money runs).
    "meal": {"breakfast": "早餐", "lunch": "午餐", "dinner": "晚餐"},
    # Satisfaction surveys (surveys.service.open_state, surveys.models).
    "survey": {"open": "进行中", "upcoming": "未开始", "ended": "已结束", "closed": "已提前结束"},
    "question": {"single": "单选", "multi": "多选", "stars": "星级", "text": "文字"},
    "audience": {"all": "全体就餐人员", "unit": "指定单位职工", "ate": "期间在该食堂就餐的人员"},
    "action": {
        "waste_inspection": "反浪费检查",
        "waste_weight": "剩余重量",
        "clean_plate": "光盘打卡",
        "waste_notice": "浪费通报",
        "waste_notice_ack": "确认浪费通报",
        "survey_published": "发布问卷",
        "survey_closed": "结束问卷",
        "survey_answered": "填写问卷",
        "card_issued": "发卡",
        "card_lost": "挂失",
        "card_unfrozen": "解挂",
        "card_replaced": "补卡",
        "card_cancelled": "注销卡",
        "paycode_rotated": "更换付款码密钥",
        "phone_lost": "挂失手机",
        "face_consent": "同意采集人脸",
        "face_enrol": "登记人脸",
        "face_withdraw": "撤回人脸同意",
        "face_purge": "删除离职人员人脸",
        "face_terminal": "消费机活体检测",
        "canteen_rules": "食堂规则",
        "meal_period": "餐次与餐价",
        "terminal_registered": "登记消费机",
        "terminal_revoked": "停用消费机",
        "rollout_status": "上线状态",
        "refund": "退款",
        "reversal": "冲正",
        "person_added": "名册新增",
        "person_changed": "名册变更",
        "person_left": "名册离职",
        "import_roster": "导入花名册",
        "unit_info_added": "单位信息新增",
        "unit_info_changed": "单位信息变更",
        "import_unit_info": "导入信息统计表",
        "leave": "办理离职",
        "quality_rule": "考核分档",
        "quality_score": "考核分数",
        "notices": "下发缴款通知",
        "issue_notices": "下发缴款通知",
        "assign_receipt": "认领到账",
        "receipts": "导入到账流水",
        "import_receipts": "导入到账流水",
        "transfer": "转入收入户",
        "transfer_to_income": "转入收入户",
        "distribute": "拨付",
        "settle": "季度结算",
        "settlement_retry": "重发结算款",
        "leaver_refund": "离职退款",
        "return_to_units": "退回单位",
        "year_end": "年末清零",
        "reconcile": "对账",
        "calendar_override": "越过日历运行",
        "region_fund": "设置区域经费核算",
        # Signing in and the account's security (web.accounts, web.account_activation).
        "sign_in": "登录",
        "sign_in_failed": "登录失败",
        "sign_out": "退出登录",
        "second_factor": "动态验证码验证",
        "authenticator_bound": "绑定身份验证器",
        "password_changed": "修改密码",
        "password_change_failed": "修改密码失败",
        "password_reset": "重置密码",
        "password_temporary": "临时密码",
        "account_activated": "激活账户",
        "activation_code_issued": "发放激活码",
        "activation_failed": "激活失败",
        "enrolment_code_issued": "发放绑定码",
        "unlock_account": "解除锁定",
        "sessions_ended": "退出所有设备",
        "community_rules": "社区食堂补贴规则",
        "resident_registered": "居民登记",
        "resident_topup": "居民钱包充值",
        "community_fund": "民政补贴资金到账",
        "community_canteen": "新建社区食堂",
        "community_dish": "社区食堂餐价",
        "community_claim_built": "生成补贴申报",
        "community_claim_line": "审核申报明细",
        "community_claim_approved": "补贴申报审核通过",
        "community_rating": "社区食堂等级评定",
    },
    # Community canteens (community/): a resident's categories, claims, meals, anomalies.
    "resident_category": {
        "aged_60": "60周岁以上老人",
        "child_14": "14周岁以下儿童",
        "revolutionary": "建国前参加革命老人",
        "sanwu": "“三无”老人",
        "dibao": "低保老人",
        "veteran": "参军参战老人",
        "soldier": "现（退）役军人",
        "disabled": "失能半失能老人",
    },
    "community_claim": {"open": "审核中", "approved": "已审核通过"},
    "claim_line": {"pending": "待审核", "approved": "已通过", "rejected": "已驳回"},
    "meal_slot": {"breakfast": "早餐", "lunch": "午餐", "dinner": "晚餐"},
    "anomaly": {
        "double": "同一餐重复补贴",
        "under_age": "未达年龄条件的补贴",
        "far_above": "餐价远高于平时",
    },
}

# Who did it, when it was not a person (``Actor.system(...)``, the CLI, the bank).
SYSTEM_ZH = {
    "system": "系统",
    "cli": "命令行",
    "demo": "演示数据",
    "bench": "压力测试",
}

# What an audit target names, when it is ``kind:id``.
TARGET_ZH = {"person": "人员", "notice": "缴款通知", "unit": "单位", "canteen": "食堂"}

_TARGET = re.compile(r"^([a-z_]+):(\d+)(?::(.+))?$")


def word(code: object, domain: str) -> str:
    """The Chinese word for ``code`` in ``domain`` (the code itself when unknown)."""
    text = "" if code is None else str(code)
    return WORDS[domain].get(text, text)


def who(
    label: object,
    names: dict[tuple[str, int], str] | None = None,
    tr: Callable[[str], str] = str,
) -> str:
    """A person's (or thing's) name from a label: ``person:23:张伟`` → 张伟; ``person:23``
    → the name in ``names`` or 人员 #23; ``cli:ops`` → 命令行（ops）; others as they are.
    ``tr`` translates the words (not the names) into the page's language."""
    text = "" if label is None else str(label)
    head, _, rest = text.partition(":")
    if head in SYSTEM_ZH and not rest.isdigit() and not rest[:1].isdigit():
        # ``cli:<user>`` → 命令行（<user>）: the account on the server that ran it.
        return f"{tr(SYSTEM_ZH[head])}（{rest}）" if rest else tr(SYSTEM_ZH[head])
    m = _TARGET.match(text)
    if not m:
        return text
    kind, ident, name = m.group(1), int(m.group(2)), m.group(3)
    if name:
        return name
    if names and (kind, ident) in names:
        return names[(kind, ident)]
    return f"{tr(TARGET_ZH.get(kind, kind))} #{ident}"


def grouped(n: int) -> str:
    """A count with thousands separators: 1679 → '1,679'."""
    return f"{n:,}"
