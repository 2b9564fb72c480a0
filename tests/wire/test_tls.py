"""The server speaks TLS from a certificate and key in the settings; the client verifies it."""

from __future__ import annotations

import http.client
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from drucker.client import Client, Unavailable
from drucker.errors import ConfigurationError
from drucker.settings import load_settings
from tests.conftest import ECHO_PLUGIN
from tests.serving import ThreadedServer, free_port


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_round_trip(certificate: tuple[Path, Path], echo_model: Path, tmp_path: Path) -> None:
    cert, key = certificate
    settings = {"tls_cert": str(cert), "tls_key": str(key)}
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), settings, workdir=tmp_path) as server:
        with Client(server.target, tls=str(cert)) as client:
            assert client.predict("secure").label == "secure"
        with Client(server.target, timeout=2, max_attempts=1) as plaintext:
            with pytest.raises(Unavailable):
                plaintext.predict("x")


def test_tls_settings_need_both_files(certificate: tuple[Path, Path]) -> None:
    cert, _ = certificate
    with pytest.raises(ConfigurationError, match=r"^option --tls-cert: needs tls\.key as well"):
        load_settings(None, environ={}, overrides={"tls_cert": str(cert)})


def test_every_port_speaks_tls_with_the_same_certificate(
    certificate: tuple[Path, Path], echo_model: Path, tmp_path: Path
) -> None:
    """The V2 REST and metrics ports speak HTTPS only; the management token never goes plain."""
    cert, key = certificate
    metrics_port = free_port()
    settings = {"tls_cert": str(cert), "tls_key": str(key), "metrics_port": metrics_port}
    with ThreadedServer(
        ECHO_PLUGIN, str(echo_model), settings, workdir=tmp_path, http=True
    ) as server:
        trusted = ssl.create_default_context(cafile=str(cert))
        for port, path in ((server.http_port, "/v2/health/ready"), (metrics_port, "/livez")):
            with urllib.request.urlopen(
                f"https://127.0.0.1:{port}{path}", context=trusted, timeout=10
            ) as answer:
                assert answer.status == 200
            served = ssl.get_server_certificate(("127.0.0.1", port))
            assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(cert.read_text())
            with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read()
