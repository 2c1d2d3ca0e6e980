"""common.grpc_tls: the CSMS_INTERNAL_TLS_* settings and the material they load."""

from __future__ import annotations

import os
import pathlib

import grpc
import pytest
from pydantic import ValidationError

from common import grpc_tls, pki


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CSMS_* variable of this machine leaks into the settings."""
    for key in list(os.environ):
        if key.startswith("CSMS_"):
            monkeypatch.delenv(key)
    return monkeypatch


@pytest.fixture
def files(tmp_path: pathlib.Path) -> dict[str, pathlib.Path]:
    return pki.write_internal_ca(tmp_path, ["device-svc"], ["localhost"], ["127.0.0.1"])


def _set(env: pytest.MonkeyPatch, files: dict[str, pathlib.Path]) -> None:
    env.setenv("CSMS_INTERNAL_TLS_CERT", str(files["device-svc_cert"]))
    env.setenv("CSMS_INTERNAL_TLS_KEY", str(files["device-svc_key"]))
    env.setenv("CSMS_INTERNAL_TLS_CA", str(files["ca_cert"]))


def test_off_when_nothing_is_set(env: pytest.MonkeyPatch) -> None:
    settings = grpc_tls.InternalTlsSettings()
    assert not settings.enabled
    assert grpc_tls.InternalTls.from_settings(settings) is None


def test_empty_values_count_as_unset(env: pytest.MonkeyPatch) -> None:
    """An empty variable (a blank Kubernetes value, ``VAR=``) is off, not the path ``.``."""
    for name in ("CERT", "KEY", "CA", "SERVER_NAME"):
        env.setenv(f"CSMS_INTERNAL_TLS_{name}", "")
    assert not grpc_tls.InternalTlsSettings().enabled


def test_on_with_the_three_files(env: pytest.MonkeyPatch, files: dict[str, pathlib.Path]) -> None:
    _set(env, files)
    settings = grpc_tls.InternalTlsSettings()
    assert settings.enabled
    tls = grpc_tls.InternalTls.from_settings(settings)
    assert tls is not None
    assert tls.cert_chain == files["device-svc_cert"].read_bytes()
    assert tls.private_key == files["device-svc_key"].read_bytes()
    assert tls.root_ca == files["ca_cert"].read_bytes()
    assert tls.channel_options() == []  # the host dialled is the name checked
    assert isinstance(tls.server_credentials(), grpc.ServerCredentials)
    assert isinstance(tls.channel_credentials(), grpc.ChannelCredentials)


def test_server_name_overrides_the_target_name(
    env: pytest.MonkeyPatch, files: dict[str, pathlib.Path]
) -> None:
    _set(env, files)
    env.setenv("CSMS_INTERNAL_TLS_SERVER_NAME", "gateway")
    tls = grpc_tls.InternalTls.from_settings(grpc_tls.InternalTlsSettings())
    assert tls is not None
    assert tls.channel_options() == [("grpc.ssl_target_name_override", "gateway")]


@pytest.mark.parametrize("missing", ["CERT", "KEY", "CA"])
def test_part_of_the_files_is_an_error(
    env: pytest.MonkeyPatch, files: dict[str, pathlib.Path], missing: str
) -> None:
    """Two of three files is a mistake to report, never a silent fall back to plaintext."""
    _set(env, files)
    env.delenv(f"CSMS_INTERNAL_TLS_{missing}")
    with pytest.raises(ValidationError, match=f"CSMS_INTERNAL_TLS_{missing} unset"):
        grpc_tls.InternalTlsSettings()


def test_server_name_without_files_is_an_error(env: pytest.MonkeyPatch) -> None:
    env.setenv("CSMS_INTERNAL_TLS_SERVER_NAME", "gateway")
    with pytest.raises(ValidationError, match="internal TLS is off"):
        grpc_tls.InternalTlsSettings()


def test_a_missing_file_is_named(files: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    with pytest.raises(grpc_tls.InternalTlsError, match="nope.pem"):
        grpc_tls.InternalTls.from_files(
            tmp_path / "nope.pem", files["device-svc_key"], files["ca_cert"]
        )


def test_a_file_that_is_not_pem_is_refused(
    files: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(grpc_tls.InternalTlsError, match="not a PEM certificate"):
        grpc_tls.InternalTls.from_files(files["device-svc_cert"], files["device-svc_key"], junk)


def test_a_key_of_another_certificate_is_refused(
    files: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    """Cert and key swapped between processes: caught at start, not at the first handshake."""
    other = pki.write_internal_ca(tmp_path, ["user-svc"], [], ["127.0.0.1"])
    with pytest.raises(grpc_tls.InternalTlsError, match="is not the key of"):
        grpc_tls.InternalTls.from_files(
            files["device-svc_cert"], other["user-svc_key"], files["ca_cert"]
        )


def test_configured_reads_the_environment_once(
    env: pytest.MonkeyPatch, files: dict[str, pathlib.Path]
) -> None:
    """The process's material is read at first use and kept (one settings object per process)."""
    grpc_tls.configured.cache_clear()
    try:
        _set(env, files)
        first = grpc_tls.configured()
        assert first is not None
        env.delenv("CSMS_INTERNAL_TLS_CERT")
        assert grpc_tls.configured() is first
    finally:
        grpc_tls.configured.cache_clear()


async def test_channels_follow_the_choice(files: dict[str, pathlib.Path]) -> None:
    """tls=None: plaintext; an InternalTls: a secure channel (both are grpc.aio channels)."""
    tls = grpc_tls.InternalTls.from_files(
        files["device-svc_cert"], files["device-svc_key"], files["ca_cert"]
    )
    for choice in (None, tls):
        async with grpc_tls.aio_channel("127.0.0.1:1", tls=choice) as channel:
            assert isinstance(channel, grpc.aio.Channel)
        with grpc_tls.channel("127.0.0.1:1", tls=choice) as sync:
            assert isinstance(sync, grpc.Channel)
