"""device_svc settings, from ``CSMS_DEVICE_*`` environment variables."""

from __future__ import annotations

import functools

from pydantic_settings import SettingsConfigDict

from common.settings import (
    DEFAULT_MAX_FIRMWARE_BYTES,
    DEFAULT_MAX_LOG_BYTES,
    DEFAULT_PORTS,
    ServiceSettings,
)
from device_svc.files import FileSettings

__all__ = ["Settings", "get_settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CSMS_DEVICE_", extra="ignore", frozen=True)

    grpc_listen: str = f"127.0.0.1:{DEFAULT_PORTS['device']}"
    metrics_port: int = DEFAULT_PORTS["device_metrics"]
    database_url: str = "sqlite+aiosqlite:///var/device.sqlite"
    # Seconds between Heartbeats that BootNotification asks of stations.
    heartbeat_interval: int = 300
    # Events of a monitor of this severity or a more severe one (lower number) are alerts.
    alert_severity: int = 2
    # Each new alert is POSTed here (JSON: {"alert": ...} as REST shows it), retried with
    # backoff; empty: no webhook. With a secret, x-csms-signature: sha256=<HMAC of the body>.
    alert_webhook_url: str = ""
    alert_webhook_secret: str = ""
    alert_webhook_timeout: float = 5.0
    alert_webhook_max_attempts: int = 12
    # Seconds a CSMS-initiated call may wait for the gateway (and so the station) when the caller
    # gave no deadline or a longer one. Above the gateway's own call_timeout (30 s), so that the
    # station's silence comes back as the gateway's DEADLINE_EXCEEDED.
    gateway_call_timeout: float = 35.0
    # transaction_svc's host:port: a RequestStartTransaction the station accepted is recorded
    # there (RecordRemoteStart), so that its transaction shows the idToken the CSMS sent.
    transaction_svc_addr: str = f"127.0.0.1:{DEFAULT_PORTS['transaction']}"
    # Seconds transaction_svc gets to record it; the station's answer is returned either way.
    transaction_svc_timeout: float = 5.0
    # The lease when a gateway's ConnectStation, RenewGatewayLease or RenewLeases gives none.
    default_lease_seconds: int = 30
    # Seconds between answering a station's CALL and sending the call that follows it in the
    # background (GetBaseReport after a Pending BootNotification under the automatic accept rule,
    # CertificateSigned after SignCertificate): time for the gateway to put our CALLRESULT on the
    # wire first.
    boot_followup_delay: float = 1.0
    # The CA that signs stations' CSRs (SignCertificate): a PEM certificate and its unencrypted
    # PEM key; give both or neither. Neither: the local CA in local_ca_dir (ca.pem, ca.key),
    # created on first start with common.pki.write_local_ca, so `make up` and its TLS mode can
    # share it.
    ca_cert_path: str = ""
    ca_key_path: str = ""
    local_ca_dir: str = "var/tls"
    # The CPO's name (OCPP's CpoName / SecurityCtrlr.OrganizationName): a station certificate's
    # subject O must be this, in the CSRs the CSMS signs and in the client certificates of
    # connections (A00.FR.404, 2.0.1 and the 1.6 security whitepaper). Empty: O not checked.
    cpo_name: str = ""
    # Files stations download (firmware images) and upload (logs): kept under this directory.
    files_dir: str = "var/files"
    # The base of the URLs given to stations (<base>/files/<token>): the API port, as stations
    # reach it (through Envoy, which serves /files/ without an API key: the token is the key).
    files_base_url: str = "http://127.0.0.1:5000"
    # Size limits of an uploaded firmware image and of a station's log, in bytes.
    max_firmware_bytes: int = DEFAULT_MAX_FIRMWARE_BYTES
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
    # Seconds a URL given to a station works (after a firmware's retrieveDateTime).
    file_token_seconds: int = 24 * 3600
    # The station message log: frames kept this many days, and at most this many frames (the
    # oldest go first).
    message_log_days: int = 7
    message_log_max_frames: int = 5_000_000
    # Seconds between two looks at the fleet while someone watches it (FleetService.WatchFleet:
    # the console's live pages); nothing is looked at while nobody watches.
    fleet_watch_interval: float = 1.0
    # Seconds between two looks at the running firmware rollouts.
    rollout_tick: float = 1.0
    # Keep the files in a bucket of an S3-compatible object store instead of files_dir (AWS,
    # or MinIO, Ceph, ... at files_s3_endpoint_url); credentials as boto3 finds them
    # (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws, an instance role).
    files_s3_bucket: str = ""
    files_s3_prefix: str = ""
    files_s3_endpoint_url: str = ""
    files_s3_region: str = ""
    # ISO 15118 Plug & Charge (device_svc/plug_and_charge). The embedded test PKI (V2G root, MO
    # root and sub-CA, CPO sub-CA, the contracts it issued and revoked) lives in pnc_dir, made on
    # first use; FOR TESTING ONLY: pnc_embedded_pki=false turns it off (then V2G certificates are
    # signed by the CSMS's CA, contracts come only from pnc_provider_url and are checked only
    # against pnc_trusted_roots_path). Its OCSP responder listens on pnc_ocsp_listen (host:port;
    # "" none) and its certificates name pnc_ocsp_url (default http://<pnc_ocsp_listen>/ocsp);
    # its answers are valid (nextUpdate) for pnc_ocsp_validity seconds.
    pnc_embedded_pki: bool = True
    pnc_dir: str = "var/pnc"
    pnc_ocsp_listen: str = ""
    pnc_ocsp_url: str = ""
    pnc_ocsp_validity: int = 3600
    # Seconds to wait for an OCSP responder (GetCertificateStatus, Authorize of a contract).
    pnc_ocsp_timeout: float = 5.0
    # A contract certificate provider over HTTP instead of the embedded one (see README, Plug &
    # Charge): its URL and bearer token.
    pnc_provider_url: str = ""
    pnc_provider_token: str = ""
    pnc_provider_timeout: float = 10.0
    # A PEM file of further V2G / MO roots contracts are checked against (a real operator's).
    pnc_trusted_roots_path: str = ""

    def ocsp_url(self) -> str:
        if self.pnc_ocsp_url or not self.pnc_ocsp_listen:
            return self.pnc_ocsp_url
        return f"http://{self.pnc_ocsp_listen}/ocsp"

    def file_settings(self) -> FileSettings:
        return FileSettings(
            directory=self.files_dir,
            base_url=self.files_base_url,
            max_firmware_bytes=self.max_firmware_bytes,
            max_log_bytes=self.max_log_bytes,
            token_seconds=self.file_token_seconds,
            rollout_tick=self.rollout_tick,
            s3_bucket=self.files_s3_bucket,
            s3_prefix=self.files_s3_prefix,
            s3_endpoint_url=self.files_s3_endpoint_url,
            s3_region=self.files_s3_region,
        )


@functools.cache
def get_settings() -> Settings:
    return Settings()
