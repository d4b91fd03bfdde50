"""The UI's words, Chinese first. ``?lang=en`` (remembered in a cookie) switches to English."""

from __future__ import annotations

LANGUAGES = ("zh", "en")

WORDS: dict[str, dict[str, str]] = {
    "title": {"zh": "长护险对账工作台", "en": "LTC reconciliation"},
    "runs": {"zh": "对账批次", "en": "Runs"},
    "queue": {"zh": "差异工作队列", "en": "Work queue"},
    "login": {"zh": "登录", "en": "Sign in"},
    "logout": {"zh": "退出", "en": "Sign out"},
    "api_key": {"zh": "API 密钥", "en": "API key"},
    "login_hint": {
        "zh": "请输入对账员（reconciler）或医保局（bureau）的 API 密钥。",
        "en": "Enter a reconciler's or the bureau's API key.",
    },
    "bad_key": {"zh": "密钥无效或无权限。", "en": "The key is unknown or may not use this page."},
    "business_date": {"zh": "业务日期", "en": "Business date"},
    "status": {"zh": "状态", "en": "Status"},
    "phase": {"zh": "阶段", "en": "Phase"},
    "start_run": {"zh": "运行对账", "en": "Run reconciliation"},
    "recent_nights": {"zh": "近期各夜差异数", "en": "Mismatches over recent nights"},
    "level_1": {"zh": "总额一致（组）", "en": "Totals agreed (groups)"},
    "level_2": {"zh": "逐笔核对行数", "en": "Lines matched one by one"},
    "kind": {"zh": "差异类型", "en": "Kind"},
    "payer": {"zh": "支付方", "en": "Payer"},
    "claim": {"zh": "理赔", "en": "Claim"},
    "line": {"zh": "明细行", "en": "Line"},
    "expected": {"zh": "应结算", "en": "Expected"},
    "settled": {"zh": "已结算", "en": "Settled"},
    "difference": {"zh": "差额", "en": "Difference"},
    "age_days": {"zh": "天数", "en": "Age (days)"},
    "min_age_days": {"zh": "最少天数", "en": "Min. age (days)"},
    "min_amount": {"zh": "最小差额（分）", "en": "Min. difference (fen)"},
    "filter": {"zh": "筛选", "en": "Filter"},
    "all": {"zh": "全部", "en": "All"},
    "active": {"zh": "待处理", "en": "Active"},
    "export_csv": {"zh": "导出 CSV", "en": "Export CSV"},
    "export_xlsx": {"zh": "导出 Excel", "en": "Export XLSX"},
    "detail": {"zh": "差异详情", "en": "Mismatch"},
    "coordination": {"zh": "理赔协调结果", "en": "The claim's coordination"},
    "history": {"zh": "处理记录", "en": "History"},
    "resolve": {"zh": "处理", "en": "Resolve"},
    "action": {"zh": "处理方式", "en": "Action"},
    "note": {"zh": "说明（必填）", "en": "Note (required)"},
    "amount_fen": {"zh": "金额（分，可选）", "en": "Amount in fen (optional)"},
    "submit": {"zh": "提交", "en": "Submit"},
    "actor": {"zh": "操作人", "en": "By"},
    "when": {"zh": "时间", "en": "When"},
    "none": {"zh": "无", "en": "None"},
    "not_known": {"zh": "网关中没有这笔理赔。", "en": "The gateway does not know this claim."},
    "tier": {"zh": "层级", "en": "Tier"},
    "product": {"zh": "产品", "en": "Product"},
    "paid": {"zh": "支付", "en": "Paid"},
    "reasons": {"zh": "未付原因", "en": "Reasons"},
    "member": {"zh": "个人负担", "en": "Member pays"},
    "billed": {"zh": "费用", "en": "Billed"},
    "round": {"zh": "协调轮次", "en": "Round"},
    "count": {"zh": "条数", "en": "Items"},
    "language": {"zh": "English", "en": "中文"},
    "done": {"zh": "已完成", "en": "done"},
    "refused_title": {"zh": "请求被拒绝", "en": "Refused"},
    "refused": {
        "zh": "表单已过期，或并非来自本站页面，未做任何更改。请返回页面重新提交。",
        "en": "The form has expired or did not come from this site's pages; nothing was changed. "
        "Go back and submit it again.",
    },
    "back": {"zh": "返回", "en": "Back"},
    "reconcilers_only": {"zh": "只有对账员可以处理差异。", "en": "Only reconcilers resolve mismatches."},
}

KINDS: dict[str, dict[str, str]] = {
    "MATCHED": {"zh": "一致", "en": "Matched"},
    "AMOUNT_MISMATCH": {"zh": "金额不符", "en": "Amount mismatch"},
    "MISSING_AT_PAYER": {"zh": "支付方未结算", "en": "Missing at payer"},
    "UNKNOWN_AT_GATEWAY": {"zh": "网关未知", "en": "Unknown at gateway"},
    "DUPLICATE_SETTLEMENT": {"zh": "重复结算", "en": "Duplicate settlement"},
    "OVER_COORDINATED": {"zh": "超额支付", "en": "Over-coordinated"},
    "STALE_COORDINATION": {"zh": "按旧协调结算", "en": "Stale coordination"},
}

ACTIONS: dict[str, dict[str, str]] = {
    "accept_payer": {"zh": "采纳支付方金额并重新协调", "en": "Accept the payer's figure"},
    "request_correction": {"zh": "退回支付方更正", "en": "Request a correction"},
    "recover": {"zh": "追回", "en": "Recover"},
    "top_up": {"zh": "补付", "en": "Top up"},
    "write_off": {"zh": "核销", "en": "Write off"},
    "carry_forward": {"zh": "结转下期", "en": "Carry forward"},
    "approve": {"zh": "复核通过（双人）", "en": "Approve the resolution (four eyes)"},
    # what a run does to an item (its audit trail; not offered in the resolve form)
    "found": {"zh": "对账发现", "en": "Found by the run"},
    "reopened": {"zh": "对账重新打开", "en": "Reopened by the run"},
    "amounts_changed": {"zh": "对账发现金额变化", "en": "Amounts changed"},
    "cleared": {"zh": "对账自动消除", "en": "Cleared by the run"},
}

STATUSES: dict[str, dict[str, str]] = {
    "new": {"zh": "新", "en": "new"},
    "open": {"zh": "待处理", "en": "open"},
    "pending_approval": {"zh": "待复核", "en": "pending approval"},
    "awaiting_payer": {"zh": "待支付方更正", "en": "awaiting payer"},
    "carried": {"zh": "已结转", "en": "carried forward"},
    "resolved": {"zh": "已处理", "en": "resolved"},
    "cleared": {"zh": "已自动消除", "en": "cleared"},
    "running": {"zh": "运行中", "en": "running"},
    "received": {"zh": "已受理", "en": "received"},
    "coordinating": {"zh": "协调中", "en": "coordinating"},
    "coordinated": {"zh": "已协调", "en": "coordinated"},
    "done": {"zh": "已完成", "en": "done"},
    "failed": {"zh": "失败", "en": "failed"},
}


def translator(lang: str):  # type: ignore[no-untyped-def]
    def t(key: str, table: str = "words") -> str:
        source = {"words": WORDS, "kinds": KINDS, "actions": ACTIONS, "statuses": STATUSES}[table]
        entry = source.get(key)
        return entry[lang] if entry else key

    return t
