"""The simulation page's words, Chinese first (beside ``i18n``'s, which the page's frame uses)."""

from __future__ import annotations

from collections.abc import Callable

from reconciliation.ui.i18n import translator

WORDS: dict[str, dict[str, str]] = {
    "simulations": {"zh": "政策测算", "en": "Policy simulation"},
    "new": {"zh": "新建测算", "en": "New simulation"},
    "hint": {
        "zh": "用真实理赔数据（或生成的模拟城市）按草案规则重算，与实际支付对比。留空表示不改动。",
        "en": "Replay real claims (or a generated city's) under draft rules, beside what was paid. "
        "Leave a field empty to keep it as it is.",
    },
    "period_from": {"zh": "起始月份", "en": "From month"},
    "period_to": {"zh": "截止月份", "en": "To month"},
    "generated_members": {"zh": "模拟城市人数（可选）", "en": "Generated city, members (optional)"},
    "product_code": {"zh": "草案产品", "en": "Draft of product"},
    "benefit": {"zh": "护理方式", "en": "Care setting"},
    "ratio_percent": {"zh": "报销比例（%）", "en": "Ratio (%)"},
    "min_grade": {"zh": "起付失能等级", "en": "Lowest grade covered"},
    "monthly_limit_yuan": {"zh": "月限额（元）", "en": "Monthly limit (yuan)"},
    "contribution_yuan": {"zh": "人均筹资（元/年）", "en": "Funding per person (yuan a year)"},
    "enrolled_members": {"zh": "参保人数", "en": "Enrolled members"},
    "fund_balance_yuan": {"zh": "基金结余（元）", "en": "Fund balance (yuan)"},
    "start": {"zh": "开始测算", "en": "Start"},
    "recent": {"zh": "近期测算", "en": "Recent simulations"},
    "status": {"zh": "状态", "en": "Status"},
    "period": {"zh": "期间", "en": "Period"},
    "queued": {"zh": "排队中", "en": "queued"},
    "running": {"zh": "运行中", "en": "running"},
    "generating": {"zh": "生成模拟城市", "en": "generating the city"},
    "replaying": {"zh": "重算理赔", "en": "replaying claims"},
    "done": {"zh": "已完成", "en": "done"},
    "failed": {"zh": "失败", "en": "failed"},
    "progress": {"zh": "进度", "en": "Progress"},
    "members_word": {"zh": "人", "en": "members"},
    "refreshing": {"zh": "页面每 2 秒自动刷新。", "en": "This page refreshes every 2 seconds."},
    "summary": {"zh": "概况", "en": "Summary"},
    "claims": {"zh": "理赔", "en": "claims"},
    "drafts": {"zh": "草案", "en": "Drafts"},
    "none": {"zh": "无（现行规则）", "en": "none (the rules in force)"},
    "actual": {"zh": "实际", "en": "Actual"},
    "simulated": {"zh": "测算", "en": "Simulated"},
    "change": {"zh": "变化", "en": "Change"},
    "tier1_by_month": {
        "zh": "长护险基金（第一层）按月支付（元）",
        "en": "Tier 1 (the fund) paid by month (yuan)",
    },
    "member_by_month": {"zh": "个人负担按月（元）", "en": "Members pay, by month (yuan)"},
    "by_tier": {"zh": "各层支付（元）", "en": "Paid by tier (yuan)"},
    "tier": {"zh": "层级", "en": "Tier"},
    "tier 0": {"zh": "其他", "en": "Other"},
    "tier 1": {"zh": "第一层 长护险", "en": "Tier 1 (LTCI)"},
    "tier 2": {"zh": "第二层 惠民保", "en": "Tier 2"},
    "tier 3": {"zh": "第三层 商业保险", "en": "Tier 3"},
    "members_paid": {"zh": "获付人数", "en": "Members paid"},
    "member_pays": {"zh": "个人负担（元）", "en": "Members pay (yuan)"},
    "total_fen": {"zh": "合计", "en": "in all"},
    "per_member_fen": {"zh": "人均", "en": "per member"},
    "p50_fen": {"zh": "中位数", "en": "median"},
    "p90_fen": {"zh": "90 分位", "en": "90th percentile"},
    "p99_fen": {"zh": "99 分位", "en": "99th percentile"},
    "funding": {"zh": "基金收支", "en": "Funding"},
    "contributions": {"zh": "期间筹资", "en": "Contributions in the period"},
    "spending": {"zh": "第一层支出", "en": "Tier-1 spending"},
    "balance_after": {"zh": "期末结余", "en": "Balance after"},
    "months_left": {"zh": "可支付月数", "en": "Months of payment left"},
    "not_exhausted": {"zh": "不会用尽", "en": "not exhausted"},
    "gainers": {"zh": "负担减少最多的参保人（已脱敏）", "en": "Members who pay most less (masked)"},
    "losers": {"zh": "负担增加最多的参保人（已脱敏）", "en": "Members who pay most more (masked)"},
    "member": {"zh": "参保人", "en": "Member"},
    "gap": {"zh": "第三层保障缺口（匿名汇总）", "en": "Coverage gap after tiers 1–2 (anonymised)"},
    "gap_cells": {"zh": "公开单元格", "en": "cells published"},
    "download": {"zh": "下载 Excel", "en": "Download XLSX"},
    "bureau_only": {"zh": "只有医保局可以使用政策测算。", "en": "Only the bureau runs policy simulations."},
    "not_found": {"zh": "没有这项测算。", "en": "No such simulation."},
    "back": {"zh": "返回测算列表", "en": "Back to simulations"},
}


def words(lang: str) -> Callable[[str], str]:
    frame = translator(lang)

    def s(key: str) -> str:
        entry = WORDS.get(key)
        return entry[lang] if entry else frame(key)

    return s
