"""Tests for user_svc.service: the Authorize decision as a table, and token validation."""

from __future__ import annotations

import datetime

import pytest

from common.errors import InvalidArgument
from user_svc.models import IdToken
from user_svc.service import (
    ANY_TYPE,
    Authorization,
    decide,
    token_key,
    validate_id_token,
    with_contract,
)

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(days=1)
EARLIER = NOW - datetime.timedelta(seconds=1)


def _token(
    type_: str = "",
    status: str = "Accepted",
    expiry: datetime.datetime | None = None,
    group: str = "",
) -> IdToken:
    return IdToken(
        key="tok",
        id_token="TOK",
        type=type_,
        status=status,
        expiry_date=expiry,
        group_id_token=group,
    )


@pytest.mark.parametrize(
    ("token", "presented", "expected"),
    [
        pytest.param(None, "ISO14443", Authorization("Unknown"), id="unknown"),
        pytest.param(_token(), "ISO14443", Authorization("Accepted"), id="accepted"),
        pytest.param(
            _token(expiry=LATER, group="FLEET"),
            "ISO14443",
            Authorization("Accepted", LATER, "FLEET"),
            id="accepted-with-expiry-and-group",
        ),
        pytest.param(
            _token(expiry=NOW), "ISO14443", Authorization("Accepted", NOW), id="expires-now"
        ),
        pytest.param(_token(expiry=EARLIER), "ISO14443", Authorization("Expired"), id="expired"),
        pytest.param(_token(status="Blocked"), "ISO14443", Authorization("Blocked"), id="blocked"),
        pytest.param(
            _token(status="Blocked", expiry=EARLIER, group="FLEET"),
            "ISO14443",
            Authorization("Blocked"),
            id="blocked-and-expired-is-blocked",
        ),
        pytest.param(_token(status="Invalid"), "ISO14443", Authorization("Invalid"), id="invalid"),
        pytest.param(
            _token(status="NoCredit"), "Central", Authorization("NoCredit"), id="no-credit"
        ),
        pytest.param(_token("ISO14443"), "ISO14443", Authorization("Accepted"), id="same-type"),
        pytest.param(_token("ISO14443"), "eMAID", Authorization("Unknown"), id="other-type"),
        pytest.param(
            _token("ISO14443", status="Blocked"),
            "eMAID",
            Authorization("Unknown"),
            id="other-type-hides-status",
        ),
        pytest.param(_token(""), "KeyCode", Authorization("Accepted"), id="untyped-matches-any"),
        pytest.param(_token("ISO14443"), "", Authorization("Unknown"), id="no-type-presented"),
        pytest.param(_token("eMAID"), ANY_TYPE, Authorization("Accepted"), id="1.6-idtag-any-type"),
        pytest.param(
            _token("ISO14443", status="Blocked"),
            ANY_TYPE,
            Authorization("Blocked"),
            id="1.6-idtag-sees-status",
        ),
        pytest.param(None, ANY_TYPE, Authorization("Unknown"), id="1.6-idtag-unknown"),
        pytest.param(None, "NoAuthorization", Authorization("Accepted"), id="no-authorization"),
    ],
)
def test_decide(token: IdToken | None, presented: str, expected: Authorization) -> None:
    """Each stored token and presented type gets the answer of the table."""
    assert decide(token, presented, NOW) == expected


@pytest.mark.parametrize("value", ["", "x" * 37, "İ" * 36])
def test_validate_id_token_rejects(value: str) -> None:
    """Empty values and values (or their lower-case keys) over 36 characters are refused."""
    with pytest.raises(InvalidArgument):
        validate_id_token(value)


def test_validate_id_token_accepts_36() -> None:
    """Exactly 36 characters, OCPP's maximum, is fine."""
    validate_id_token("x" * 36)


def test_token_key_ignores_case() -> None:
    """Spellings that differ only in case share one key."""
    assert token_key("04A2b3") == token_key("04a2B3") == "04a2b3"


@pytest.mark.parametrize(
    "certificate_status",
    [
        "CertificateRevoked",
        "CertChainError",
        "CertificateExpired",
        "NoCertificateAvailable",
        "SignatureError",
        "ContractCancelled",
    ],
)
def test_a_contract_not_accepted_authorizes_nothing(certificate_status: str) -> None:
    """C07.FR.16: whatever the eMAID's own status, a refused contract is Invalid."""
    accepted = Authorization("Accepted", group_id_token="G1")
    assert with_contract(accepted, certificate_status) == Authorization("Invalid")


@pytest.mark.parametrize("status", ["Accepted", "Blocked", "Unknown", "Expired"])
def test_an_accepted_contract_leaves_the_emaid_decision(status: str) -> None:
    decision = Authorization(status)
    assert with_contract(decision, "Accepted") is decision


def test_a_certificate_of_another_emaid_authorizes_nothing() -> None:
    decision = Authorization("Accepted")
    assert with_contract(decision, "Accepted", "NL-TST-C1", "NL-TST-C2") == Authorization("Invalid")
    # Hyphens and case are spelling, not identity; hash data alone names no eMAID.
    assert with_contract(decision, "Accepted", "nltstc12345678", "NL-TST-C12345678") is decision
    assert with_contract(decision, "Accepted", "NL-TST-C1", "") is decision
