"""English for the diner's statement and the till (``web/diner.py``, ``web/till.py`` and
their templates), merged into ``web.i18n.EN``: the same contract — Chinese is the source
text. The entry kinds' words are in ``pay.statement.KIND_WORDS``."""

from __future__ import annotations

EN_TILL: dict[str, str] = {
    # The diner's statement.
    "账户明细": "Statement",
    "每一笔进出：季度就餐经费拨付、自费充值、消费、冲正与退款、年末清零。": (
        "Every movement: quarterly allocations, top-ups, meals, reversals and refunds, "
        "year-end clearing."
    ),
    "当前余额": "Balance now",
    "年份": "Year",
    "查看": "Show",
    "翻页": "Pages",
    "上一页": "Previous",
    "下一页": "Next",
    "第": "Page",
    "页": "",
    "季度就餐经费": "dining allowance",
    "已退款": "Refunded",
    "暂无交易": "No transactions",
    "付款码二维码": "Payment code QR",
    "请勿将付款码截图发给他人；每个码仅能使用一次": (
        "Never send a screenshot of the code to anyone; each code works once"
    ),
    "已冲正，款项已退回": "Reversed, money returned",
    "每一项选择 1–5 星（5 星最好）": "Choose 1–5 stars for each (5 is best)",
    "选填": "optional",
    # The till.
    "下一笔": "Next scan",
    "按餐次收费": "Charges the meal",
    "按金额收费": "Charges the amount",
    "按商品收费": "Charges the items",
    "请选择餐次或输入金额": "Choose a meal or type an amount",
    "件": "items",
    "按金额（元）": "By amount (yuan)",
    "本单位": "own unit",
    "外单位": "visitors",
    "超市": "shop",
    "提示音": "Sound",
    "交班报表": "Shift report",
    "今日收款": "Today's payments",
    "今天还没有收款": "No payments yet today",
    "成功收款后": "A payment can be reversed for",
    "分钟内可冲正，款项原路退回付款人": "minutes; the money goes back to the payer",
    "此处显示最近": "showing the latest",
    "笔，全部见交班报表": "— the shift report has them all",
    "确定冲正这笔交易？": "Reverse this payment?",
    "冲正": "Reverse",
    "成功": "Paid",
    "按金额/商品": "By amount / items",
    "已原路退回付款人账户": "Returned to the payer's account",
    # The shift report.
    "营业日": "Business day",
    "打印时间": "Printed",
    "打印": "Print",
    "返回收银台": "Back to the till",
    "成功笔数": "Payments",
    "收款合计": "Taken",
    "扣除退款后": "Less refunds",
    "按账户": "By purse",
    "补贴账户": "Subsidy purse",
    "自费账户": "Own-money purse",
    "收款明细": "Payments",
    "付款人": "Payer",
    "当日没有收款": "No payments on this day",
    "收银员": "Cashier",
    "复核": "Checked by",
}
