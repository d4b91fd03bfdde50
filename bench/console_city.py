"""A city for the console benchmark, seeded by set-based SQL (PostgreSQL): 50,000 members in 12
districts (skewed, as a city's are), each assessed with a grade and a care setting, two years of
monthly claims (members joining over the first months), their lines, each payer's step and line
payment (the tier-1 fund through one of three administrators by district, a tier-2 plan for a
third of members, a tier-3 insurer for a tenth), the ledger and the payers' statement lines, the
supervision flags (unverified visits, duplicates, refused and dead steps), dead notices among
the sent ones, 250,000 open mismatches beside resolved ones, sixty nights of runs, routes with
dated versions and an audit trail of some 600,000 entries, sealed. Deterministic: every
"random" choice is ``hashint4`` of the row's numbers, so two runs plan alike."""

from __future__ import annotations

import importlib.util
import sys
import time
from datetime import date
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from gateway import storage
from gateway.audit import audit_key, head_mac
from gateway.storage.personal import encrypt

DISTRICTS = (
    "330102", "330105", "330106", "330108", "330109", "330110",
    "330111", "330112", "330113", "330114", "330122", "330127",
)  # fmt: skip
ADMINISTRATORS = ("ltc-admin-east", "ltc-admin-west", "ltc-admin-north")
FUND, PLAN, INSURER = "ltc-city", "huiminbao", "acme-life"
MONTHS = 24
PROVIDERS = 300


def figures_backfill(dialect: str) -> list[str]:
    """Migration 0035's set-based fill of the bureau's monthly figures (statement timeliness too),
    into slot 0 of the keys migration 0037 spread over slots."""
    path = Path(storage.__file__).parent / "migrations" / "versions" / "0037_figure_slots.py"
    spec = importlib.util.spec_from_file_location("figure_slots_0037", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    statements: list[str] = module.backfill(dialect)
    return statements


_REFERENCE = """
INSERT INTO payers (payer_code, name, created_at)
SELECT code, code, now() FROM unnest(CAST(:payers AS text[])) AS code;
INSERT INTO products (product_code, payer_code, tier, kind, version, updated_at) VALUES
  ('ltc-basic', 'ltc-city', 1, 'indemnity', 1, now()),
  ('hmb-care', 'huiminbao', 2, 'indemnity', 1, now()),
  ('acme-ltc', 'acme-life', 3, 'indemnity', 1, now());
INSERT INTO providers (provider_code, name, district, designated, created_at, updated_at)
SELECT 'P' || lpad(p::text, 4, '0'), '护理机构' || p, (CAST(:districts AS text[]))[1 + p % 12], true,
       now(), now()
FROM generate_series(0, :providers - 1) AS p;
INSERT INTO district_routes (payer_code, district, administrator_code, effective_from, updated_at)
SELECT 'ltc-city', d, (CAST(:admins AS text[]))[1 + n % 3], :start, now()
FROM unnest(CAST(:districts AS text[])) WITH ORDINALITY AS t(d, n);
INSERT INTO district_routes (payer_code, district, administrator_code, effective_from, updated_at)
SELECT 'ltc-city', d, (CAST(:admins AS text[]))[1 + (n + 1) % 3], :start + (365 + 60 * (n % 2))::int, now()
FROM unnest(CAST(:districts AS text[])) WITH ORDINALITY AS t(d, n) WHERE n % 4 = 0;
"""

# one row a member: where, how cared for, which plans; ``u`` skews districts towards the centre
_MEMBERS = """
CREATE TEMP TABLE seed_members ON COMMIT DROP AS
SELECT i, md5('m' || i)::uuid AS member_id,
       (CAST(:districts AS text[]))[1 + floor(12 * power((abs(hashint4(i)) % 10000) / 10000.0, 1.7))::int]
         AS district,
       (ARRAY['institutional','institutional','institutional','community','community',
              'home','home','home','home','family'])[1 + abs(hashint4(i * 3)) % 10] AS setting,
       (ARRAY[1,1,2,2,2,3,3,3,3,4,4,5])[1 + abs(hashint4(i * 5)) % 12] AS grade,
       i % 3 = 0 AS plan, i % 10 = 0 AS insurer, i % 8 AS joined
FROM generate_series(1, :members) AS i;
ALTER TABLE seed_members ADD COLUMN administrator text;
UPDATE seed_members s SET administrator = r.administrator_code
FROM district_routes r WHERE r.district = s.district AND r.effective_from = :start;
INSERT INTO members (member_id, district, id_hash, id_number_enc, created_at, updated_at)
SELECT member_id, district, md5('id' || i) || md5('x' || i), :id_number, now(), now() FROM seed_members;
INSERT INTO assessments (assessment_id, member_id, agency_code, concluded_on, disabled_since, scores,
  adl_score, adl_level, cognition_score, cognition_level, perception_score, perception_level, grade,
  effective_from, valid_until, request_digest, created_at)
SELECT md5('a' || i)::uuid, member_id, 'agency-1', :start - 30, :start - 200, '{}', 40, 'severe', 10,
       'moderate', 4, 'mild', grade, :start, :start + 1095, md5('a' || i), now()
FROM seed_members;
INSERT INTO enrollments (member_id, payer_code, product_code, start_date, created_at, updated_at)
SELECT member_id, p.payer, p.product, :start, now(), now()
FROM seed_members s JOIN (VALUES ('ltc-city', 'ltc-basic', 1), ('huiminbao', 'hmb-care', 2),
                                 ('acme-life', 'acme-ltc', 3)) AS p(payer, product, tier)
  ON p.tier = 1 OR (p.tier = 2 AND s.plan) OR (p.tier = 3 AND s.insurer);
"""

# a claim a member and month from the month they joined; ``h`` draws its amount, status, times
_CLAIMS = """
CREATE TEMP TABLE seed_claims ON COMMIT DROP AS
SELECT s.i, m, md5('c' || s.i || '-' || m)::uuid AS claim_id, s.member_id, x.ms::date AS period_start,
       x.h, 150000 + x.h % 250000 AS billed,
       (x.ms + interval '1 month' + make_interval(days => 1 + x.h % 5, mins => x.h % 600))
         AT TIME ZONE 'Asia/Shanghai' AS created_at,
       CASE WHEN x.h % 1000 = 2 THEN 'failed' WHEN x.h % 1000 = 5 THEN 'voided' ELSE 'coordinated' END
         AS status
FROM seed_members s
CROSS JOIN generate_series(0, :months - 1) AS m
CROSS JOIN LATERAL (SELECT CAST(:first_month AS timestamp) + make_interval(months => m) AS ms,
                           abs(hashint4(s.i * 37 + m)) AS h) AS x
WHERE m >= s.joined;
INSERT INTO claims (claim_id, provider_code, claim_number, member_id, assessment_id, period_start,
  period_end, status, billed_fen, member_responsibility_fen, round, request_digest, created_at,
  updated_at, coordinated_at, coordination_seq, voided_at)
SELECT claim_id, 'P' || lpad((i % :providers)::text, 4, '0'),
       'LTC' || to_char(period_start, 'YYYYMM') || lpad(i::text, 6, '0'), member_id, md5('a' || i)::uuid,
       period_start, (period_start + interval '1 month' - interval '1 day')::date, status, billed,
       billed / 10, 1, md5('c' || i || '-' || m), created_at, created_at,
       created_at + interval '40 minutes', m,
       CASE WHEN status = 'voided' THEN created_at + interval '9 days' END
FROM seed_claims;
CREATE TEMP TABLE seed_lines ON COMMIT DROP AS
SELECT c.claim_id, n AS line_no, c.member_id, c.period_start, c.created_at, c.h, c.status, s.i,
       s.plan, s.insurer, s.administrator,
       CASE WHEN n = 1 THEN s.setting ELSE 'home' END AS setting,
       CASE WHEN n = 1 THEN c.billed ELSE c.billed / 5 END AS billed
FROM seed_claims c JOIN seed_members s USING (i)
CROSS JOIN generate_series(1, 2) AS n
WHERE n = 1 OR (s.setting = 'home' AND c.h % 2 = 0);
INSERT INTO claim_lines (claim_id, line_no, service_code, setting, method, service_date, quantity,
  unit_price_fen, billed_fen, caregiver_id, check_in, check_out)
SELECT claim_id, line_no, CASE WHEN setting = 'home' THEN 'HV01' ELSE 'BED01' END, setting,
       CASE WHEN setting = 'home' THEN 'per_item' ELSE 'per_diem' END, period_start, 1, billed, billed,
       CASE WHEN setting = 'home' THEN 'CG' || (i % 900) END,
       CASE WHEN setting = 'home' THEN period_start + interval '9 hours' END,
       CASE WHEN setting = 'home' THEN period_start + interval '10 hours' END
FROM seed_lines;
"""

# each payer's share of each line (the fund 70 %, the plan 15 %, the insurer 10 % of what is billed)
_PAYMENTS = """
CREATE TEMP TABLE seed_shares ON COMMIT DROP AS
SELECT l.*, p.payer, p.product, p.tier, p.share,
       CASE WHEN p.tier = 1 THEN l.administrator ELSE p.payer END AS party
FROM seed_lines l JOIN (VALUES ('ltc-city', 'ltc-basic', 1, 70), ('huiminbao', 'hmb-care', 2, 15),
                               ('acme-life', 'acme-ltc', 3, 10)) AS p(payer, product, tier, share)
  ON p.tier = 1 OR (p.tier = 2 AND l.plan) OR (p.tier = 3 AND l.insurer);
INSERT INTO line_payments (claim_id, round, seq, line_no, member_id, payer_code, product_code,
  period_month, period_year, billed_fen, remaining_fen, standalone_fen, paid_fen, reasons, current,
  created_at, provisional)
SELECT claim_id, 1, tier, line_no, member_id, payer, product, to_char(period_start, 'YYYY-MM'),
       extract(year FROM period_start)::int, billed, billed - billed * share / 100, billed * share / 100,
       billed * share / 100, '[]', status <> 'voided', created_at + interval '40 minutes', false
FROM seed_shares WHERE status <> 'failed';
INSERT INTO ledger_entries (payer_code, claim_id, line_no, product_code, month, kind, amount_fen, round,
  business_date, created_at)
SELECT party, claim_id, line_no, product, to_char(period_start, 'YYYY-MM'), 'payment', billed * share / 100,
       1, (created_at AT TIME ZONE 'Asia/Shanghai')::date, created_at
FROM seed_shares WHERE status = 'coordinated';
INSERT INTO statements (payer_code, content_hash, media_type, source, rows, accepted, received_at)
SELECT party, md5(party || m), 'text/csv', 'upload', 0, 0,
       CAST(:first_month AS timestamp) + make_interval(months => m + 1, days => 14)
FROM unnest(CAST(:parties AS text[])) AS party CROSS JOIN generate_series(0, :months - 1) AS m;
INSERT INTO statement_lines (statement_id, row_no, payer_code, claim_id, line_no, paid_fen,
  payer_reference, settled_on)
SELECT st.id, row_number() OVER (PARTITION BY st.id), s.party, s.claim_id, s.line_no,
       s.billed * s.share / 100 - CASE WHEN s.h % 97 = 0 THEN 500 ELSE 0 END,
       upper(left(s.party, 3)) || to_char(s.period_start, 'YYMM')
         || lpad((s.i * 3 + s.line_no)::text, 7, '0'),
       (s.period_start + interval '1 month' + interval '14 days')::date
FROM seed_shares s JOIN statements st
  ON st.payer_code = s.party AND st.content_hash = md5(s.party || ((extract(year FROM s.period_start)
     - extract(year FROM CAST(:first_month AS date))) * 12 + extract(month FROM s.period_start)
     - extract(month FROM CAST(:first_month AS date)))::int)
WHERE s.status = 'coordinated' AND s.h % 211 <> 0;
"""

# one step a claim and payer: decided within seconds to days (a long tail), a few refused or dead
_STEPS = """
INSERT INTO payer_steps (claim_id, round, seq, tier, payer_code, administrator_code, product_code,
  product_version, kind, adjudication, coverage_start, status, attempts, idempotency_key, detail,
  last_error, created_at, updated_at, decided_at, attempt, request, response, payer_reference)
SELECT claim_id, 1, tier, tier, payer, CASE WHEN tier = 1 THEN administrator END, product, 1, 'share',
       CASE WHEN tier = 3 THEN 'payer' ELSE 'gateway' END, :start,
       CASE WHEN status = 'failed' AND tier = 1 THEN 'dead'
            WHEN h % 1000 = 7 AND tier > 1 THEN 'refused' WHEN status = 'voided' THEN 'voided'
            ELSE 'decided' END,
       CASE WHEN status = 'failed' THEN 8 ELSE 1 END, claim_id || '-' || tier || '-1', NULL,
       CASE WHEN status = 'failed' AND tier = 1 THEN '连接超时 (timeout after 30 s)'
            WHEN h % 1000 = 7 AND tier > 1 THEN 'paid more than billed' END,
       created_at, created_at + interval '1 hour',
       CASE WHEN status <> 'failed' OR tier > 1 THEN created_at + make_interval(
         secs => power(2.0::float8, (h % 1700) / 100.0::float8) * (1 + tier)) END,
       1,
       json_build_object('claim_number', 'LTC' || to_char(period_start, 'YYYYMM') || lpad(i::text, 6, '0'),
                         'lines', json_build_array(json_build_object('line_no', 1, 'billed_fen', billed))),
       CASE WHEN status <> 'failed'
         THEN json_build_object('decision', 'paid', 'paid_fen', billed * share / 100) END,
       CASE WHEN status <> 'failed' THEN 'R' || tier || '-' || i || '-' || to_char(period_start, 'YYMM') END
FROM seed_shares WHERE line_no = 1;
"""

# what the bureau must look at, and what reconciliation has open
_SUPERVISION = """
INSERT INTO flags (kind, claim_id, line_no, payer_code, product_code, detail, created_at)
SELECT CASE WHEN h % 400 = 11 THEN 'duplicate_service' ELSE 'visit_unverified' END, claim_id, line_no,
       'ltc-city', 'ltc-basic', '打卡位置与住址不符', created_at + interval '2 minutes'
FROM seed_lines WHERE (setting = 'home' AND h % 60 = 1) OR h % 400 = 11;
INSERT INTO flags (kind, claim_id, payer_code, product_code, detail, created_at)
SELECT CASE WHEN status = 'dead' THEN 'step_dead' ELSE 'decision_refused' END, claim_id, payer_code,
       product_code, last_error, updated_at
FROM payer_steps WHERE status IN ('dead', 'refused');
INSERT INTO outbox (kind, payer_code, claim_id, idempotency_key, payload, status, attempts,
  next_attempt_at, last_error, created_at, sent_at)
SELECT 'claim_notice', payer, claim_id, 'notice-' || claim_id || '-' || tier, '{"kind": "claim_notice"}',
       CASE WHEN h % 500 = 3 THEN 'dead' ELSE 'sent' END, CASE WHEN h % 500 = 3 THEN 8 ELSE 1 END,
       created_at, CASE WHEN h % 500 = 3 THEN 'HTTP 503 from the payer' END, created_at,
       CASE WHEN h % 500 <> 3 THEN created_at + interval '3 seconds' END
FROM seed_shares WHERE tier > 1 AND line_no = 1;
INSERT INTO supervision_items (source, source_id, assignee, closed_reason, closed_by, closed_at, updated_at)
SELECT 'flag', id, (ARRAY['li','wang','chen'])[1 + id % 3], CASE WHEN id % 14 = 0 THEN 'checked_ok' END,
       CASE WHEN id % 14 = 0 THEN 'staff:li' END,
       CASE WHEN id % 14 = 0 THEN created_at + interval '3 days' END,
       created_at + interval '1 day'
FROM flags WHERE id % 7 = 0;
INSERT INTO reconciliation_runs (business_date, status, phase, counts, totals, runs, started_at, finished_at)
SELECT :today - d, 'done', 'done', '{"kinds": {"AMOUNT_MISMATCH": 1200, "MISSING_AT_PAYER": 800}}',
       json_build_array(json_build_object('payer_code', 'huiminbao', 'expected_fen', 9000000,
         'settled_fen', 8990000, 'difference_fen', -10000)),
       1, (:today - d) + time '02:00', (:today - d) + time '02:20'
FROM generate_series(1, 60) AS d;
INSERT INTO mismatches (kind, payer_code, claim_id, line_no, expected_fen, settled_fen, difference_fen,
  status, first_seen, last_seen, last_run_id, created_at, updated_at)
SELECT (ARRAY['AMOUNT_MISMATCH','AMOUNT_MISMATCH','MISSING_AT_PAYER','MISSING_AT_PAYER','MISSING_AT_PAYER',
              'DUPLICATE_SETTLEMENT','STALE_COORDINATION','OVER_COORDINATED'])[1 + k % 8],
       s.party, s.claim_id, s.line_no, s.billed * s.share / 100,
       s.billed * s.share / 100 - (s.h % 40000) + 20000 * (k % 2), 20000 * (k % 2) - (s.h % 40000),
       CASE WHEN k <= :open THEN (ARRAY['open','open','open','open','open','open','pending_approval',
              'awaiting_payer','carried','open'])[1 + k % 10] ELSE 'resolved' END,
       :today - (CASE WHEN k <= :open THEN (k * 7) % 60 ELSE 60 + k % 300 END)::int, :today - 1, 1,
       now(), now()
FROM (SELECT s.*, row_number() OVER (ORDER BY abs(hashint4(s.h + s.line_no * 7 + s.tier))) AS k
      FROM seed_shares s WHERE s.status = 'coordinated') AS s
WHERE k <= CAST(:open AS int) + CAST(:resolved AS int);
"""

# the trail: every other claim received, the reconcilers' resolutions, the bureau's actions, sign-ins
_AUDIT = """
INSERT INTO audit_log (at, actor, action, subject, detail, nonce, mac)
SELECT at, actor, action, subject, detail, md5(random()::text || n), md5(n::text)
FROM (
  SELECT created_at AS at, 'provider:P' || lpad((i % :providers)::text, 4, '0') AS actor,
         'claim.received' AS action, 'claim:' || claim_id AS subject,
         json_build_object('lines', 1) AS detail, 'c' || claim_id AS n
  FROM seed_claims WHERE i % 2 = 0
  UNION ALL
  SELECT now() - make_interval(days => id % 700, mins => id % 1440),
         'staff:' || (ARRAY['zhang','liu','zhao','sun','zhou','wu','zheng','feng'])[1 + id % 8],
         'mismatch.resolve', 'mismatch:' || id, json_build_object('action', 'write_off'), 'm' || id
  FROM mismatches WHERE status = 'resolved'
  UNION ALL
  SELECT now() - make_interval(days => g % 700, mins => g % 1440),
         'staff:' || (ARRAY['li','wang','chen','zhang','liu'])[1 + g % 5], 'staff.signed_in',
         'staff:' || (ARRAY['li','wang','chen','zhang','liu'])[1 + g % 5], '{}', 's' || g
  FROM generate_series(1, 20000) AS g
) AS t ORDER BY at;
UPDATE audit_log
SET seq = id, prev_hash = md5(id::text) || md5(id::text), hash = md5(id::text || 'h') || md5(id::text);
"""


def seed(session: Session, today: date, members: int = 50_000, open_items: int = 250_000) -> dict[str, int]:
    """Plant the city in the session's schema; the rows of each table seeded."""
    first_month = date(today.year - 2, today.month, 1)
    start = first_month.replace(day=1)
    values = {
        "payers": [FUND, *ADMINISTRATORS, PLAN, INSURER],
        "parties": [*ADMINISTRATORS, PLAN, INSURER],
        "admins": list(ADMINISTRATORS),
        "districts": list(DISTRICTS),
        "providers": PROVIDERS,
        "members": members,
        "months": MONTHS,
        "first_month": first_month,
        "start": start,
        "today": today,
        "open": open_items,
        "resolved": open_items // 2,
        # one sealed identity number for all: a page decrypts what it shows, as in production
        "id_number": encrypt("330102194001011234"),
    }
    session.execute(text("SET LOCAL synchronous_commit = off"))
    # rows made consistent here, by construction: their foreign keys are not checked one by one
    session.execute(text("SET LOCAL session_replication_role = replica"))
    for script in (_REFERENCE, _MEMBERS, _CLAIMS, _PAYMENTS, _STEPS, _SUPERVISION, _AUDIT):
        for statement in script.split(";\n"):
            if statement.strip():
                began = time.perf_counter()
                session.execute(text(statement), values)
                took = time.perf_counter() - began
                if took > 5:
                    print(f"  {took:.0f} s: {statement.strip()[:60]}", file=sys.stderr, flush=True)
    # the bureau's monthly figures, as migration 0035 fills them into slot 0 (triggers off while seeding)
    for statement in figures_backfill("postgresql"):
        session.execute(text(statement))
    last_id, last_hash = session.execute(
        text("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
    ).one()
    session.execute(
        text("INSERT INTO audit_head (id, last_id, last_seq, hash, mac) VALUES (1, :i, :i, :h, :m)"),
        {"i": last_id, "h": last_hash, "m": head_mac(audit_key(), last_id, last_id, last_hash)},
    )
    counted = {}
    for table in ("members", "claims", "claim_lines", "line_payments", "payer_steps", "ledger_entries",
                  "statement_lines", "flags", "outbox", "mismatches", "audit_log"):  # fmt: skip
        counted[table] = int(session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
    return counted
