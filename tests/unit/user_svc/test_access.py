"""Tests for user_svc.access: secrets, and the management API's decisions as a table."""

from __future__ import annotations

import pytest

from user_svc import access
from user_svc.access import OPERATOR, READER, Decision, decide

LIST = "/csms.device.v1.DeviceService/ListChargingStations"
RESET = "/csms.device.v1.DeviceService/Reset"
GET_VARIABLES = "/csms.device.v1.DeviceService/GetVariables"
UPDATE_PASSWORD = "/csms.device.v1.DeviceService/UpdateBasicAuthPassword"
UPDATE_PASSWORD_REST = "/v1/chargingStations/CS1:updateBasicAuthPassword"
BOOT = "/csms.device.v1.DeviceService/BootNotification"
AUTHORIZE = "/csms.user.v1.UserService/Authorize"
STATION_CALL = "/csms.gateway.v1.StationControlService/Call"
LIST_KEYS = "/csms.user.v1.UserService/ListApiKeys"
LIST_KEYS_REST = "/csms.user.v1.UserRestService/ListApiKeys"


def test_new_secret_names_its_id_and_is_random() -> None:
    """csms_<8-char id>_<43 url-safe chars>; the id is read back from it; two never agree."""
    key_id, secret = access.new_secret()
    assert secret.startswith(f"csms_{key_id}_") and len(key_id) == 8
    assert len(secret) == len("csms_") + 8 + 1 + 43
    assert access.key_id_of(secret) == key_id
    assert access.new_secret() != (key_id, secret)


@pytest.mark.parametrize(
    "presented",
    ["", "csms_", "nope", "csms_abc_" + "x" * 43, "csms_ABCDEFGH_" + "x" * 43, "csms_abcdefgh_x"],
)
def test_key_id_of_refuses_what_is_not_a_secret(presented: str) -> None:
    """Anything not shaped like a secret claims no id (and costs no database lookup)."""
    assert access.key_id_of(presented) is None


def test_hash_is_sha256_and_matches_only_its_secret() -> None:
    """The stored hash is the secret's hex SHA-256; another secret does not match it."""
    _, secret = access.new_secret()
    stored = access.hash_secret(secret)
    assert len(stored) == 64 and secret not in stored
    assert access.secret_matches(secret, stored)
    assert not access.secret_matches(access.new_secret()[1], stored)


def test_every_rest_read_is_a_get_or_list_method() -> None:
    """The methods read over GET are the Get*/List* the contract lets READER call."""
    assert access.READ_METHODS
    for path in access.READ_METHODS:
        assert path.rsplit("/", 1)[1].startswith(("Get", "List")), path
    assert GET_VARIABLES not in access.READ_METHODS  # a command to a station, not a read


def test_internal_methods_are_the_station_facing_ones() -> None:
    """The listed station-facing RPCs, which are exactly those without a REST binding."""
    assert {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "Authorize",
        "TransactionEvent",
        "MeterValues",
        "NotifyReport",
        "NotifyCustomerInformation",
        "NotifyEvent",
        "StationDataTransfer",
        "SecurityEventNotification",
        "SignCertificate",
        "ConnectStation",
        "DisconnectStation",
        "RenewLeases",
        "RenewGatewayLease",
    } <= access.INTERNAL_METHODS
    assert "ListChargingStations" not in access.INTERNAL_METHODS


ALLOW = access.ALLOW


@pytest.mark.parametrize(
    ("method", "path", "role", "presented", "legacy", "status"),
    [
        pytest.param(
            "GET", "/v1/chargingStations?pageSize=2", READER, True, False, 200, id="reader-get"
        ),
        pytest.param("POST", "/v1/chargingStations", READER, True, False, 403, id="reader-post"),
        pytest.param("DELETE", "/v1/idTokens/x", READER, True, False, 403, id="reader-delete"),
        pytest.param("POST", LIST, READER, True, False, 200, id="reader-grpc-list"),
        pytest.param("POST", RESET, READER, True, False, 403, id="reader-grpc-command"),
        pytest.param("POST", GET_VARIABLES, READER, True, False, 403, id="reader-grpc-get-cmd"),
        pytest.param("POST", "/v1/chargingStations", OPERATOR, True, False, 200, id="op-post"),
        pytest.param("POST", RESET, OPERATOR, True, False, 200, id="op-grpc-command"),
        # The CSMS's own password rotation (A01): a command like Reset, an operator's.
        pytest.param("POST", UPDATE_PASSWORD, OPERATOR, True, False, 200, id="op-grpc-password"),
        pytest.param("POST", UPDATE_PASSWORD, READER, True, False, 403, id="reader-grpc-password"),
        pytest.param(
            "POST", UPDATE_PASSWORD_REST, OPERATOR, True, False, 200, id="op-rest-password"
        ),
        pytest.param(
            "POST", UPDATE_PASSWORD_REST, READER, True, False, 403, id="reader-rest-password"
        ),
        pytest.param("POST", UPDATE_PASSWORD_REST, None, False, True, 401, id="no-key-password"),
        pytest.param("POST", "/v1/apiKeys", OPERATOR, True, False, 200, id="op-create-key"),
        # The key listing names every key and its role: an operator's business, not a reader's.
        pytest.param("GET", "/v1/apiKeys", READER, True, False, 403, id="reader-list-keys"),
        pytest.param("GET", "/v1/apiKeys?x=1", READER, True, False, 403, id="reader-keys-query"),
        pytest.param("GET", "/v1/apiKeys/", READER, True, False, 403, id="reader-keys-slash"),
        pytest.param("GET", "//v1//apiKeys", READER, True, False, 403, id="reader-keys-slashes"),
        pytest.param("GET", "/v1/api%4Beys", READER, True, False, 403, id="reader-keys-escaped"),
        pytest.param("POST", LIST_KEYS, READER, True, False, 403, id="reader-grpc-list-keys"),
        pytest.param("POST", LIST_KEYS_REST, READER, True, False, 403, id="reader-rest-list-keys"),
        pytest.param("GET", "/v1/apiKeys", OPERATOR, True, False, 200, id="op-list-keys"),
        pytest.param("POST", LIST_KEYS, OPERATOR, True, False, 200, id="op-grpc-list-keys"),
        pytest.param("GET", "/v1/chargingStations", None, False, False, 401, id="no-key"),
        pytest.param("GET", "/v1/chargingStations", None, True, False, 401, id="wrong-key"),
        pytest.param("POST", BOOT, OPERATOR, True, False, 403, id="internal-boot"),
        pytest.param("POST", AUTHORIZE, OPERATOR, True, False, 403, id="internal-authorize"),
        pytest.param("POST", STATION_CALL, OPERATOR, True, False, 403, id="gateway-service"),
        pytest.param(
            "POST",
            "/csms.device.v1.DeviceService/Boot%4Eotification",
            OPERATOR,
            True,
            False,
            403,
            id="internal-escaped",
        ),
        pytest.param("POST", BOOT, None, False, False, 401, id="internal-no-key"),
        pytest.param("POST", "/chargingstations/create", None, False, True, 200, id="legacy-on"),
        pytest.param("POST", "/chargingstations/create", None, False, False, 401, id="legacy-off"),
        pytest.param(
            "POST", "/chargingstations/create", None, True, True, 401, id="legacy-wrong-key"
        ),
        pytest.param(
            "POST", "/chargingstations/create", READER, True, True, 403, id="legacy-reader"
        ),
        pytest.param("GET", "/chargingstations/create", None, False, True, 401, id="legacy-get"),
        pytest.param("POST", "/v1/chargingStations", None, False, True, 401, id="legacy-only"),
    ],
)
def test_decide(
    method: str, path: str, role: str | None, presented: bool, legacy: bool, status: int
) -> None:
    """Who may do what through Envoy."""
    decision = decide(
        method, path, role, key_presented=presented, allow_anonymous_legacy_create=legacy
    )
    assert decision.status == status, decision
    assert decision.allowed == (status == 200)
    assert decision == ALLOW or decision.message


def test_refusals_say_why() -> None:
    """A missing key is told how to send one; a wrong one that it is not valid."""
    missing = decide("GET", "/v1/idTokens", None, key_presented=False)
    wrong = decide("GET", "/v1/idTokens", None, key_presented=True)
    assert "Authorization: Bearer" in missing.message
    assert "not valid" in wrong.message
    assert decide("POST", "/v1/idTokens", READER, key_presented=True) == Decision(
        403, "the API key's role (reader) may only read (GET, Get*/List*)"
    )
