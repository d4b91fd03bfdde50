"""The request and response envelopes of the 医保信息平台 profile, and their message ids.

The field lists follow public integration practice (no official text was available to us); a
city renames any of them in its payer file (``fields``: profile name → the city's name), and
the renaming applies on the wire in both directions and to what is signed.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from adapters.sdk import MalformedAnswer, PermanentError
from gateway.domain.beijing_time import BEIJING

REQUEST_FIELDS = (
    "infno",
    "msgid",
    "mdtrtarea_admvs",
    "insuplc_admdvs",
    "recer_sys_code",
    "infver",
    "opter_type",
    "opter",
    "opter_name",
    "inf_time",
    "fixmedins_code",
    "sign_no",
    "cainfo",
    "signtype",
    "input",
)
RESPONSE_FIELDS = ("infcode", "inf_refmsgid", "refmsg_time", "respond_time", "err_msg", "output")
SIGNATURE_FIELD = "cainfo"  # carries the SM2 signature; everything else is signed
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_INFNO = {
    # the platform's numbers for the analogous medical transactions ...
    "share": "2207",  # settlement
    "reversal": "2601",  # 冲正
    "totals": "3201",  # reconciliation totals (对总账)
    "detail": "3202",  # reconciliation detail (对明细账), by files
    "upload": "9101",  # file upload
    "download": "9102",  # file download
    # ... and placeholders where it has none: the city sets its own
    "assessment": "L101",
    "decision": "L102",
    "adjustment": "L103",
    "void": "L105",
    "statement": "L104",
}


@dataclass(frozen=True)
class Profile:
    """One city's dialect: who we are, where, which numbers and names."""

    fixmedins_code: str  # the sender's 12-character institution code, also the msgid prefix
    mdtrtarea_admvs: str  # GB/T 2260 division of the place of care
    insuplc_admdvs: str  # GB/T 2260 division of the place of insurance (default: same)
    recer_sys_code: str = "LTCGW"
    infver: str = "V1.0"
    opter_type: str = "2"  # 2: a system, not a person at a counter
    opter: str = "ltc-gateway"
    opter_name: str = "ltc-gateway"
    sign_no: str = ""
    signtype: str = "SM2"
    encrypt: bool = True  # SM4 of input and output
    infno: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_INFNO))
    fields: Mapping[str, str] = field(default_factory=dict)  # profile name → city name
    transient_infcodes: frozenset[str] = frozenset({"-3"})  # busy, duplicate msgid: send again

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Profile:
        try:
            code = str(config["fixmedins_code"])
            area = str(config["mdtrtarea_admvs"])
        except KeyError as missing:
            raise PermanentError(f"the hsa profile needs {missing.args[0]}") from None
        if len(code) != 12:
            raise PermanentError(f"fixmedins_code must be 12 characters, got {len(code)}")
        insured = str(config.get("insuplc_admdvs", area))
        for name, division in (("mdtrtarea_admvs", area), ("insuplc_admdvs", insured)):
            if not (len(division) == 6 and division.isascii() and division.isdigit()):
                raise PermanentError(f"{name} must be a 6-digit GB/T 2260 division code")
        unknown = set(config.get("fields", {})) - set(REQUEST_FIELDS) - set(RESPONSE_FIELDS)
        if unknown:
            raise PermanentError(f"fields renames unknown envelope fields: {', '.join(sorted(unknown))}")
        plain = {
            k: str(config[k])
            for k in ("recer_sys_code", "infver", "opter_type", "opter", "opter_name", "sign_no", "signtype")
            if k in config
        }
        return cls(
            fixmedins_code=code,
            mdtrtarea_admvs=area,
            insuplc_admdvs=insured,
            encrypt=bool(config.get("encrypt", True)),
            infno={**DEFAULT_INFNO, **config.get("infno", {})},
            fields=dict(config.get("fields", {})),
            transient_infcodes=frozenset(str(c) for c in config.get("transient_infcodes", ["-3"])),
            **plain,
        )

    def name(self, field_name: str) -> str:
        return self.fields.get(field_name, field_name)


class MessageIds:
    """msgid = institution code (12) + yyyyMMddHHmmss (Beijing) + a 4-digit sequence.

    Within a process the sequence is a counter, so no two ids repeat (past 10,000 in one second
    the clock part is moved on, never the counter wrapped). Processes share no state: each starts
    its counter at a random offset (drawn again after a fork), so two workers collide only if
    they send in the same second with overlapping counters — and a duplicate id is refused by
    the platform with a transient code, so that one transmission is sent again with a new id.
    Four digits leave no room for a process number; a database sequence would make every call
    wait on the database, which the fan-out does not do while it talks to a payer."""

    def __init__(self, institution: str) -> None:
        self.institution = institution
        self._lock = threading.Lock()
        self._pid = -1
        self._second = ""
        self._used = 0
        self._offset = 0

    def next(self, now: datetime) -> tuple[str, str]:
        """A fresh (msgid, inf_time) for a transmission at ``now``."""
        with self._lock:
            if os.getpid() != self._pid:
                self._pid, self._offset, self._used = os.getpid(), secrets.randbelow(10_000), 0
            moment = now.astimezone(BEIJING).replace(microsecond=0)
            stamp = moment.strftime("%Y%m%d%H%M%S")
            if stamp > self._second:
                self._second, self._used = stamp, 0
            elif self._used >= 10_000:
                later = datetime.strptime(self._second, "%Y%m%d%H%M%S") + timedelta(seconds=1)
                self._second, self._used = later.strftime("%Y%m%d%H%M%S"), 0
            sequence = (self._offset + self._used) % 10_000
            self._used += 1
            sent = datetime.strptime(self._second, "%Y%m%d%H%M%S")
            return f"{self.institution}{self._second}{sequence:04d}", sent.strftime(TIME_FORMAT)


def canonical(value: Any) -> str:
    """How a value is written into the signed text (and sent, when input is not encrypted)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def signing_text(envelope: Mapping[str, Any], signature_field: str) -> str:
    """Parameters sorted by name, ``name=value`` joined by ``&``; the signature and empty values
    are left out."""
    return "&".join(
        f"{name}={canonical(value)}"
        for name, value in sorted(envelope.items())
        if name != signature_field and value not in (None, "")
    )


def build_request(profile: Profile, infno: str, msgid: str, inf_time: str, payload: Any) -> dict[str, Any]:
    """The envelope with the city's field names; ``cainfo`` is filled in by the signer."""
    values = {
        "infno": infno,
        "msgid": msgid,
        "mdtrtarea_admvs": profile.mdtrtarea_admvs,
        "insuplc_admdvs": profile.insuplc_admdvs,
        "recer_sys_code": profile.recer_sys_code,
        "infver": profile.infver,
        "opter_type": profile.opter_type,
        "opter": profile.opter,
        "opter_name": profile.opter_name,
        "inf_time": inf_time,
        "fixmedins_code": profile.fixmedins_code,
        "sign_no": profile.sign_no,
        "cainfo": "",
        "signtype": profile.signtype,
        "input": payload,
    }
    return {profile.name(k): v for k, v in values.items()}


@dataclass(frozen=True)
class Reply:
    infcode: str
    inf_refmsgid: str
    refmsg_time: str
    respond_time: str
    err_msg: str
    output: Any
    signature: str  # cainfo, when the platform signs its answers


def parse_response(profile: Profile, wire: Any) -> Reply:
    if not isinstance(wire, dict):
        raise MalformedAnswer("the answer is not an envelope (a JSON object)")
    values = {k: wire.get(profile.name(k)) for k in RESPONSE_FIELDS}
    if values["infcode"] is None:
        raise MalformedAnswer(f"the answer has no {profile.name('infcode')}")
    return Reply(
        infcode=str(values["infcode"]),
        inf_refmsgid=str(values["inf_refmsgid"] or ""),
        refmsg_time=str(values["refmsg_time"] or ""),
        respond_time=str(values["respond_time"] or ""),
        err_msg=str(values["err_msg"] or ""),
        output=values["output"],
        signature=str(wire.get(profile.name(SIGNATURE_FIELD)) or ""),
    )
