"""The SDK and CLI over TLS (the Helm chart's Ingress terminates TLS): a gRPC server with a
certificate made here, trusted through ``ca_file`` / ``--ca-file``; without TLS, or without
trusting the certificate, the call fails as UNAVAILABLE instead of going out in plain text."""

from __future__ import annotations

import datetime
import ipaddress
from concurrent import futures

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from tests.conftest import run_cli


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca_file.write_bytes(cert_pem)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("interp.v1.ModelHostService", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    reflection.enable_server_reflection(["interp.v1.ModelHostService", health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key_pem, cert_pem)]))
    server.start()
    yield f"localhost:{port}", ca_file
    server.stop(None)


def test_the_sdk_speaks_tls(tls_server, monkeypatch):
    from interpretability import Client
    from interpretability.errors import Unavailable

    endpoint, ca_file = tls_server
    with Client(endpoint, api_key="k", ca_file=ca_file) as client:
        assert client.tls and client.health() == "SERVING"
    monkeypatch.setenv("INTERP_TLS", "1")
    monkeypatch.setenv("INTERP_CA_FILE", str(ca_file))
    with Client(endpoint, api_key="k") as client:
        assert client.services() == ["interp.v1.ModelHostService"]
    monkeypatch.delenv("INTERP_CA_FILE")
    with Client(endpoint, api_key="k", retries=1) as client, pytest.raises(Unavailable):
        client.health(timeout=3)  # the system's roots do not trust this certificate
    with Client(endpoint, api_key="k", tls=False, retries=1) as client, pytest.raises(Unavailable):
        client.health(timeout=3)  # plain text to a TLS port


def test_the_cli_speaks_tls(tls_server):
    endpoint, ca_file = tls_server
    done = run_cli(endpoint, "health", "--tls", "--ca-file", str(ca_file), api_key="k", timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"{endpoint}: SERVING" in done.stdout and "interp.v1.ModelHostService: SERVING" in done.stdout
    plain = run_cli(endpoint, "health", api_key="k", timeout=60)
    assert plain.returncode != 0 and "Traceback" not in plain.stderr
