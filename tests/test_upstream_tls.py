"""An https site behind the gateway: verified TLS, and a clean 502 when the certificate is wrong."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from gateway.testing.servers import UvicornThread
from tests.conftest import RunningGateway
from tests.support.site import create_app


def make_cert(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return key, cert


def test_https_upstream(tmp_path: Path, make_gateway: Callable[..., RunningGateway]) -> None:
    key, cert = make_cert(tmp_path, "site")
    _, other = make_cert(tmp_path, "other")
    site = UvicornThread(create_app(), ssl_keyfile=str(key), ssl_certfile=str(cert)).start()
    try:
        upstream = f"https://127.0.0.1:{site.port}"
        good = make_gateway(upstream=upstream, gateway=f'upstream_ca = "{cert}"')
        with good.client() as c:
            r = c.get("/page")
            assert r.status_code == 200 and 'id="consent-banner"' in r.text
            assert c.get("/echo").json()["headers"]  # keep-alive over TLS: a second request
        wrong = make_gateway(upstream=upstream, gateway=f'upstream_ca = "{other}"')
        with wrong.client() as c:
            r = c.get("/page")
        assert r.status_code == 502 and "Traceback" not in r.text
    finally:
        site.stop()
