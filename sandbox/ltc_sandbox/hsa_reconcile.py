"""The hsa sandbox's side of reconciliation: totals (like 3201) over what its payer settled, and
detail (like 3202) over an uploaded file (like 9101), answered as a result file to download
(like 9102). A line belongs to a clearing category by its care setting (``all``: every line) and
to a period by its claim's service month, as the gateway groups them (docs/reconciliation.md)."""

from __future__ import annotations

import secrets
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from adapters.hsa.reconcile import read_file, write_file
from adapters.sdk import MalformedAnswer
from ltc_sandbox.payer import SandboxPayer

MAX_FILES = 1000  # files kept (uploaded and answered); the oldest go first


@dataclass
class HsaReconciliation:
    payer: SandboxPayer
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # file_qury_no → (filename, content)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _in_group(self, data: dict[str, Any]) -> dict[tuple[str, int], list[dict[str, Any]]]:
        """The settlements of the asked category and period up to the business date, per line."""
        category, month = str(data["clr_type"]), str(data["stmt_begndate"])[:7]
        through = date.fromisoformat(str(data["business_date"]))
        found: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        for entry in self.payer.settled_through(through):
            key = (str(entry["claim_id"]), int(entry["line_no"]))
            setting, period, _ = self.payer.lines.get(key, ("unknown", "unknown", 0))
            if period == month and category in ("all", setting):
                found[key].append(entry)
        return found

    def totals(self, data: dict[str, Any]) -> dict[str, Any]:
        lines = {k: sum(int(e["paid_fen"]) for e in v) for k, v in self._in_group(data).items()}
        paid = {k: v for k, v in lines.items() if v}
        mine = {
            "fixmedins_setl_cnt": len(paid),
            "fund_pay_sumamt": sum(paid.values()),
            "medfee_sumamt": sum(self.payer.lines[k][2] for k in paid),
        }
        agrees = mine["fixmedins_setl_cnt"] == data["fixmedins_setl_cnt"] and (
            mine["fund_pay_sumamt"] == data["fund_pay_sumamt"]
        )
        return {**mine, "stmt_rslt": "0" if agrees else "1", "stmt_rslt_dscr": "一致" if agrees else "不一致"}

    def upload(self, data: dict[str, Any]) -> dict[str, Any] | str:
        try:
            read_file(data["in"], 3)  # refused now if it is not a detail file
        except MalformedAnswer as error:
            return f"not a detail file: {error}"
        return {
            "file_qury_no": self._keep(str(data["filename"]), str(data["in"])),
            "filename": data["filename"],
        }

    def detail(self, data: dict[str, Any]) -> dict[str, Any] | str:
        """The result file's number, or why not (the transaction is refused)."""
        with self._lock:
            kept = self.files.get(str(data["file_qury_no"]))
        if kept is None:
            return f"no uploaded file {data['file_qury_no']}"
        ours = {(c, int(n)): int(fen) for c, n, fen in read_file(kept[1], 3)}
        mine = self._in_group(data)
        rows = []
        for key, entries in sorted(mine.items()):
            result = (
                "2"
                if key not in ours
                else "0"
                if sum(int(e["paid_fen"]) for e in entries) == ours[key]
                else "1"
            )
            for e in entries:
                rows.append((*key, e["paid_fen"], e["payer_reference"], e["settled_on"], result))
        rows += [(*key, 0, "", "", "3") for key in sorted(set(ours) - set(mine))]
        name = f"result-{kept[0]}"
        return {"file_qury_no": self._keep(name, write_file(rows)), "filename": name}

    def download(self, data: dict[str, Any]) -> dict[str, Any] | str:
        with self._lock:
            kept = self.files.get(str(data["file_qury_no"]))
        if kept is None:
            return f"no file {data['file_qury_no']}"
        return {"filename": kept[0], "out": kept[1]}

    def _keep(self, name: str, content: str) -> str:
        number = secrets.token_hex(10)
        with self._lock:
            while len(self.files) >= MAX_FILES:
                self.files.pop(next(iter(self.files)))
            self.files[number] = (name, content)
        return number
