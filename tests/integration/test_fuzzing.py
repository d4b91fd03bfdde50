"""schemathesis over the whole OpenAPI description of a running server: whatever it generates,
the gateway never answers with a server error, on SQLite and on PostgreSQL (which refuses a NUL
in text and a 32-bit column's overflow where SQLite stores both), with the key of each role.
Bounded for CI (the fuzzing and stateful phases, a few examples per operation); a long search on
demand:
``LTC_FUZZ_EXAMPLES=200 LTC_FUZZ_PHASES=examples,coverage,fuzzing,stateful``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.api.server import BackgroundServer
from gateway.bootstrap import Gateway
from gateway.services.keys import Role, create_key
from ltc_gateway.app import create_app

EXAMPLES = os.environ.get("LTC_FUZZ_EXAMPLES", "5")
PHASES = "fuzzing,stateful"  # the other roles fuzz only: their stateful links mostly end in 403


# Each role reaches other operations. A role is fuzzed only on those it may call (and the open
# ones): another's operations answer 403 before they touch the database, which test_scoping
# checks for every operation and role.
ROLES = {
    Role.BUREAU: "bureau",
    Role.PROVIDER: "P3301020001",
    Role.PAYER: "huiminbao",
    Role.RECONCILER: "zhang",
}


@pytest.mark.parametrize("role", list(ROLES), ids=[r.value for r in ROLES])
def test_no_operation_answers_a_server_error(gateway: Gateway, tmp_path: Path, role: Role) -> None:
    with gateway.sessions.begin() as session:
        key = create_key(session, role, ROLES[role])[1]
    server = BackgroundServer(create_app(gateway, embedded_workers=0)).start()
    command = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    try:
        mine = callable_by(httpx.get(f"{server.url}/openapi.json").json(), role)
        result = subprocess.run(
            [
                command,
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                EXAMPLES,
                "--header",
                f"Authorization: Bearer {key}",
                "--phases",
                os.environ.get("LTC_FUZZ_PHASES", PHASES if role == Role.BUREAU else "fuzzing"),
                "--no-color",
                "--include-operation-id-regex",
                "^(" + "|".join(map(re.escape, mine)) + ")$",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tmp_path,
        )
    finally:
        server.stop()
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary + result.stderr[-2000:]
    assert re.search(rf"Operations:\s+{len(mine)} selected /", result.stdout), result.stdout[:1500]
    assert " passed" in summary and "failed" not in summary.split("Test cases:")[-1]


def callable_by(spec: dict[str, Any], role: Role) -> list[str]:
    """The operations ``role`` may call, by the roles each operation's description names."""
    found = []
    for methods in spec["paths"].values():
        for operation in methods.values():
            roles = re.search(r"Roles: ([a-z, ]+)\.", operation.get("description", ""))
            if roles is None or role.value in roles.group(1).split(", "):
                found.append(operation["operationId"])
    assert len(found) >= 5, found
    return found
