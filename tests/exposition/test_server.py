"""The shared exporter HTTP server, exercised over real sockets (plain, TLS, mTLS, basic auth)."""

from __future__ import annotations

import base64
import gzip
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import click
import prometheus_client
import pytest
import yaml
from click.testing import CliRunner

from kubepulse.exposition.options import web_options
from kubepulse.exposition.server import (
    ExporterServer,
    Request,
    Response,
    ServerLimits,
    load_web_config,
    prometheus_client_handler,
)
from kubepulse.lab.pki import LoopbackPKI, make_loopback_pki, write_web_config


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LoopbackPKI:
    return make_loopback_pki(tmp_path_factory.mktemp("pki"))


def _client_ctx(pki: LoopbackPKI, cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    if cert:
        ctx.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return ctx


def _get(
    url: str,
    path: str,
    headers: dict[str, str] | None = None,
    ctx: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, str], bytes]:
    port = int(url.rsplit(":", 1)[1])
    conn: http.client.HTTPConnection
    if url.startswith("https"):
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def plain_server() -> Iterator[ExporterServer]:
    seen: list[Request] = []

    def chunks(request: Request) -> Response:
        seen.append(request)
        return Response(body=[b"a 1\n", b"", b"b 2\n" * 50_000], headers={"X-Seen": str(len(seen))})

    def echo(request: Request) -> Response:
        return Response(
            body=f"{request.method} {request.query} {request.headers.get('x-CaSe')}".encode(),
            content_type="text/plain",
        )

    def boom(_: Request) -> Response:
        raise RuntimeError("handler bug")

    with ExporterServer({"/metrics": chunks, "/echo": echo, "/boom": boom}) as server:
        yield server


def test_routes_chunks_healthz_404_and_500(plain_server: ExporterServer) -> None:
    status, headers, body = _get(plain_server.url, "/metrics")
    assert status == 200
    assert body == b"a 1\n" + b"b 2\n" * 50_000
    assert headers["content-length"] == str(len(body))
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert _get(plain_server.url, "/healthz")[:3:2] == (200, b"ok\n")
    assert _get(plain_server.url, "/nope")[0] == 404
    assert _get(plain_server.url, "/boom")[0] == 500
    status, _, body = _get(plain_server.url, "/echo?a=1&a=2&b=", {"X-Case": "yes"})
    assert body == b"GET {'a': ['1', '2'], 'b': ['']} yes"


def test_gzip_only_when_asked_and_not_twice(plain_server: ExporterServer) -> None:
    _, headers, body = _get(plain_server.url, "/metrics", {"Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == b"a 1\n" + b"b 2\n" * 50_000
    assert len(body) < 20_000

    def pre_encoded(_: Request) -> Response:
        return Response(body=gzip.compress(b"x 1\n"), headers={"Content-Encoding": "gzip"})

    with ExporterServer({"/m": pre_encoded}) as server:
        _, headers, body = _get(server.url, "/m", {"Accept-Encoding": "gzip"})
        assert headers["content-encoding"] == "gzip"
        assert gzip.decompress(body) == b"x 1\n"


def test_keepalive_reuses_one_connection(plain_server: ExporterServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", plain_server.port, timeout=10)
    try:
        for i in range(1, 4):
            conn.request("GET", "/metrics")
            resp = conn.getresponse()
            assert resp.getheader("X-Seen") == str(i)
            assert len(resp.read()) == 4 + 4 * 50_000
        assert conn.sock is not None
    finally:
        conn.close()


def test_concurrent_clients(plain_server: ExporterServer) -> None:
    errors: list[BaseException] = []

    def scrape() -> None:
        try:
            for _ in range(5):
                assert _get(plain_server.url, "/metrics")[0] == 200
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=scrape) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []


def test_tls_basic_auth_and_cache(
    pki: LoopbackPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Basic auth over real TLS, and the cache of successful bcrypt checks, proven by counting.

    bcrypt.checkpw is wrapped by a spy that records each call and calls the real function: how
    many bcrypt checks a request cost cannot be observed from outside the process (timing would
    be a speed test), and the server runs in this process, where the spy sees every check.
    """
    import bcrypt

    real_checkpw = bcrypt.checkpw
    checks: list[bytes] = []

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        checks.append(password)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting_checkpw)
    config = load_web_config(
        write_web_config(tmp_path / "web.yml", pki, {"prom": "s3cret"}, rounds=4)
    )
    ok = {"/metrics": lambda _: Response(body=b"up 1\n")}
    with ExporterServer(ok, web_config=config) as server:
        assert server.url == f"https://127.0.0.1:{server.port}"
        ctx = _client_ctx(pki)
        status, headers, _ = _get(server.url, "/metrics", ctx=ctx)
        assert status == 401
        assert headers["www-authenticate"].startswith("Basic")
        assert checks == []  # no credentials, no bcrypt
        assert _get(server.url, "/metrics", _basic("prom", "wrong"), ctx)[0] == 401
        assert checks == [b"wrong"]
        # An unknown user pays a bcrypt check too (against a dummy hash): the time a wrong
        # answer takes does not tell which users exist.
        assert _get(server.url, "/metrics", _basic("nobody", "s3cret"), ctx)[0] == 401
        assert checks == [b"wrong", b"s3cret"]
        assert _get(server.url, "/healthz", ctx=ctx)[0] == 401
        assert _get(server.url, "/metrics", {"Authorization": "Basic !!!"}, ctx)[0] == 401
        assert len(checks) == 2

        # A wrong password is never cached: each attempt is checked again and refused.
        for _ in range(3):
            assert _get(server.url, "/metrics", _basic("prom", "wrong"), ctx)[0] == 401
        assert checks == [b"wrong", b"s3cret"] + [b"wrong"] * 3

        # The right password costs one bcrypt check for any number of requests.
        del checks[:]
        for _ in range(6):
            assert _get(server.url, "/metrics", _basic("prom", "s3cret"), ctx)[:3:2] == (
                200,
                b"up 1\n",
            )
        assert _get(server.url, "/healthz", _basic("prom", "s3cret"), ctx)[0] == 200
        assert checks == [b"s3cret"]
        # ... and caching it did not let a wrong password (or the right one for an unknown
        # user) through: both are checked and refused.
        assert _get(server.url, "/metrics", _basic("prom", "s3cret2"), ctx)[0] == 401
        assert _get(server.url, "/metrics", _basic("nobody", "s3cret"), ctx)[0] == 401
        assert checks == [b"s3cret", b"s3cret2", b"s3cret"]


def test_plain_http_to_tls_port_fails_cleanly(
    pki: LoopbackPKI, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    config = load_web_config(write_web_config(tmp_path / "web.yml", pki))
    with ExporterServer({}, web_config=config) as server:
        # No hang: the socket's 5 s timeout (half the server's 10 s handshake timeout) raises
        # TimeoutError if the server waits for a TLS hello instead of answering at once.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        assert data.startswith(b"HTTP/1.0 400 Bad Request")
        assert b"HTTP request to an HTTPS server" in data
        assert _get(f"http://127.0.0.1:{server.port}", "/healthz")[0] == 400
        # A garbage TLS client and a silent one do not break the server.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x05hello")
        assert _get(server.url, "/healthz", ctx=_client_ctx(pki))[0] == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err


def test_mutual_tls(pki: LoopbackPKI, tmp_path: Path) -> None:
    config = load_web_config(write_web_config(tmp_path / "web.yml", pki, client_auth=True))
    with ExporterServer({}, web_config=config) as server:
        assert _get(server.url, "/healthz", ctx=_client_ctx(pki, cert=True))[0] == 200
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
            _get(server.url, "/healthz", ctx=_client_ctx(pki))


def _handshake(port: int, ctx: ssl.SSLContext) -> tuple[str | None, bytes]:
    """A real TLS handshake with the server, then one request: (TLS version, response head)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return tls.version(), tls.recv(12)


def _limited_client(
    pki: LoopbackPKI, lowest: ssl.TLSVersion | None = None, highest: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    ctx = _client_ctx(pki)
    if lowest is not None:
        ctx.minimum_version = lowest
    if highest is not None:
        ctx.maximum_version = highest
    return ctx


@pytest.mark.parametrize(
    ("versions", "accepted", "refused"),
    [
        # Control: with neither field, both clients get through, so a refusal below comes from
        # the config and not from what the clients or OpenSSL here can do.
        ({}, {"TLSv1.2", "TLSv1.3"}, set()),
        ({"min_version": "TLS13"}, {"TLSv1.3"}, {"TLSv1.2"}),
        ({"max_version": "TLS12"}, {"TLSv1.2"}, {"TLSv1.3"}),
    ],
    ids=["neither", "min_version-TLS13", "max_version-TLS12"],
)
def test_min_and_max_version_are_enforced_in_a_real_handshake(
    pki: LoopbackPKI,
    tmp_path: Path,
    versions: dict[str, str],
    accepted: set[str],
    refused: set[str],
) -> None:
    """A client limited to TLS 1.2 (maximum_version) and one limited to TLS 1.3
    (minimum_version) handshake with the real server; the web config's min_version/max_version
    decide which one gets in, and the one that does speaks the version it was limited to."""
    path = write_web_config(tmp_path / "web.yml", pki)
    raw = yaml.safe_load(path.read_text())
    raw["tls_server_config"].update(versions)
    path.write_text(yaml.safe_dump(raw))
    config = load_web_config(path)
    assert config.tls is not None
    assert (config.tls.min_version, config.tls.max_version) == (
        versions.get("min_version"),
        versions.get("max_version"),
    )
    clients = {
        "TLSv1.2": _limited_client(pki, highest=ssl.TLSVersion.TLSv1_2),
        "TLSv1.3": _limited_client(pki, lowest=ssl.TLSVersion.TLSv1_3),
    }
    with ExporterServer({}, web_config=config) as server:
        for version in sorted(accepted):
            assert _handshake(server.port, clients[version]) == (version, b"HTTP/1.1 200")
        for version in sorted(refused):
            # The alert is the server's: it refused the version, the client did not give up.
            with pytest.raises(ssl.SSLError, match="TLSV1_ALERT_PROTOCOL_VERSION"):
                _handshake(server.port, clients[version])
        # The server is still serving after refusing a client.
        assert _get(server.url, "/healthz", ctx=_client_ctx(pki))[0] == 200


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls_server_config: {key_file: k}", "tls_server_config.cert_file: required"),
        ("tls_server_config: {cert_file: nope.crt, key_file: k}", "cert_file: no such file"),
        ("basic_auth_users: {prom: plain}", "basic_auth_users.prom: not a bcrypt hash"),
        ("basic_auth: {}", "basic_auth: unknown field"),
        ("tls_server_config: [1]", "tls_server_config: must be a mapping"),
        ("a: [", "invalid YAML"),
        ("tls_server_config: {cipher_suites: [x]}", "cipher_suites: a Go crypto/tls setting"),
        ("tls_server_config: {min_version: TLS9}", "min_version: 'TLS9'"),
    ],
)
def test_bad_web_config_names_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_web_config(path)
    assert str(path) in str(info.value)


def test_bad_client_auth_type_and_unloadable_cert(pki: LoopbackPKI, tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(
        f"tls_server_config: {{cert_file: {pki.server_cert}, key_file: {pki.server_key}, "
        f"client_auth_type: RequireAnyClientCert, client_ca_file: {pki.ca_cert}}}"
    )
    with pytest.raises(ValueError, match="client_auth_type: 'RequireAnyClientCert' not supported"):
        load_web_config(path)
    path.write_text(f"tls_server_config: {{cert_file: {pki.ca_cert}, key_file: {pki.server_key}}}")
    with pytest.raises(ValueError, match="cannot load cert_file"):
        load_web_config(path)


def test_web_options_cli(pki: LoopbackPKI, tmp_path: Path) -> None:
    @click.command()
    @web_options(":9999")
    def cmd(listen_address: str, web_config: object) -> None:
        click.echo(f"{listen_address} {type(web_config).__name__}")

    runner = CliRunner()
    assert runner.invoke(cmd, []).output == ":9999 NoneType\n"
    good = write_web_config(tmp_path / "web.yml", pki)
    result = runner.invoke(cmd, ["--web.config.file", str(good), "--web.listen-address", "[::1]:0"])
    assert result.output == "[::1]:0 WebConfig\n"
    bad = tmp_path / "bad.yml"
    bad.write_text("basic_auth_users: {x: y}")
    result = runner.invoke(cmd, ["--web.config.file", str(bad)])
    assert result.exit_code == 2
    # One line naming the flag, the file and the field: no usage text around it.
    assert result.output.splitlines() == [
        f"cmd: --web.config.file: {bad}: basic_auth_users.x: not a bcrypt hash ($2a$/$2b$/$2y$...)"
    ]
    result = runner.invoke(cmd, ["--web.listen-address", "localhost:http"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "cmd: --web.listen-address: listen address 'localhost:http': port must be 0-65535"
    ]


def test_prometheus_client_handler_formats_and_filter() -> None:
    registry = prometheus_client.CollectorRegistry()
    prometheus_client.Counter("jobs", "Jobs done.", registry=registry).inc(3)
    prometheus_client.Gauge("queue", "Queue length.", registry=registry).set(7)
    with ExporterServer({"/metrics": prometheus_client_handler(registry)}) as server:
        _, headers, body = _get(server.url, "/metrics")
        assert b"jobs_total 3.0" in body and b"queue 7.0" in body
        assert headers["content-type"].startswith("text/plain; version=0.0.4")
        _, headers, body = _get(
            server.url, "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert headers["content-type"].startswith("application/openmetrics-text")
        assert body.endswith(b"# EOF\n")
        _, _, body = _get(server.url, "/metrics?name[]=queue")
        assert b"queue 7.0" in body and b"jobs" not in body


def test_head_and_post(plain_server: ExporterServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", plain_server.port, timeout=10)
    try:
        conn.request("HEAD", "/metrics")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Length") == str(4 + 4 * 50_000)
        assert resp.read() == b""
        # The same connection still works after a HEAD and after a POST with a body.
        conn.request("POST", "/echo", body=b"ignored")
        resp = conn.getresponse()
        assert resp.read() == b"POST {} None"
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() == b"ok\n"
    finally:
        conn.close()
    with socket.create_connection(("127.0.0.1", plain_server.port), timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")


def test_certificate_rotation_is_picked_up_without_restart(tmp_path: Path) -> None:
    old = make_loopback_pki(tmp_path / "live")
    config = load_web_config(write_web_config(tmp_path / "web.yml", old))
    with ExporterServer({}, web_config=config) as server:
        assert _get(server.url, "/healthz", ctx=_client_ctx(old))[0] == 200
        new = make_loopback_pki(tmp_path / "next")
        # Rotate in place, key first: for a moment the pair is inconsistent, and the server must
        # keep serving with the old one rather than fail.
        old.server_key.write_bytes(new.server_key.read_bytes())
        time.sleep(1.1)
        assert _get(server.url, "/healthz", ctx=_client_ctx(old))[0] == 200
        old.server_cert.write_bytes(new.server_cert.read_bytes())
        time.sleep(1.1)
        assert _get(server.url, "/healthz", ctx=_client_ctx(new))[0] == 200
        with pytest.raises(ssl.SSLCertVerificationError):
            _get(server.url, "/healthz", ctx=_client_ctx(old))


def test_tls_keep_alive_and_the_handshake_deadline(pki: LoopbackPKI, tmp_path: Path) -> None:
    """The handshake runs in the event loop: a kept-alive TLS connection serves several
    requests, and a client that stalls mid-handshake (or sends nothing) is closed at the
    header deadline (1 s here) without holding anything."""
    config = load_web_config(write_web_config(tmp_path / "web.yml", pki))
    limits = ServerLimits(read_header_timeout=1.0)
    with ExporterServer(
        {"/m": lambda _: Response(body=b"m 1\n")}, web_config=config, limits=limits
    ) as server:
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=_client_ctx(pki))
        try:
            for _ in range(3):
                conn.request("GET", "/m")
                assert conn.getresponse().read() == b"m 1\n"
        finally:
            conn.close()
        assert server.stats()["accepted"] == 1
        for first_bytes in (b"", b"\x16\x03\x01\x00\xff\x01"):  # silent; half a ClientHello
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(first_bytes)
                start = time.monotonic()
                assert sock.recv(4096) == b""
                assert 0.7 < time.monotonic() - start < 3.0
        assert server.stats()["closed:header_timeout"] == 2
        assert _get(server.url, "/m", ctx=_client_ctx(pki))[:3:2] == (200, b"m 1\n")
