"""Personal data at rest: the ID number and the name are stored encrypted and found by a keyed
hash; rotating the data key re-encrypts them (``ltc-gateway data rekey``)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from sqlalchemy import text

from gateway.storage import personal
from tests.integration.test_cli import ltc
from tests.integration.world import World

ID_NUMBER, NAME = "11010519491231002X", "王秀英"


def raw_members(world: World) -> list[tuple[str, str, str | None]]:
    with world.gateway.sessions.begin() as session:
        return [
            tuple(r) for r in session.execute(text("SELECT id_hash, id_number_enc, name_enc FROM members"))
        ]  # type: ignore[misc]


def test_the_id_number_and_name_are_never_stored_as_text(world: World) -> None:
    world.setup()
    [(id_hash, id_enc, name_enc)] = raw_members(world)
    stored = f"{id_hash}{id_enc}{name_enc}"
    assert ID_NUMBER not in stored and NAME not in stored and "002X" not in stored
    assert personal.decrypt(id_enc) == ID_NUMBER and personal.decrypt(name_enc or "") == NAME
    assert id_hash == personal.lookup_hash(ID_NUMBER)
    # found by the keyed hash: the coverage query and the claim still work
    coverage = world.post("/v1/coverage/query", {"id_number": ID_NUMBER, "on": "2026-11-15"}, world.bureau)
    assert coverage.status_code == 200 and coverage.json()["tiers"][0]["coverages"]
    assert world.submit().status_code == 202
    # encryption is randomised: the same text encrypts differently each time
    assert personal.encrypt(ID_NUMBER) != personal.encrypt(ID_NUMBER)


def test_rotating_the_data_key_re_encrypts_every_member(world: World, tmp_path: Path) -> None:
    world.setup()
    [(_, before, _)] = raw_members(world)
    old = os.environ.get("LTC_DATA_KEYS", "")
    new_key = "k2:" + base64.b64encode(os.urandom(32)).decode()
    current = old or personal._DEVELOPMENT
    env_keys = f"{new_key},{current}"
    result = ltc(
        "data",
        "rekey",
        url=world.gateway.settings.database_url,
        cwd=tmp_path,
        env={"LTC_DATA_KEYS": env_keys},
    )
    assert result.returncode == 0, result.stderr
    assert "re-encrypted 1 members under data key 'k2'" in result.stdout
    [(_, after, _)] = raw_members(world)
    assert before.split(":")[0] != "k2" and after.startswith("k2:")
    os.environ["LTC_DATA_KEYS"] = env_keys
    personal._keys.cache_clear()
    try:
        assert personal.decrypt(after) == ID_NUMBER
    finally:
        if old:
            os.environ["LTC_DATA_KEYS"] = old
        else:
            del os.environ["LTC_DATA_KEYS"]
        personal._keys.cache_clear()
