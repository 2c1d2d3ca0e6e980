"""device_svc.plug_and_charge.domain: the test PKI, contracts, OCSP answers, chain checks."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from common import pki
from device_svc.plug_and_charge import domain

URL = "http://127.0.0.1:1/ocsp"


@pytest.fixture(scope="module")
def test_pki() -> domain.TestPki:
    return domain.new_test_pki(URL)


def _request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    built = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build()
    return built.public_bytes(serialization.Encoding.DER)


def test_contract_chains_to_the_v2g_root_and_names_its_emaid(test_pki: domain.TestPki) -> None:
    contract = domain.issue_contract(test_pki, "NL-TST-C12345678-9", URL)
    chain = [contract.cert, *contract.chain]
    assert pki.subject_cn(contract.cert) == "NL-TST-C12345678-9"
    assert domain.verify_contract_chain(chain, [test_pki.v2g_root.cert]) == "Accepted"
    assert domain.verify_contract_chain(chain, [test_pki.mo_root.cert]) == "Accepted"
    aia = contract.cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    assert aia.value[0].access_location.value == URL


def test_a_chain_of_another_pki_or_missing_its_sub_ca_is_a_chain_error(
    test_pki: domain.TestPki,
) -> None:
    other = domain.issue_contract(domain.new_test_pki(""), "NL-TST-C12345678", "")
    assert (
        domain.verify_contract_chain([other.cert, *other.chain], [test_pki.v2g_root.cert])
        == "CertChainError"
    )
    mine = domain.issue_contract(test_pki, "NL-TST-C12345678", URL)
    assert domain.verify_contract_chain([mine.cert], [test_pki.mo_root.cert]) == "CertChainError"


def test_an_expired_contract_is_certificate_expired(test_pki: domain.TestPki) -> None:
    contract = domain.issue_contract(test_pki, "NL-TST-C12345678", URL)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3650)
    chain = [contract.cert, *contract.chain]
    assert (
        domain.verify_contract_chain(chain, [test_pki.v2g_root.cert], at=later)
        == "CertificateExpired"
    )


@pytest.mark.parametrize("emaid", ["", "not an emaid", "NL-TST-C1"])
def test_only_emaids_get_contracts(test_pki: domain.TestPki, emaid: str) -> None:
    with pytest.raises(pki.PkiError):
        domain.issue_contract(test_pki, emaid, URL)


def test_ocsp_answers_good_revoked_unknown_signed_by_the_issuer(
    test_pki: domain.TestPki,
) -> None:
    contract = domain.issue_contract(test_pki, "NL-TST-C12345678", URL)
    issuer = test_pki.mo_sub_ca.cert
    request = _request(contract.cert, issuer)
    now = datetime.datetime.now(datetime.UTC)
    hour = datetime.timedelta(hours=1)
    cases = {
        ocsp.OCSPCertStatus.GOOD: {contract.cert.serial_number: None},
        ocsp.OCSPCertStatus.REVOKED: {contract.cert.serial_number: now},
        ocsp.OCSPCertStatus.UNKNOWN: {},
    }
    for expected, issued in cases.items():
        der = domain.ocsp_answer(test_pki.authorities(), request, issued, validity=hour)
        answer = ocsp.load_der_ocsp_response(der)
        assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        assert answer.certificate_status is expected
        assert answer.serial_number == contract.cert.serial_number
        assert answer.next_update_utc is not None
        assert answer.next_update_utc - answer.this_update_utc == hour
        # Signed by the certificate's issuer, and it says so.
        assert answer.responder_key_hash is not None
        issuer.public_key().verify(  # type: ignore[call-arg, union-attr]
            answer.signature, answer.tbs_response_bytes, _ecdsa()
        )


def test_ocsp_refuses_other_cas_and_garbage(test_pki: domain.TestPki) -> None:
    other = domain.new_test_pki("")
    foreign = domain.issue_contract(other, "NL-TST-C12345678", "")
    hour = datetime.timedelta(hours=1)
    der = domain.ocsp_answer(
        test_pki.authorities(), _request(foreign.cert, other.mo_sub_ca.cert), {}, validity=hour
    )
    assert ocsp.load_der_ocsp_response(der).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    der = domain.ocsp_answer(test_pki.authorities(), b"garbage", {}, validity=hour)
    assert (
        ocsp.load_der_ocsp_response(der).response_status
        is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )


def test_ocsp_request_from_ocpp_hash_data_is_the_one_a_station_means(
    test_pki: domain.TestPki,
) -> None:
    contract = domain.issue_contract(test_pki, "NL-TST-C12345678", URL)
    expected = ocsp.load_der_ocsp_request(_request(contract.cert, test_pki.mo_sub_ca.cert))
    built = ocsp.load_der_ocsp_request(
        domain.ocsp_request(
            "SHA256",
            expected.issuer_name_hash.hex(),
            expected.issuer_key_hash.hex(),
            format(contract.cert.serial_number, "x"),
        )
    )
    assert (built.issuer_name_hash, built.issuer_key_hash, built.serial_number) == (
        expected.issuer_name_hash,
        expected.issuer_key_hash,
        expected.serial_number,
    )
    with pytest.raises(pki.PkiError):
        domain.ocsp_request("MD5", "00", "00", "01")
    with pytest.raises(pki.PkiError):
        domain.ocsp_request("SHA256", "zz", "00", "01")


def _ecdsa() -> object:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.ECDSA(hashes.SHA256())


def _answer(test_pki: domain.TestPki, cert: x509.Certificate, issued: dict[int, Any]) -> bytes:
    request = _request(cert, test_pki.mo_sub_ca.cert)
    return domain.ocsp_answer(
        test_pki.authorities(), request, issued, validity=datetime.timedelta(hours=1)
    )


def _cert_id(cert: x509.Certificate, issuer: x509.Certificate) -> tuple[bytes, bytes, int]:
    request = ocsp.load_der_ocsp_request(_request(cert, issuer))
    return request.issuer_name_hash, request.issuer_key_hash, request.serial_number


def test_an_ocsp_answer_is_believed_only_about_its_certificate_signed_by_its_issuer(
    test_pki: domain.TestPki,
) -> None:
    issuer = test_pki.mo_sub_ca.cert
    mine = domain.issue_contract(test_pki, "NL-TST-C12345678", URL).cert
    another = domain.issue_contract(test_pki, "NL-TST-C87654321", URL).cert
    good = _answer(test_pki, mine, {mine.serial_number: None, another.serial_number: None})
    name, key, serial = _cert_id(mine, issuer)
    # Signed by the issuer: believed with the issuer known, and from the certificate it carries.
    assert domain.verify_ocsp_response(good, "SHA256", name, key, serial, issuer) == ""
    assert domain.verify_ocsp_response(good, "SHA256", name, key, serial) == ""
    # Another certificate's good answer replayed for this one.
    other = _answer(test_pki, another, {another.serial_number: None})
    assert "another certificate" in domain.verify_ocsp_response(
        other, "SHA256", name, key, serial, issuer
    )
    # Not current any more.
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=2)
    assert "not current" in domain.verify_ocsp_response(
        good, "SHA256", name, key, serial, issuer, at=later
    )
    # An answer about this very CertID signed by someone else (carrying their certificate).
    forger = domain.new_test_pki(URL).mo_sub_ca
    now = datetime.datetime.now(datetime.UTC)
    forged = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            name, key, serial, hashes.SHA256(), ocsp.OCSPCertStatus.GOOD, now, None, None, None
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, forger.cert)
        .certificates([forger.cert])
        .sign(forger.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    assert "not signed" in domain.verify_ocsp_response(forged, "SHA256", name, key, serial, issuer)
    assert "not signed" in domain.verify_ocsp_response(forged, "SHA256", name, key, serial)
    assert domain.verify_ocsp_response(b"junk", "SHA256", name, key, serial) != ""
