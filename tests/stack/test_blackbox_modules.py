"""Each module of deploy/blackbox/blackbox.yml, run by the pinned blackbox_exporter against
loopback servers: it succeeds on a healthy one and fails on the nearest broken one.

The DNS server is a stand-in (a few lines answering A queries over UDP on 127.0.0.1): no real
DNS server may run here, and the module's check is on the answer's contents, which it sends.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubepulse.lab.blackbox import start_blackbox_exporter
from kubepulse.lab.processes import LOOPBACK, ProcessGroup, free_port
from kubepulse.lab.releases import binary
from kubepulse.stack import blackbox_config_path


def probe(exporter: str, module: str, target: str) -> dict[str, float]:
    """The probe's metrics (name -> value, unlabelled series only)."""
    query = urllib.parse.urlencode({"module": module, "target": target})
    with urllib.request.urlopen(f"{exporter}/probe?{query}", timeout=15) as resp:
        text = resp.read().decode()
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line and not line.startswith("#") and "{" not in line.split()[0]
    }


class LoopbackDNS:
    """Answers every A query with ``answers`` records of 127.0.0.1 (NOERROR), over UDP."""

    def __init__(self, answers: int) -> None:
        self.answers = answers
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self.sock.recvfrom(512)
            except OSError:
                return
            ident = query[:2]
            question = query[12:]  # name, type, class: echoed back
            end = question.index(b"\0") + 5
            header = ident + struct.pack(">HHHHH", 0x8180, 1, self.answers, 0, 0)
            record = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(LOOPBACK)
            self.sock.sendto(header + question[:end] + record * self.answers, peer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def exporter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ProcessGroup(tmp_path_factory.mktemp("blackbox") / "logs") as group:
        yield start_blackbox_exporter(group)


def test_the_modules_file_passes_the_exporter_s_own_check() -> None:
    out = subprocess.run(
        [
            str(binary("blackbox_exporter")),
            f"--config.file={blackbox_config_path()}",
            "--config.check",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_tcp_connect_succeeds_on_a_listener_and_fails_on_a_closed_port(exporter: str) -> None:
    with socket.create_server((LOOPBACK, 0)) as server:
        port = server.getsockname()[1]
        assert probe(exporter, "tcp_connect", f"{LOOPBACK}:{port}")["probe_success"] == 1
    assert probe(exporter, "tcp_connect", f"{LOOPBACK}:{port}")["probe_success"] == 0


def test_dns_needs_an_a_answer(exporter: str) -> None:
    answering, empty = LoopbackDNS(answers=1), LoopbackDNS(answers=0)
    try:
        got = probe(exporter, "dns_kubernetes", f"{LOOPBACK}:{answering.port}")
        assert (got["probe_success"], got["probe_dns_answer_rrs"]) == (1, 1)
        got = probe(exporter, "dns_kubernetes", f"{LOOPBACK}:{empty.port}")
        assert (got["probe_success"], got["probe_dns_answer_rrs"]) == (0, 0)
    finally:
        answering.close()
        empty.close()


def test_http_2xx_fails_on_a_closed_port_and_tls_expiry_refuses_plain_http(
    exporter: str, tmp_path: Path
) -> None:
    port = free_port()
    got = probe(exporter, "http_2xx", f"http://{LOOPBACK}:{port}/")
    assert got["probe_success"] == 0
    with ProcessGroup(tmp_path / "logs") as group:
        # blackbox_exporter's own /-/healthy: a plain-HTTP 200 on loopback.
        other = start_blackbox_exporter(group)
        assert probe(exporter, "http_2xx", f"{other}/-/healthy")["probe_success"] == 1
        # fail_if_not_ssl: the same answer over plain HTTP fails the certificate module.
        assert probe(exporter, "tls_expiry", f"{other}/-/healthy")["probe_success"] == 0
