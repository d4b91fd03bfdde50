"""The clearing lifecycle of settlement batches over the API and the CLI, on both databases:
申报 → 初审 → 复核 (another person) → 拨付 (with the reference) → 清算; roles (403), states (409),
frozen after 复核 (a later adjustment lands in the next batch), the audit trail, the files."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select

import schemas
from gateway.services.keys import Role
from gateway.services.staff import issue_key
from gateway.storage.tables import AuditEntryRow, SettlementItemRow
from ltc_gateway.cli import main
from tests.integration.world import World
from tests.people import person

PATH = "/v1/reconciliation/settlement-batches"
RESPONSES = Path(schemas.__file__).parent / "responses"
NOVEMBER = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 2026-11-20 10:00 in Beijing
# 2026-11-30 23:30 UTC is already 2026-12-01 in Beijing: the adjustment belongs to December
DECEMBER = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)


def adjustment(world: World, claim_id: str, amount_fen: int, at: datetime, line_no: int = 1) -> None:
    """A net adjustment as re-coordination or a reconciler's top-up writes one (recording.py, queue.py)."""
    with world.gateway.sessions.begin() as session:
        session.add(
            SettlementItemRow(
                payer_code="huiminbao",
                claim_id=uuid.UUID(claim_id),
                line_no=line_no,
                amount_fen=amount_fen,
                source=f"adjustment:{amount_fen}",
                created_at=at,
            )
        )


def conforms(answer: Any, name: str) -> None:
    """The answer is what the contract declares (schemas/responses/<name>.schema.json)."""
    schema = json.loads((RESPONSES / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator(schema).validate(answer)


def step(world: World, batch_id: int, key: str, action: str, **extra: Any) -> Any:
    return world.post(f"{PATH}/{batch_id}/transitions", {"action": action, **extra}, key)


@pytest.fixture
def claim_id(world: World) -> str:
    world.setup()
    response = world.submit()
    assert response.status_code == 202, response.text
    return str(response.json()["claim_id"])


def test_a_batch_goes_from_declared_to_cleared_with_four_eyes_and_is_frozen_after_second_review(
    world: World, claim_id: str
) -> None:
    world.gateway.settings = dataclasses.replace(world.gateway.settings, settlement_approval_fen=10_000)
    zhang, li = world.staff_key("zhang"), world.staff_key("li")
    with world.gateway.sessions.begin() as session:  # zhang's second key is still zhang
        zhang_again = issue_key(session, "zhang", Role.RECONCILER, "test", "laptop")[1]
    adjustment(world, claim_id, 15_000, NOVEMBER)
    adjustment(world, claim_id, -1_000, NOVEMBER, line_no=2)
    adjustment(world, claim_id, 700, DECEMBER)  # a later period: not in November's batch

    bad = world.post(PATH, {"payer_code": "huiminbao", "period": "2026-13"}, zhang)
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/period"
    assert world.post(PATH, {"payer_code": "huiminbao", "period": "2026-11"}, world.bureau).status_code == 403
    once = {"Authorization": f"Bearer {zhang}", "Idempotency-Key": "declare-huiminbao-2026-11"}
    declared = world.client.post(PATH, json={"payer_code": "huiminbao", "period": "2026-11"}, headers=once)
    assert declared.status_code == 201, declared.text
    batch = declared.json()
    assert (batch["status"], batch["item_count"], batch["net_fen"]) == ("declared", 2, 14_000)
    again = world.client.post(PATH, json={"payer_code": "huiminbao", "period": "2026-11"}, headers=once)
    assert again.json() == batch and again.headers["idempotency-replayed"] == "true"
    number = batch["batch_id"]

    adjustment(world, claim_id, 500, NOVEMBER)  # arrives while declared: taken in at 初审
    assert step(world, number, world.bureau, "first_review").status_code == 403  # reconcilers review
    unnamed = step(world, number, world.key(Role.RECONCILER, "zhang"), "first_review")
    assert unnamed.status_code == 403 and "named person" in unnamed.json()["detail"]  # a key of no one
    reviewed = step(world, number, zhang, "first_review", note="checked against the statements")
    assert reviewed.status_code == 200, reviewed.text
    assert (reviewed.json()["item_count"], reviewed.json()["net_fen"]) == (3, 14_500)

    same = step(world, number, zhang_again, "second_review")
    assert same.status_code == 403 and "four eyes" in same.json()["detail"]
    assert same.headers["content-type"].startswith("application/problem+json")
    approved = step(world, number, li, "second_review")
    assert approved.status_code == 200 and approved.json()["frozen"] is True

    adjustment(world, claim_id, 300, NOVEMBER)  # arrives while in 复核: waits for the next batch
    early = step(world, number, world.bureau, "clear")
    assert early.status_code == 409 and "second_reviewed" in early.json()["detail"]
    assert step(world, number, li, "disburse", payment_reference="R").status_code == 403  # the bureau pays
    missing = step(world, number, world.bureau, "disburse")
    assert missing.status_code == 422 and missing.json()["errors"][0]["pointer"] == "/payment_reference"
    paid = step(world, number, world.bureau, "disburse", payment_reference="ICBC-20261205-0042")
    assert paid.status_code == 200 and paid.json()["payment_reference"] == "ICBC-20261205-0042"
    cleared = step(world, number, zhang, "clear")
    assert cleared.status_code == 200 and cleared.json()["status"] == "cleared"
    assert step(world, number, zhang, "first_review").status_code == 409
    final = world.get(f"{PATH}/{number}", zhang).json()
    assert (final["item_count"], final["net_fen"]) == (3, 14_500)  # nothing added after 复核
    conforms(final, "settlement-batch")
    assert [(h["action"], h["person"], h["before"], h["after"]) for h in final["history"]] == [
        ("declare", "person:zhang", None, "declared"),
        ("first_review", "person:zhang", "declared", "first_reviewed"),
        ("second_review", "person:li", "first_reviewed", "second_reviewed"),
        ("disburse", "bureau", "second_reviewed", "disbursed"),
        ("clear", "person:zhang", "disbursed", "cleared"),
    ]

    with world.gateway.sessions.begin() as session:
        entries = session.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.subject == f"settlement_batch:{number}")
            .order_by(AuditEntryRow.id)
        ).all()
        audited = [(e.action, e.actor.split("/")[0], e.detail["before"], e.detail["after"]) for e in entries]
        assert audited[3] == ("settlement_batch.disburse", "bureau:bureau", "second_reviewed", "disbursed")
        assert entries[3].detail["payment_reference"] == "ICBC-20261205-0042"
        assert [a[0] for a in audited] == [f"settlement_batch.{h['action']}" for h in final["history"]]

    # the next batch takes what waited: November's late adjustment and December's
    following = world.post(PATH, {"payer_code": "huiminbao", "period": "2026-12"}, li)
    assert following.status_code == 201, following.text
    assert sorted(i["amount_fen"] for i in following.json()["items"]) == [300, 700]
    assert (
        world.post(PATH, {"payer_code": "huiminbao", "period": "2026-12"}, li).status_code == 409
    )  # none left

    listed = world.get(f"{PATH}?status=cleared&payer=huiminbao", world.bureau).json()
    assert [b["batch_id"] for b in listed["batches"]] == [number] and listed["total"] == 1
    conforms(listed, "settlement-batches")
    assert world.get(f"{PATH}?limit=0", zhang).json()["errors"][0]["pointer"] == "/limit"
    own = world.get(PATH, world.payer("huiminbao")).json()
    assert own["total"] == 2
    assert world.get(f"{PATH}/{number}", world.payer("acme-life")).status_code == 404  # not its own
    assert world.get(f"{PATH}?payer=huiminbao", world.payer("acme-life")).status_code == 403

    exported = world.get(f"{PATH}/{number}.xlsx", zhang)
    assert exported.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(exported.content))["结算批次"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("理赔号", "理赔ID", "明细行", "护理机构", "业务日期", "金额（元）", "来源")
    assert (
        rows[1][5] == 150.0
        and isinstance(rows[1][4], datetime)
        and rows[1][4].date().isoformat() == "2026-11-20"
    )
    assert sheet.cell(2, 6).number_format == "#,##0.00"
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:G4"
    assert rows[-1][0] == "合计" and str(rows[-1][5]).startswith("=SUBTOTAL(109,F2:F4")
    payment = world.get(f"{PATH}/{number}/payment-file.xlsx", zhang)
    payees = list(openpyxl.load_workbook(io.BytesIO(payment.content)).active.iter_rows(values_only=True))
    provider = world.scenario["provider"]["provider_code"]
    assert payees[1] == ("护理机构", provider, 3, 145.0, "huiminbao", "2026-11", "ICBC-20261205-0042")
    text = world.get(f"{PATH}/{number}/payment-file.csv", zhang)
    assert text.headers["content-type"].startswith("text/csv")
    parsed = list(csv.reader(io.StringIO(text.content.decode("utf-8-sig"))))
    assert parsed[1] == ["护理机构", provider, "3", "145.00", "huiminbao", "2026-11", "ICBC-20261205-0042"]
    items_csv = list(
        csv.reader(io.StringIO(world.get(f"{PATH}/{number}.csv", zhang).content.decode("utf-8-sig")))
    )
    assert [r[5] for r in items_csv[1:]] == ["150.00", "-10.00", "5.00"]


def test_the_command_line_walks_a_batch_and_says_one_line_on_errors(
    world: World,
    claim_id: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    monkeypatch.setenv("LTC_DATABASE_URL", world.gateway.settings.database_url)
    adjustment(world, claim_id, 2_000, NOVEMBER)

    li = world.staff_key("li")  # a key of li's own
    zhang, password = person(world.gateway, "zhang", "reconciler", "approver")  # signs in by name

    def run(who: str | None, *args: str, typed: str = password) -> tuple[int, str, str]:
        monkeypatch.delenv("LTC_STAFF_KEY", raising=False)
        user: list[str] = []
        if who == "zhang":
            user = ["--user", zhang]
            monkeypatch.setattr("sys.stdin", io.StringIO(typed + "\n"))
        elif who == "li":
            monkeypatch.setenv("LTC_STAFF_KEY", li)
        elif who is not None:
            role = Role.BUREAU if who == "bureau" else Role.RECONCILER
            monkeypatch.setenv("LTC_STAFF_KEY", world.key(role, who))
        code = main(["settlement", *user, *args])
        out, err = capsys.readouterr()
        return code, out, "".join(line for line in err.splitlines(True) if " WARNING " not in line)

    code, out, err = run(None, "list")
    assert code == 2 and err.count("\n") == 1 and "LTC_STAFF_KEY" in err and "--user" in err
    code, _, err = run("zhang", "list", typed="not zhang's password")
    assert code != 0 and "wrong username or password" in err and err.count("\n") == 1
    code, out, _ = run("zhang", "declare", "huiminbao", "2026-11")
    assert code == 0 and "申报" in out and "20.00" in out
    number = out.split()[0]
    code, _, err = run("team", "review", number)  # a key issued to no one: not a person
    assert code == 2 and "named person" in err
    assert run("zhang", "review", number)[0] == 0
    code, _, err = run("zhang", "approve", number)
    assert code == 2 and err.startswith("error: four eyes") and err.count("\n") == 1
    assert run("li", "approve", number)[0] == 0
    code, _, err = run("bureau", "clear", number)
    assert code == 2 and "second_reviewed" in err and "Traceback" not in err
    code, out, _ = run("bureau", "disburse", number, "--reference", "CCB-1")
    assert code == 0 and "拨付" in out and "CCB-1" in out
    assert run("zhang", "clear", number)[0] == 0
    code, out, _ = run("zhang", "list", "--status", "cleared")
    assert code == 0 and out.splitlines()[0] == "1 batches" and "清算" in out
    target = tmp_path / "payment.xlsx"
    assert run("zhang", "export", number, "--payment", "--out", str(target))[0] == 0
    assert openpyxl.load_workbook(target).active.cell(2, 4).value == 20.0
    code, _, err = run("zhang", "show", "x")
    assert code == 2 and "no settlement batch x" in err
