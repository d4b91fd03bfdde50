"""The minimal baseline of one claim's fan-out (issue 20): the essential work of a claim and nothing
else, so that the gateway's worker + PostgreSQL CPU a claim can be read against the physical limit
of the machine of the day, measured in the same run.

One process (``python -m bench.minimal_claim URL IN_FLIGHT``) keeps ``IN_FLIGHT`` claims going:

* the due claims leased in one statement (``FOR UPDATE SKIP LOCKED``), their facts (claim, lines,
  assessment, provider, member as the assessment recorded them, steps with their payers, limit
  usage) read in **one query**, kept in memory between moves;
* each step's share computed once by the project's pure coordination (``coordinate_payer``,
  ``fixed_benefits``), its request built as the gateway builds it (``adapters.sdk.ShareRequest``);
* the request **stored before it is sent**, personal fields sealed as the gateway seals them, and
  the assessment notice stored once per payer before it is sent;
* the same payer calls to the same sandbox payers through the project's adapters on their lean
  clients (aiohttp for REST, the lxml plan for SOAP);
* every write of every claim in flight (stored requests, answers, line payments, ledger, fixed
  benefits, notices, the claim's end) in **one group commit** per round of the committer.

What it leaves out, and the gateway does: checking a payer's decision against the proposal, audit
rows, flags, webhooks, retries and dead letters, revisions, repeats across earlier claims (the
benchmark's members have one claim each). Plain psycopg (async), no ORM.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from psycopg.types.json import Json
from sqlalchemy.engine import make_url

from adapters.registry import AdapterPool
from adapters.sdk import AssessmentNotice, Decision, ShareLine, ShareRequest, to_wire
from gateway.coordination import CaseFacts, coordinate_payer, fixed_benefits
from gateway.domain.assessments import AssessmentFacts
from gateway.domain.beijing_time import beijing_date
from gateway.domain.claims import ClaimLine
from gateway.domain.coverage import Coverage
from gateway.domain.products import Product, ProductKind
from gateway.domain.providers import Designation
from gateway.storage.claim_lines import wire_line
from gateway.storage.personal import decrypt, seal_fields

ACTIVE = ("received", "coordinating")

LEASE = """
UPDATE claims SET lease_owner = %(owner)s, lease_expires_at = now() + interval '60 seconds'
WHERE claim_id IN (
  SELECT claim_id FROM claims
  WHERE status = ANY(%(active)s) AND next_attempt_at <= now()
    AND (lease_expires_at IS NULL OR lease_expires_at < now())
  ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING claim_id"""

# everything a claim's fan-out reads, for a batch of claims, in one statement
FACTS = """
SELECT c.claim_id, c.claim_number, c.round, c.member_id, c.period_start, c.period_end, c.billed_fen,
  c.created_at, a.assessment_id, a.agency_code, a.grade, a.concluded_on, a.disabled_since,
  a.effective_from, a.valid_until, a.adl_level, a.cognition_level, a.perception_level, a.scores,
  p.provider_code, p.district, p.designated, p.designated_from, p.designated_to,
  m.id_number_enc, coalesce(v.name_enc, m.name_enc), coalesce(v.district, m.district),
  coalesce(v.lat, m.lat), coalesce(v.lon, m.lon),
  (SELECT json_agg(json_build_object('line_no', l.line_no, 'service_code', l.service_code,
      'setting', l.setting, 'method', l.method, 'service_date', l.service_date,
      'service_end_date', l.service_end_date, 'quantity', l.quantity,
      'unit_price_fen', l.unit_price_fen, 'billed_fen', l.billed_fen, 'exclusion', l.exclusion,
      'visit', l.visit) ORDER BY l.line_no)
   FROM claim_lines l WHERE l.claim_id = c.claim_id),
  (SELECT json_agg(json_build_object('step_id', s.step_id, 'seq', s.seq, 'payer_code', s.payer_code,
      'party', coalesce(s.administrator_code, s.payer_code), 'product_code', s.product_code,
      'product_version', s.product_version, 'kind', s.kind, 'adjudication', s.adjudication,
      'coverage_start', s.coverage_start, 'coverage_end', s.coverage_end,
      'idempotency_key', s.idempotency_key, 'adapter', y.adapter) ORDER BY s.seq)
   FROM payer_steps s LEFT JOIN payers y ON y.payer_code = coalesce(s.administrator_code, s.payer_code)
   WHERE s.claim_id = c.claim_id AND s.round = c.round AND s.status <> 'replaced'),
  (SELECT json_agg(json_build_object('product_code', u.product_code, 'month', u.period_month,
      'year', u.period_year, 'paid', u.paid))
   FROM (SELECT product_code, period_month, period_year, sum(paid_fen) AS paid FROM line_payments
         WHERE member_id = c.member_id AND current AND claim_id <> c.claim_id
         GROUP BY product_code, period_month, period_year) u)
FROM claims c
JOIN assessments a ON a.assessment_id = c.assessment_id
JOIN providers p ON p.provider_code = c.provider_code
JOIN members m ON m.member_id = c.member_id
LEFT JOIN member_versions v ON v.member_id = a.member_id AND v.version = a.member_version
WHERE c.claim_id = ANY(%(ids)s)"""

STORE_REQUEST = """UPDATE payer_steps SET request = %s, status = 'submitted', attempts = attempts + 1,
  updated_at = now() WHERE step_id = %s"""
START = """UPDATE claims SET status = 'coordinating', updated_at = now(), coordination_seq =
  coalesce((SELECT max(coordination_seq) FROM claims WHERE member_id = %s), 0) + 1
  WHERE claim_id = %s AND coordination_seq IS NULL"""
STORE_NOTICE = """INSERT INTO outbox (kind, payer_code, idempotency_key, payload, status, attempts,
  next_attempt_at, created_at) VALUES ('assessment', %s, %s, %s, 'waiting', 1, now(), now())
  ON CONFLICT (idempotency_key) DO NOTHING"""
NOTICE_SENT = "UPDATE outbox SET status = 'sent', sent_at = now() WHERE idempotency_key = %s"
ANSWER = """UPDATE payer_steps SET response = %s, payer_reference = %s, status = 'decided',
  decided_at = now(), updated_at = now() WHERE step_id = %s"""
PAYMENT = """INSERT INTO line_payments (claim_id, round, seq, line_no, member_id, payer_code,
  product_code, period_month, period_year, billed_fen, remaining_fen, standalone_fen, paid_fen,
  reasons, current, provisional, created_at)
  VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true, false, now())"""
LEDGER = """INSERT INTO ledger_entries (payer_code, claim_id, line_no, product_code, month, kind,
  amount_fen, round, business_date, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now())"""
FIXED = """INSERT INTO fixed_benefits (claim_id, member_id, payer_code, product_code, month, amount_fen,
  payee, provisional, created_at) VALUES (%s, %s, %s, %s, %s, %s, 'member', false, now())"""
FINISH = """UPDATE claims SET status = 'coordinated', member_responsibility_fen = %s,
  coordinated_at = now(), updated_at = now(), lease_owner = NULL, lease_expires_at = NULL,
  next_attempt_at = NULL WHERE claim_id = %s AND lease_owner = %s"""

Writes = list[tuple[str, list[tuple[Any, ...]]]]
RETRIES = 5


class GroupCommit:
    """Every write handed in while a commit runs goes into the next one: one transaction (and one
    WAL flush) for all the claims in flight, however many moves they made meanwhile."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self.connection = connection
        self.pending: list[tuple[Writes, asyncio.Future[None]]] = []
        self.wake = asyncio.Event()
        self.commits = 0
        self.retries = 0

    async def write(self, writes: Writes) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((writes, done))
        self.wake.set()
        await done

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            batch, self.pending = self.pending, []
            by_statement: dict[str, list[tuple[Any, ...]]] = {}
            for writes, _ in batch:
                for statement, rows in writes:
                    by_statement.setdefault(statement, []).extend(rows)
            try:
                await self._commit(by_statement)
            except Exception as error:
                for _, done in batch:
                    done.set_exception(error)
                continue
            for _, done in batch:
                done.set_result(None)

    async def _commit(self, by_statement: dict[str, list[tuple[Any, ...]]]) -> None:
        """One transaction; again, as the gateway's workers do, when PostgreSQL picked it to end a
        deadlock (two group commits raising the same monthly figure rows in other orders, through
        the figures' triggers; since migration 0037 only when their backends' pids collide mod 64)
        or a serialization failure: it wrote nothing."""
        for attempt in range(RETRIES + 1):
            try:
                async with self.connection.transaction(), self.connection.cursor() as cursor:
                    for statement, rows in by_statement.items():
                        await cursor.executemany(statement, rows)
                self.commits += 1
                return
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt == RETRIES:
                    raise
                self.retries += 1


class Baseline:
    def __init__(self, url: str, in_flight: int) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.in_flight = in_flight
        self.owner = f"baseline:{uuid.uuid4().hex[:8]}"
        self.pool = AdapterPool()
        self.products: dict[tuple[str, int], Product] = {}
        self.notified: set[str] = set()

    async def run(self) -> None:
        reader = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        writer = await psycopg.AsyncConnection.connect(self.dsn)
        committer = GroupCommit(writer)
        commits = asyncio.create_task(committer.run())
        async with reader.cursor() as cursor:
            await cursor.execute("SELECT product_code, version, definition FROM product_versions")
            for code, version, definition in await cursor.fetchall():
                self.products[(code, version)] = Product.model_validate(definition)
        claims: set[asyncio.Task[None]] = set()
        try:
            while True:  # until stopped (the benchmark terminates it)
                free = self.in_flight - len(claims)
                if free:
                    for facts in await self._lease(reader, free):
                        claims.add(asyncio.create_task(self._claim(committer, facts)))
                if not claims:
                    await asyncio.sleep(0.05)
                    continue
                done, _ = await asyncio.wait(claims, timeout=0.05, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
                claims.difference_update(done)
        finally:
            commits.cancel()
            await self.pool.aclose()
            await reader.close()
            await writer.close()

    async def _lease(self, reader: psycopg.AsyncConnection[Any], limit: int) -> list[tuple[Any, ...]]:
        async with reader.transaction(), reader.cursor() as cursor:
            await cursor.execute(LEASE, {"owner": self.owner, "active": list(ACTIVE), "limit": limit})
            ids = [row[0] for row in await cursor.fetchall()]
            if not ids:
                return []
            await cursor.execute(FACTS, {"ids": ids})
            return await cursor.fetchall()

    async def _claim(self, committer: GroupCommit, facts: tuple[Any, ...]) -> None:
        (claim_id, claim_number, round_, member_id, period_start, period_end, billed, created_at,
         assessment_id, agency, grade, concluded_on, disabled_since, effective_from, valid_until,
         adl, cognition, perception, scores, provider_code, district, designated, designated_from,
         designated_to, id_enc, name_enc, member_district, lat, lon, lines_json, steps, usage_rows,
         ) = facts  # fmt: skip
        lines = tuple(ClaimLine.model_validate(line) for line in lines_json)
        id_number, name = decrypt(id_enc), decrypt(name_enc) if name_enc else None
        case = CaseFacts(
            lines=lines,
            period_start=period_start,
            period_end=period_end,
            assessment=AssessmentFacts(grade, concluded_on, disabled_since),
            designation=Designation(designated, designated_from, designated_to),
            member_position=(lat, lon) if lat is not None and lon is not None else None,
            accepted_on=beijing_date(created_at),
        )
        provider = {
            "provider_code": provider_code,
            "district": district,
            "designated": designated,
            "designated_from": designated_from.isoformat() if designated_from else None,
            "designated_to": designated_to.isoformat() if designated_to else None,
        }
        member = {"id_number": id_number, "name": name, "district": member_district, "lat": lat, "lon": lon}
        assessment = {
            "assessment_id": str(assessment_id),
            "grade": grade,
            "concluded_on": concluded_on.isoformat(),
            "disabled_since": disabled_since.isoformat(),
            "effective_from": effective_from.isoformat(),
        }
        today = beijing_date(datetime.now(UTC))
        prior: dict[int, int] = {}
        payers: list[dict[str, object]] = []
        writes: Writes = [(START, [(member_id, claim_id)])]
        for step in steps:
            product = self.products[(step["product_code"], step["product_version"])]
            coverage = Coverage(
                product,
                date.fromisoformat(step["coverage_start"]),
                date.fromisoformat(step["coverage_end"]) if step["coverage_end"] else None,
            )
            party, fixed = step["party"], product.kind == ProductKind.FIXED_BENEFIT
            proposing = step["adjudication"] == "gateway"
            request = ShareRequest(
                idempotency_key=step["idempotency_key"],
                claim_id=str(claim_id),
                claim_number=claim_number,
                round=round_,
                seq=step["seq"],
                payer_code=step["payer_code"],
                product_code=step["product_code"],
                product_version=step["product_version"],
                adjudication="gateway" if proposing else "payer",
                kind="fixed_benefit" if fixed else "indemnity",
                provider=provider,
                member=member,
                coverage={"start_date": step["coverage_start"], "end_date": step["coverage_end"]},
                assessment=assessment,
                period={"start": period_start.isoformat(), "end": period_end.isoformat()},
                prior_payers=tuple(payers),
                **self._share(coverage, case, prior, usage_rows, fixed, proposing, step["product_code"]),
            )
            wire = to_wire(request)
            writes.append((STORE_REQUEST, [(Json(seal_fields(wire)), step["step_id"])]))
            notice = None
            if party not in self.notified:
                notice = AssessmentNotice(
                    idempotency_key=f"assessment:{assessment_id}:{party}",
                    assessment_id=str(assessment_id),
                    member={"id_number": id_number, "name": name, "district": member_district},
                    agency_code=agency,
                    concluded_on=concluded_on.isoformat(),
                    disabled_since=disabled_since.isoformat(),
                    grade=grade,
                    levels={"adl": adl, "cognition": cognition, "perception": perception},
                    scores={k: dict(v) for k, v in scores.items()},
                    effective_from=effective_from.isoformat(),
                    valid_until=valid_until.isoformat(),
                )
                notice_wire = Json(seal_fields(to_wire(notice)))
                writes.append((STORE_NOTICE, [(party, notice.idempotency_key, notice_wire)]))
            await committer.write(writes)  # stored before it is sent
            adapter = self.pool.get(party, step["adapter"])
            decision: Decision
            if notice is not None:  # sent beside the share, as the gateway's outbox sends it
                self.notified.add(party)
                _, decision = await asyncio.gather(
                    adapter.deliver_assessment(notice), adapter.submit_share(request)
                )
            else:
                decision = await adapter.submit_share(request)
            writes = [(ANSWER, [(Json(decision.to_wire()), decision.payer_reference, step["step_id"])])]
            if notice is not None:
                writes.append((NOTICE_SENT, [(notice.idempotency_key,)]))
            if fixed:
                writes.append(
                    (
                        FIXED,
                        [
                            (
                                claim_id,
                                member_id,
                                step["payer_code"],
                                step["product_code"],
                                f["month"],
                                f["amount_fen"],
                            )
                            for f in decision.fixed
                        ],
                    )
                )
                writes.append(
                    (
                        LEDGER,
                        [
                            (
                                party,
                                claim_id,
                                0,
                                step["product_code"],
                                f["month"],
                                "fixed_benefit",
                                f["amount_fen"],
                                round_,
                                today,
                            )
                            for f in decision.fixed
                        ],
                    )
                )
                continue
            by_no = {line.line_no: line for line in lines}
            paid_total = 0
            payments, ledger = [], []
            for answer in decision.lines:
                line = by_no[answer.line_no]
                remaining = max(0, line.billed_fen - prior.get(line.line_no, 0))
                payments.append(
                    (
                        claim_id,
                        round_,
                        step["seq"],
                        line.line_no,
                        member_id,
                        step["payer_code"],
                        step["product_code"],
                        line.month,
                        line.service_date.year,
                        line.billed_fen,
                        remaining,
                        remaining,
                        answer.paid_fen,
                        Json([[code, amount] for code, amount in answer.reasons]),
                    )
                )
                if answer.paid_fen:
                    ledger.append(
                        (
                            party,
                            claim_id,
                            line.line_no,
                            step["product_code"],
                            None,
                            "payment",
                            answer.paid_fen,
                            round_,
                            today,
                        )
                    )
                prior[line.line_no] = prior.get(line.line_no, 0) + answer.paid_fen
                paid_total += answer.paid_fen
            writes += [(PAYMENT, payments), (LEDGER, ledger)] if ledger else [(PAYMENT, payments)]
            code, product_code = step["payer_code"], step["product_code"]
            payers.append({"payer_code": code, "product_code": product_code, "paid_fen": paid_total})
        writes.append((FINISH, [(billed - sum(prior.values()), claim_id, self.owner)]))
        await committer.write(writes)

    @staticmethod
    def _share(
        coverage: Coverage,
        case: CaseFacts,
        prior: dict[int, int],
        usage_rows: list[dict[str, Any]] | None,
        fixed: bool,
        proposing: bool,
        product_code: str,
    ) -> dict[str, Any]:
        """The request's lines, proposal and limit usage: the share computed once."""
        usage: dict[str, int] = {}
        if fixed:
            decisions = fixed_benefits(coverage, case, frozenset())
            proposed = tuple(
                {"month": d.month, "amount_fen": d.amount_fen} for d in decisions if d.amount_fen > 0
            )
            share = None
        else:
            months = {line.month for line in case.lines}
            years = {line.service_date.year for line in case.lines}
            for row in usage_rows or ():
                if row["product_code"] != product_code:
                    continue
                if row["month"] in months:
                    usage[f"month:{row['month']}"] = usage.get(f"month:{row['month']}", 0) + row["paid"]
                if row["year"] in years:
                    usage[f"year:{row['year']}"] = usage.get(f"year:{row['year']}", 0) + row["paid"]
            share, _ = coordinate_payer(coverage, case, prior, usage)
            proposed = ()
        shares = {line.line_no: line for line in share.lines} if share is not None and proposing else {}
        lines = []
        for line in case.lines:
            proposal = shares.get(line.line_no)
            lines.append(
                ShareLine(
                    **wire_line(line),
                    prior_paid_fen=prior.get(line.line_no, 0),
                    remaining_fen=max(0, line.billed_fen - prior.get(line.line_no, 0)),
                    proposed_paid_fen=proposal.paid_fen if proposal else None,
                    proposed_reasons=tuple(
                        {"code": reason.value, "amount_fen": amount} for reason, amount in proposal.reasons
                    )
                    if proposal
                    else (),
                )
            )
        return {
            "lines": tuple(lines),
            "proposed_fixed": proposed if proposing else (),
            "limit_usage": usage,
        }


def main(argv: list[str]) -> int:
    asyncio.run(Baseline(argv[0], int(argv[1])).run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
