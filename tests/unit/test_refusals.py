"""The domain's refusals carry no HTTP; the API maps every one of them to a problem status, and
one check admits a caller by key and role."""

from __future__ import annotations

import inspect

import pytest

from gateway import errors
from gateway.api.problems import STATUSES, status_of
from gateway.errors import Forbidden, Invalid, ServiceError, Unauthenticated
from gateway.services.keys import Principal, Role, admit

REFUSALS = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, ServiceError)]


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda c: c.__name__)
def test_a_domain_error_carries_no_http_status_and_the_api_maps_it(refusal: type[ServiceError]) -> None:
    assert not hasattr(refusal, "status") and not hasattr(refusal, "title")
    assert refusal in STATUSES


def test_an_error_of_a_subclass_answers_as_its_nearest_mapped_class() -> None:
    class Stale(Invalid):
        pass

    assert status_of(Stale([("/round", "is stale")])) == (422, "Invalid request")


def test_one_check_admits_a_caller_by_key_and_role() -> None:
    payer = Principal("k1", Role.PAYER, "huiminbao")
    assert admit(payer, {Role.PAYER}) is payer
    with pytest.raises(Unauthenticated, match="unknown or revoked"):
        admit(None, {Role.PAYER})
    with pytest.raises(Forbidden, match=r"role payer may not do this \(allowed: bureau, provider\)"):
        admit(payer, (Role.PROVIDER, Role.BUREAU))
