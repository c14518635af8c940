"""English for the account pages (``web/activation.py``: activation, activation codes,
reset, unlock), merged into ``web.i18n.EN``: the same contract — Chinese is the source
text."""

from __future__ import annotations

EN_ACCOUNTS: dict[str, str] = {
    "激活账户": "Activate your account",
    "首次使用：输入工号（或手机号）和本单位管理员发给您的激活码，再设置您自己的密码。": (
        "First time: enter your staff ID (or phone) and the activation code your unit's"
        " administrator gave you, then choose your own password."
    ),
    "工号或手机号": "Staff ID or phone",
    "激活码": "Activation code",
    "激活并登录": "Activate and sign in",
    "激活码一次有效；过期或遗失请联系本单位管理员重新发放。": (
        "A code works once; if it expired or is lost, ask your unit's administrator for a new one."
    ),
    "已有密码？去登录": "Have a password? Sign in",
    "忘记密码？请联系本单位管理员": "Forgot your password? Ask your unit's administrator",
    "首次使用？用激活码激活账户": "First time? Activate your account with a code",
    "演示跳过码（仅演示环境，代替验证器）": "Demo skip code (demo only, instead of an authenticator)",
    "跳过验证器": "Skip the authenticator",
    "账户": "Account",
    "已激活": "Activated",
    "待激活（已发激活码）": "Pending (code issued)",
    "未激活": "Not activated",
    "激活码有效至": "Code valid until",
    "登录已锁定": "Sign-in locked",
    "发放激活码": "Issue activation code",
    "重置密码": "Reset password",
    "解除锁定": "Unlock",
    "确定重置此人的密码？其全部登录将退出，并发放新的激活码。": (
        "Reset this person's password? All their sessions end and a new activation code is issued."
    ),
    "激活码（只显示这一次）": "Activation code (shown only this once)",
    "有效期至": "Valid until",
    "激活地址": "Activate at",
    "请当面或以可靠方式交给本人；激活码一次有效，再次发放将作废此码。": (
        "Hand it to the person directly or by a trusted way; it works once, and a new one voids it."
    ),
    "打印": "Print",
    "已重置密码并退出此人的全部登录": "Password reset and all of this person's sessions ended",
    "已解除登录锁定": "Sign-in lock cleared",
    "打印激活码": "Print activation codes",
    "导出激活码": "Export activation codes",
    "为尚未设置密码、也没有未过期激活码的人员生成激活码（只显示一次）。": (
        "Makes codes for the people with no password and no live code (shown once)."
    ),
    "激活码只显示这一次，系统只保存其摘要。请打印后逐人裁开发放；再次打印或导出会生成新码，旧码作废。": (
        "The codes are shown only this once; only their digests are kept. Print, cut and hand"
        " out; printing or exporting again makes new codes and voids these."
    ),
    "返回人员名册": "Back to the roster",
    "没有需要发放激活码的人员（都已设置密码或已有未过期的激活码）。": (
        "Nobody needs a code (everyone has a password or a live code)."
    ),
    "人": "people",
    "在": "At",
    "输入工号和激活码，设置密码": "enter your staff ID and the code, and choose a password",
}
