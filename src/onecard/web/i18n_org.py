"""English for the organisation pages (``web/org.py``, ``templates/bureau/org_*.html``),
merged into ``web.i18n.EN``: the same contract — Chinese is the source text."""

from __future__ import annotations

EN_ORG: dict[str, str] = {
    # Navigation and headings.
    "机构管理": "Organisation",
    "单位与区域": "Units and regions",
    "管理员与角色": "Administrators and roles",
    "导入信息统计表": "Import the information table",
    "单位与食堂资料": "Unit and canteens",
    "单位资料": "Unit record",
    "食堂资料": "Canteen record",
    "区域": "Regions",
    "市 → 县（区） → 乡镇（街道）": "city → county → township",
    "单位管理员与食堂管理员": "Unit administrators and canteen managers",
    "付款失败的结算款": "Settlement payouts the bank returned",
    "撤销单位": "Retire the unit",
    "撤销食堂": "Retire the canteen",
    # Fields.
    "代码": "Code",
    "级别": "Level",
    "单位代码": "Unit code",
    "区域代码": "Region code",
    "区域名称": "Region name",
    "区域级别": "Region level",
    "上级区域": "Parent region",
    "所属区域": "Region",
    "单位级别": "Unit level",
    "有无食堂": "Has a canteen",
    "默认每季度就餐经费标准（元/人）": "Default quarterly dining standard (yuan per person)",
    "食堂编码": "Canteen code",
    "食堂名称": "Canteen name",
    "经营者结算账户": "Operator's settlement account",
    "服务人员数": "Service staff",
    "座位数": "Seats",
    "窗口数": "Serving windows",
    "合同开始日期": "Contract starts",
    "合同结束日期": "Contract ends",
    "所在单位": "Person's unit",
    "联系电话": "Phone",
    "手机号": "Mobile",
    "角色": "Role",
    "单位数": "Units",
    "季度": "Quarter",
    "收款账户": "Paid to account",
    "银行退回原因": "Bank's reason",
    "表": "Sheet",
    "信息统计表": "Information table",
    "信息统计表文件": "Information table file",
    "单位名称或代码": "Unit name or code",
    # Values.
    "有": "Yes",
    "无": "No",
    "市": "City",
    "县（区）": "County",
    "乡镇（街道）": "Township",
    "市直": "City unit",
    "县直": "County unit",
    "乡镇": "Township unit",
    "委托经营": "Outsourced",
    "与所属区域一致": "Same as its region",
    "全市": "Whole city",
    "已撤销": "Retired",
    "机关事务局管理员": "Bureau administrator",
    "清算运营方": "Clearing operator",
    "财政": "Finance",
    "审计": "Auditor",
    "单位管理员": "Unit administrator",
    "食堂管理员": "Canteen manager",
    # Hints.
    "退款打入此账户": "refunds are paid here",
    "委托经营必填": "required when outsourced",
    "新人员填写": "for a new person",
    "单位管理员填写": "for a unit administrator",
    "食堂管理员填写": "for a canteen manager",
    "含已撤销": "Include retired",
    # Actions and outcomes.
    "新增单位": "Add a unit",
    "新增区域": "Add a region",
    "新增食堂": "Add a canteen",
    "撤销": "Retire",
    "授权": "Grant",
    "取消授权": "Revoke",
    "重新付款": "Pay again",
    "已重新发送结算付款": "The settlement payout was sent again",
    "该结算款不在付款失败状态，未重新发送": "That settlement is not a failed payout; nothing was sent",
    "已新建": "Created",
    "已保存": "Saved",
    "没有修改": "Nothing changed",
    "已授权": "Role granted",
    "已取消授权": "Role revoked",
    "；已重新发送失败的结算付款": "; settlement payouts re-sent:",
    "笔": "",
    "已导入": "Imported",
    "尚未写入。": "Nothing written yet.",
    "变更单位": "Units changed",
    "单位资料变更": "Unit records changed",
    "食堂资料变更": "Canteen records changed",
    "变更食堂": "Canteens changed",
    "上报数据变更": "Reported figures changed",
    "修改前 → 修改后": "Before → after",
    "确认导入？": "Import this file?",
    "确定撤销该区域？": "Retire this region?",
    "确定取消该授权？": "Revoke this role?",
    "撤销后不能再修改该单位，确定？": "A retired unit cannot be edited again. Retire it?",
    "撤销后不能再修改该食堂，确定？": "A retired canteen cannot be edited again. Retire it?",
    "目前不能撤销：": "It cannot be retired now:",
    # Sentences.
    "没有符合条件的单位": "No unit matches",
    "没有付款失败的结算款": "No payout was returned",
    "尚未指定管理员": "No administrator yet",
    "下载全市信息统计表（Excel 模板）": "Download the city's information table (Excel template)",
    "单位代码、名称、所属区域、级别和单位账户由机关事务局修改。": (
        "The unit's code, name, region, level and bank account are changed by the bureau."
    ),
    "食堂编码、所属单位和经营者结算账户由机关事务局修改。": (
        "The canteen's code, owner unit and the operator's settlement account are changed "
        "by the bureau."
    ),
    "修改经营者结算账户后，此前付款失败的结算款会立即按新账户重新发送。": (
        "When the operator's settlement account is corrected, settlement payouts the bank "
        "returned are sent again to the new account at once."
    ),
    "角色的授予和取消立即生效：此人的下一次操作即按新的角色判断。": (
        "Granting and revoking take effect at once: the person's next action is judged by "
        "the new roles."
    ),
    "单位角色只授予本单位人员；工号尚未登记的，填写姓名即新建该人员（之后的名册导入须包含此人）。": (
        "Unit roles go to the unit's own people; for a staff number not yet registered, a "
        "name creates the person (the unit's next roster import must list them)."
    ),
    "全市角色（机关事务局管理员、清算运营方、财政、审计）只能由机关事务局管理员授予；单位角色只授予该单位人员。工号尚未登记的，填写姓名和所在单位即新建该人员。": (
        "City roles (bureau administrator, clearing operator, finance, auditor) are granted "
        "by a bureau administrator only; unit roles go to that unit's people. For a staff "
        "number not yet registered, a name and unit create the person."
    ),
    "全市一个文件：第一张表每个单位一行（新单位须填写单位代码），第二张表「食堂」每个食堂一行。新的单位和食堂将被新建，其余按表中填写的内容更新。先预览，确认后才写入；有任何错误则不写入任何数据。": (
        "The whole city in one file: the first sheet has one row per unit (a new unit needs "
        "its code), the second sheet 「食堂」 one row per canteen. New units and canteens are "
        "created, the rest updated as filled in. Preview first; nothing is written until you "
        "confirm, and nothing at all if any row has an error."
    ),
}
