"""ISO 15118 Plug & Charge (OCPP 2.0.1 blocks C and M): the V2G and mobility-operator test PKI the
CSMS embeds, contract certificates for Get15118EVCertificate, OCSP for GetCertificateStatus.

Rooms: :mod:`.domain` (certificates and OCSP, pure computation), :mod:`.embedded` (the embedded
provider: the test PKI on disk, its contracts and revocations), :mod:`.ocsp_client` (forwarding a
station's OCSP request to its responder, cached until nextUpdate), :mod:`.responder` (the
embedded PKI's OCSP responder over HTTP), :mod:`.service` (the use cases device_svc's servicer
calls).
"""
