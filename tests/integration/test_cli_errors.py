"""The command line a user meets: a fault the user can fix is one clear line on stderr and a
non-zero exit, never a traceback; unknown ``LTC_*`` names and development keys are warned about,
and development keys are refused under ``LTC_ENVIRONMENT=production``. On both databases."""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.bootstrap import Gateway
from gateway.environment import known_names
from gateway.storage.database import make_engine
from tests.conftest import DatabaseUnderTest, _with_search_path
from tests.integration.test_cli import ltc

ROOT = Path(__file__).resolve().parents[2]
# Real secrets, so that a command's stderr holds only what the test is about.
SECRETS = {
    "LTC_DATA_KEYS": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "LTC_LOOKUP_KEY": secrets.token_hex(16),
    "LTC_AUDIT_KEY": secrets.token_hex(16),
}


READ_FIRST = "once, on SQLite: options and variables are read before the database is opened"
KEYS_ONCE = "once, on SQLite: the warning reads the environment, not the database"


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def url(gateway: Gateway) -> str:
    return gateway.settings.database_url


@pytest.fixture
def unmigrated(database: DatabaseUnderTest, tmp_path: Path) -> Iterator[str]:
    """A database that answers but holds no schema: an empty SQLite file, an empty PG schema."""
    if database.backend == "sqlite":
        path = tmp_path / "empty.db"
        engine = make_engine(f"sqlite:///{path}")
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE unrelated (x INTEGER)"))
        engine.dispose()
        yield f"sqlite:///{path}"
        return
    schema = f"ltc_empty_{os.getpid()}_{secrets.token_hex(3)}"
    with database.engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_search_path(os.environ["LTC_TEST_DATABASE_URL"], schema)
    finally:
        with database.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_a_bad_date_is_one_line_naming_the_option(url: str, tmp_path: Path) -> None:
    if not url.startswith("sqlite"):
        pytest.skip(READ_FIRST)
    line = one_error(ltc("reconcile", "--date", "2026-02-30", url=url, cwd=tmp_path, env=SECRETS))
    assert "--date 2026-02-30" in line and "YYYY-MM-DD" in line
    line = one_error(ltc("schedule", "--at", "25:00", url=url, cwd=tmp_path, env=SECRETS))
    assert "--at 25:00" in line


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("LTC_WORKER_CONCURRENCY", "many", "not a whole number"),
        ("LTC_STEP_RETRY_SECONDS", "soon", "not a number"),
        ("LTC_ENVIRONMENT", "prod", "one of development, production"),
        ("LTC_CONFIG", "/nonexistent/ltc.toml", "No such file"),
    ],
)
def test_a_bad_environment_value_is_one_line_naming_the_variable(
    url: str, tmp_path: Path, variable: str, value: str, says: str
) -> None:
    if not url.startswith("sqlite"):
        pytest.skip(READ_FIRST)
    line = one_error(ltc("payers", "list", url=url, cwd=tmp_path, env={**SECRETS, variable: value}))
    assert variable in line and says in line


def test_an_unreachable_database_is_one_line_naming_it(tmp_path: Path) -> None:
    with_password = "postgresql://postgres:s3cret@127.0.0.1:1/test"
    for command in (("payers", "list"), ("serve",), ("db", "upgrade")):
        line = one_error(ltc(*command, url=with_password, cwd=tmp_path, env=SECRETS))
        assert "cannot reach the database" in line and "127.0.0.1:1" in line and "s3cret" not in line


def test_an_unmigrated_database_says_run_db_upgrade(unmigrated: str, tmp_path: Path) -> None:
    for command in (("payers", "list"), ("worker", "--once"), ("reconcile",), ("keys", "revoke", "x")):
        line = one_error(ltc(*command, url=unmigrated, cwd=tmp_path, env=SECRETS))
        assert "has no schema: run `ltc-gateway db upgrade`" in line, line


def test_a_missing_sqlite_file_says_run_db_upgrade_and_is_not_created(tmp_path: Path) -> None:
    line = one_error(ltc("payers", "list", url=None, cwd=tmp_path, env=SECRETS))
    assert "no database at ltc-gateway.db: run `ltc-gateway db upgrade`" in line
    assert not (tmp_path / "ltc-gateway.db").exists()


def test_serve_on_an_unmigrated_database_refuses_to_start(unmigrated: str, tmp_path: Path) -> None:
    result = ltc("serve", "--port", "0", url=unmigrated, cwd=tmp_path, env=SECRETS, timeout=60)
    assert result.returncode == 2
    assert "run `ltc-gateway db upgrade`" in one_error(result)


def test_an_unknown_ltc_variable_is_warned_about_with_the_nearest_name(url: str, tmp_path: Path) -> None:
    result = ltc(
        "payers", "list", url=url, cwd=tmp_path, env={**SECRETS, "LTC_DATABSE_URL": "sqlite:///x.db"}
    )
    assert result.returncode == 0, result.stderr
    (warning,) = result.stderr.strip().splitlines()
    assert "WARNING" in warning and "LTC_DATABSE_URL is not a setting" in warning
    assert "did you mean LTC_DATABASE_URL?" in warning


def test_development_keys_are_warned_about_and_refused_under_production(url: str, tmp_path: Path) -> None:
    if not url.startswith("sqlite"):
        pytest.skip(KEYS_ONCE)
    warned = ltc("payers", "list", url=url, cwd=tmp_path)
    assert warned.returncode == 0
    assert re.search(
        r"WARNING .*development keys in use \(LTC_DATA_KEYS, LTC_LOOKUP_KEY, LTC_AUDIT_KEY", warned.stderr
    )
    production = {"LTC_ENVIRONMENT": "production"}
    for command in (("payers", "list"), ("serve", "--port", "0"), ("worker", "--once")):
        line = one_error(ltc(*command, url=url, cwd=tmp_path, env=production))
        assert "LTC_ENVIRONMENT=production" in line and "LTC_AUDIT_KEY" in line
    one_key_missing = {**SECRETS, **production}
    del one_key_missing["LTC_AUDIT_KEY"]
    line = one_error(ltc("payers", "list", url=url, cwd=tmp_path, env=one_key_missing))
    assert "LTC_AUDIT_KEY is not set" in line and "LTC_DATA_KEYS" not in line
    configured = ltc("payers", "list", url=url, cwd=tmp_path, env={**SECRETS, **production})
    assert configured.returncode == 0 and configured.stderr == "", configured.stderr


def test_every_ltc_variable_the_project_reads_is_one_the_warning_knows() -> None:
    """Else the unknown-name warning would cry wolf about a real setting."""
    found: set[str] = set()
    examples = {Path(__file__).resolve(), ROOT / "gateway" / "environment.py"}  # they cite a misspelling
    for folder in (
        "ltc_gateway",
        "gateway",
        "adapters",
        "sandbox",
        "reconciliation",
        "bench",
        "tests",
        "docs",
        "docker",
        "deploy",
        ".ci",
    ):
        for path in (ROOT / folder).rglob("*"):
            if (
                path.is_file()
                and path.suffix in {".py", ".md", ".yaml", ".yml", ".env", ""}
                and path not in examples
            ):
                found |= set(
                    re.findall(
                        r"\bLTC_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8", errors="ignore")
                    )
                )
    assert found, "nothing found: the scan is broken"
    assert sorted(found - known_names()) == []


def test_python_m_gateway_has_no_traceback_for_a_bad_date_either(url: str, tmp_path: Path) -> None:
    """The same through the installed script ``ltc-gateway`` as through ``python -m ltc_gateway``."""
    script = Path(sys.executable).with_name("ltc-gateway")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LTC_")},
        **SECRETS,
        "LTC_DATABASE_URL": url,
    }
    result = subprocess.run(
        [str(script), "reconcile", "--date", "2026-13-01"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert "--date 2026-13-01" in one_error(result)


# The product's CLI with no command installed through ``ltc_gateway.commands``, as in the
# production image, where the sandbox distribution is not installed.
WITHOUT_SANDBOX = """
import importlib.metadata, sys
everything = importlib.metadata.entry_points
def without_commands(**selection):
    found = everything(**selection)
    return [] if selection.get("group") == "ltc_gateway.commands" else found
importlib.metadata.entry_points = without_commands
from ltc_gateway.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", [["demo", "--once"], ["sandbox", "--port", "0"], ["reconcile-generate"]])
def test_a_sandbox_command_without_the_sandbox_says_how_to_install_it(
    command: list[str], tmp_path: Path
) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LTC_")}, **SECRETS}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_SANDBOX, *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "pip install -e ./sandbox" in one_error(result)
