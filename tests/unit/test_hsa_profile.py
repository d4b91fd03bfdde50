"""The pure pieces of the 医保信息平台 profile: digests, ciphers and signatures against published
vectors, the envelope, the signed text, message ids and the error mapping."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from adapters.hsa import envelope as envelope_module
from adapters.hsa.adapter import classify
from adapters.hsa.envelope import REQUEST_FIELDS, MessageIds, Profile, Reply, build_request, signing_text
from adapters.hsa.security import Sm2Signer, Sm4, secret, sm2_public_key, sm3_hex, tif_signature
from adapters.sdk import PermanentError, TransientError

# GM/T 0003.5 sample key pair on the recommended curve
SAMPLE_PRIVATE = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
SAMPLE_PUBLIC = (
    "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
)
CONFIG = {"fixmedins_code": "H33010200001", "mdtrtarea_admvs": "330102"}


def test_sm3_digests_match_the_standards_examples() -> None:
    assert sm3_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm3_hex(b"abcd" * 16) == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_sm4_is_the_standards_block_cipher_in_ecb_with_pkcs7_and_base64() -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    block = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert (block.update(key) + block.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"
    sealed = base64.b64decode(Sm4(key).encrypt("a" * 16))
    raw = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert sealed == raw.update(b"a" * 16 + bytes([16]) * 16) + raw.finalize()


def test_sm4_round_trips_text_and_refuses_what_is_not_its_ciphertext() -> None:
    cipher = Sm4(bytes(range(16)))
    text = json.dumps({"data": {"name": "张三", "paid_fen": 12000}}, ensure_ascii=False)
    assert cipher.decrypt(cipher.encrypt(text)) == text
    assert cipher.encrypt(text) == cipher.encrypt(text)  # a resent request: the same ciphertext
    for garbage in ("not base64!", base64.b64encode(b"short").decode(), Sm4(bytes(16)).encrypt(text)):
        with pytest.raises(ValueError):
            cipher.decrypt(garbage)
    with pytest.raises(PermanentError):
        Sm4(b"too short")


def test_sm2_public_key_of_the_sample_private_key() -> None:
    assert sm2_public_key(SAMPLE_PRIVATE) == SAMPLE_PUBLIC


def test_sm2_signatures_verify_and_a_changed_text_or_signature_does_not() -> None:
    signer = Sm2Signer(SAMPLE_PRIVATE)
    verifier = Sm2Signer(public_hex=SAMPLE_PUBLIC)
    text = "infno=2207&msgid=H33010200001202612010800000001"
    signature = signer.sign(text)
    assert signer.sign(text) != signature  # a fresh k each time (from secrets, not gmssl's random)
    assert verifier.verify(signature, text)
    assert not verifier.verify(signature, text + "1")
    assert not verifier.verify(("1" if signature[0] == "0" else "0") + signature[1:], text)
    assert not verifier.verify("zz", text)
    with pytest.raises(PermanentError):
        verifier.sign(text)


def test_the_gateway_header_signature_is_sha256_of_timestamp_token_nonce_timestamp() -> None:
    # printf '%s' 1700000000sandbox-tokennonce-11700000000 | sha256sum
    expected = "8909a835032ece7d00ce610ce58f11e674f4959f6dda279806a9ede9a6582465"
    assert tif_signature("1700000000", "sandbox-token", "nonce-1") == expected


def test_the_signed_text_sorts_parameters_by_name_and_leaves_out_the_signature_and_empty_ones() -> None:
    envelope = {"msgid": "M", "infno": "2207", "cainfo": "SIG", "sign_no": "", "input": {"b": 1, "a": "张"}}
    assert signing_text(envelope, "cainfo") == 'infno=2207&input={"a":"张","b":1}&msgid=M'


def test_the_envelope_carries_every_field_under_the_citys_names() -> None:
    profile = Profile.from_config({**CONFIG, "fields": {"mdtrtarea_admvs": "mdtrtarea_admdvs"}})
    sent = build_request(profile, "2207", "M" * 30, "2026-12-01 08:00:00", "CIPHER")
    assert "mdtrtarea_admdvs" in sent and "mdtrtarea_admvs" not in sent
    assert len(sent) == len(REQUEST_FIELDS)
    assert sent["insuplc_admdvs"] == "330102" and sent["fixmedins_code"] == "H33010200001"
    assert sent["input"] == "CIPHER"


def test_a_profile_with_a_wrong_institution_code_division_or_field_name_is_refused() -> None:
    for changes in (
        {"fixmedins_code": "H3301"},
        {"mdtrtarea_admvs": "3301"},
        {"insuplc_admdvs": "33010x"},
        {"fields": {"no_such_field": "x"}},
    ):
        with pytest.raises(PermanentError):
            Profile.from_config({**CONFIG, **changes})
    with pytest.raises(PermanentError):
        Profile.from_config({"fixmedins_code": "H33010200001"})


def test_msgids_are_the_institution_code_beijing_time_and_a_sequence() -> None:
    ids = MessageIds("H33010200001")
    msgid, inf_time = ids.next(datetime(2026, 12, 1, 23, 59, 58, tzinfo=UTC))
    assert len(msgid) == 30 and msgid.startswith("H3301020000120261202075958")
    assert inf_time == "2026-12-02 07:59:58"
    assert msgid[26:].isdigit()


def test_msgids_never_repeat_in_a_process_even_past_ten_thousand_in_one_second() -> None:
    ids = MessageIds("H33010200001")
    now = datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC)
    seen = [ids.next(now) for _ in range(25_000)]
    assert len({m for m, _ in seen}) == 25_000
    assert {t for _, t in seen} == {"2026-12-01 08:00:00", "2026-12-01 08:00:01", "2026-12-01 08:00:02"}


def test_a_forked_process_draws_a_new_sequence_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = MessageIds("H33010200001")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    offsets = iter([1234, 8765])
    monkeypatch.setattr(envelope_module.secrets, "randbelow", lambda n: next(offsets))
    assert ids.next(now)[0].endswith("1234")
    monkeypatch.setattr(envelope_module.os, "getpid", lambda: -42)  # as after a fork
    assert ids.next(now)[0].endswith("8765")


def test_infcodes_map_to_success_transient_or_permanent() -> None:
    profile = Profile.from_config({**CONFIG, "transient_infcodes": ["-3", "-9"]})

    def reply(code: str) -> Reply:
        return Reply(code, "", "", "", "err", None, "")

    classify(profile, reply("0"))
    for code in ("-3", "-9"):
        with pytest.raises(TransientError):
            classify(profile, reply(code))
    for code in ("-1", "-2", "1"):
        with pytest.raises(PermanentError):
            classify(profile, reply(code))


def test_secrets_come_from_the_environment_or_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HSA_TOKEN", "from-env")
    assert secret({"paas_token_env": "HSA_TOKEN"}, "paas_token") == "from-env"
    (tmp_path / "token").write_text("from-file\n")
    assert secret({"paas_token_file": str(tmp_path / "token")}, "paas_token") == "from-file"
    assert secret({}, "platform_public_key", required=False) is None
    for config in ({"paas_token_env": "HSA_UNSET"}, {"paas_token_file": str(tmp_path / "none")}, {}):
        with pytest.raises(PermanentError):
            secret(config, "paas_token")


def test_sm2_signs_and_verifies_with_a_public_key_starting_with_zeros_and_fours() -> None:
    # gmssl's own constructor mangles such a key (str.lstrip("04")); we set the point ourselves
    private = next(k for k in (f"{n:064x}" for n in range(1, 5000)) if sm2_public_key(k).startswith("04"))
    public = sm2_public_key(private)
    signature = Sm2Signer(private).sign("text")
    assert Sm2Signer(public_hex=public).verify(signature, "text")
    assert Sm2Signer(public_hex="04" + public).verify(signature, "text")
