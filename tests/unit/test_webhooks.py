"""Webhooks' pure parts: the signature (and docs/webhooks.md's verification example against it),
which targets are refused (SSRF), the backoff, and production's refusal of local targets."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import ConfigError, Settings
from gateway.domain.webhooks import address_problem, backoff_seconds, body_of, signature, url_problems
from gateway.environment import check
from gateway.orchestration.webhook_delivery import Delivery, DeliveryPolicy, send, target_problem
from gateway.services import webhooks as service

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def docs_verify() -> Callable[..., bool]:
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    verify: Callable[..., bool] = namespace["verify"]
    return verify


def test_the_signature_is_hmac_sha256_of_the_timestamp_and_body_and_the_docs_example_checks_it() -> None:
    body = body_of({"type": "claim.coordinated", "claim_number": "NH-1"})
    header = signature("whsec_x", 1_700_000_000, body)
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    verify, now = docs_verify(), int(time.time())
    assert verify("whsec_x", signature("whsec_x", now, body), body)
    assert not verify("whsec_x", signature("whsec_x", now, body), body + b" ")
    assert not verify("whsec_x", "garbage", body) and not verify("whsec_x", "t=x,v1=y", body)


@pytest.mark.parametrize(
    ("url", "local", "refused"),
    [
        ("https://care.example/hooks", False, False),
        ("https://care.example:8443/hooks?tenant=3", False, False),
        ("http://care.example/hooks", False, True),  # https only
        ("http://127.0.0.1:8080/hooks", True, False),  # tests and development
        ("https://127.0.0.1/hooks", False, True),
        ("https://[::1]/hooks", False, True),
        ("https://10.1.2.3/hooks", False, True),
        ("https://169.254.169.254/latest/meta-data", False, True),  # cloud metadata
        ("https://[::ffff:192.168.0.1]/hooks", False, True),  # IPv4-mapped
        ("https://localhost/hooks", False, True),
        ("https://printer.local/hooks", False, True),
        ("https://db.internal/hooks", False, True),
        ("https://user:pw@care.example/hooks", False, True),
        ("https://care.example/hooks#x", False, True),
        ("ftp://care.example/hooks", True, True),
        ("https://", False, True),
        ("https://care.example:99999/", False, True),
        ("https://xn--fiqs8s.example/hooks", False, False),  # an IDN, as punycode
        ("https://护理.example/hooks", False, True),
        ("https://a_b.example/hooks", False, True),
        ("http://a_b.example/hooks", True, True),  # not a host name, even locally
        ("http://[fe80::1%25eth0]:8080/hooks", True, False),
        ("https://-care.example/hooks", False, True),
        ("https://" + "a" * 64 + ".example/hooks", False, True),
        ("https://care.example/" + "a" * 2048, False, True),
    ],
)
def test_url_problems(url: str, local: bool, refused: bool) -> None:
    assert bool(url_problems(url, local)) == refused


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.8", False),
        ("172.20.1.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # shared (carrier-grade NAT)
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fd00::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_address_problem(address: str, public: bool) -> None:
    assert (address_problem(address) is None) == public


def test_backoff_doubles_from_the_first_wait_up_to_the_largest() -> None:
    assert [backoff_seconds(n, 30, 3600) for n in (1, 2, 3, 4, 8, 9, 40)] == [
        30,
        60,
        120,
        240,
        3600,
        3600,
        3600,
    ]


def resolver_to(*addresses: str) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        if not addresses:
            raise OSError("no such host")
        return list(addresses)

    return resolve


def test_a_name_that_resolves_to_a_private_address_is_refused_at_registration_and_at_each_delivery() -> None:
    url = "https://hooks.care.example/x"
    assert asyncio.run(target_problem(url, False, resolver_to("93.184.216.34"))) is None
    assert "10.0.0.5" in str(
        asyncio.run(target_problem(url, False, resolver_to("93.184.216.34", "10.0.0.5")))
    )
    assert "does not resolve" in str(asyncio.run(target_problem(url, False, resolver_to())))
    assert asyncio.run(target_problem(url, True, resolver_to("127.0.0.1"))) is None  # allowed locally
    assert "169.254.169.254" in str(service.target_problem(url, lambda host, port: ["169.254.169.254"]))
    assert service.target_problem(url, lambda host, port: ["93.184.216.34"]) is None

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise AssertionError("a refused target must not be connected to")

    async def deliver() -> Any:
        delivery = Delivery(1, url, "whsec_x", "e-1", "claim.coordinated", {"type": "claim.coordinated"})
        async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as client:
            return await send(client, delivery, DeliveryPolicy(), resolver_to("192.168.0.10"))

    attempt = asyncio.run(deliver())
    assert not attempt.delivered and attempt.error is not None and attempt.error.startswith("refused")
    assert "whsec_x" not in repr(Delivery(1, url, "whsec_x", "e", "t", {}))  # never in a log line


def test_production_refuses_local_webhook_targets() -> None:
    keys = {"LTC_DATA_KEYS": "k", "LTC_LOOKUP_KEY": "l", "LTC_AUDIT_KEY": "a"}
    check(Settings(environment="production"), keys)
    with pytest.raises(ConfigError, match="LTC_WEBHOOK_ALLOW_LOCAL"):
        check(Settings(environment="production", webhook_allow_local=True), keys)
