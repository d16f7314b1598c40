"""DNS over UDP ASSOCIATE for real: dnsmasq as the target, queried with dnspython through a
hand-built SOCKS UDP header and through PySocks's UDP socket as an unmodified client.

dnsmasq (Debian dnsmasq-base) also serves the proxy's own resolver (--dns_servers), so a
domain target (ATYP 03) resolves through it too."""

import random
import shutil
import socket
import subprocess
import time

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import pytest
import socks

import socks5lib
from socks5lib import deadline
from udplib import Association, access_fields

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"

RECORDS = [
    "--address=/game.test/127.0.0.5",
    "--address=/game.test/::5",
    "--host-record=host.test,127.0.0.7,::7",
    "--address=/dns.test/127.0.0.1",  # names dnsmasq itself, for domain targets
]


class Dnsmasq:
    """dnsmasq on 127.0.0.1, on a random high port: on a bind failure another port is tried
    (no racy free-port probe). Ready once it answers a query."""

    def __init__(self):
        if not shutil.which(DNSMASQ):
            raise AssertionError("dnsmasq not installed (Debian package dnsmasq-base)")
        self.proc = None
        for _ in range(20):
            port = random.randint(20000, 60000)
            proc = subprocess.Popen(
                [DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                 "--pid-file=", "--user=root", "--listen-address=127.0.0.1", f"--port={port}",
                 "--bind-interfaces", "--log-facility=-", *RECORDS],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if self._wait_ready(proc, port):
                self.proc, self.port = proc, port
                return
            proc.kill()
            proc.wait()
        raise AssertionError("could not start dnsmasq on any of 20 ports")

    @staticmethod
    def _wait_ready(proc, port):
        end = time.monotonic() + deadline(5)
        query = dns.message.make_query("host.test", "A")
        while time.monotonic() < end:
            if proc.poll() is not None:
                return False  # e.g. "failed to create listening socket": port taken
            try:
                dns.query.udp(query, "127.0.0.1", port=port, timeout=0.2)
                return True
            except dns.exception.Timeout:
                continue
            except OSError:
                # Refused: not listening yet. Nothing to wait on but the port itself.
                time.sleep(0.02)
        return False

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(deadline(5))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def dnsmasq():
    server = Dnsmasq()
    yield server
    server.close()


def answers(response, rdtype):
    return sorted(rr.address for rrset in response.answer if rrset.rdtype == rdtype
                  for rr in rrset)


@pytest.mark.parametrize("name,rdtype,expected", [
    ("host.test", "A", ["127.0.0.7"]),
    ("host.test", "AAAA", ["::7"]),
    ("game.test", "A", ["127.0.0.5"]),
    ("game.test", "AAAA", ["::5"]),
])
def test_dnspython_query_through_hand_built_header(socks5d, dnsmasq, name, rdtype, expected):
    server = socks5d()
    with Association(server) as a:
        query = dns.message.make_query(name, rdtype)
        a.send("127.0.0.1", dnsmasq.port, query.to_wire())
        frag, host, port, payload = a.recv()
        assert (frag, host, port) == (0, "127.0.0.1", dnsmasq.port)
        response = dns.message.from_wire(payload)
        assert response.id == query.id
        assert answers(response, dns.rdatatype.from_text(rdtype)) == expected


def test_dnspython_query_to_domain_target(socks5d, dnsmasq):
    # ATYP 03: the proxy resolves dns.test through dnsmasq itself, then queries it.
    server = socks5d(f"--dns_servers=127.0.0.1:{dnsmasq.port}")
    with Association(server) as a:
        for i, (name, rdtype, expected) in enumerate([("host.test", "A", ["127.0.0.7"]),
                                                      ("game.test", "AAAA", ["::5"])]):
            query = dns.message.make_query(name, rdtype)
            a.send("dns.test", dnsmasq.port, query.to_wire())
            frag, host, port, payload = a.recv()
            assert (frag, host, port) == (0, "127.0.0.1", dnsmasq.port)
            assert answers(dns.message.from_wire(payload), dns.rdatatype.from_text(rdtype)) == expected
    fields = access_fields(server)
    assert fields["dgrams_up"] == 2 and fields["dgrams_down"] == 2


@pytest.mark.parametrize("rdns_target", ["127.0.0.1", "dns.test"])
def test_pysocks_udp_socket_as_unmodified_client(socks5d, dnsmasq, rdns_target):
    server = socks5d(f"--dns_servers=127.0.0.1:{dnsmasq.port}")
    sock = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.set_proxy(socks.SOCKS5, "127.0.0.1", server.port)
    sock.settimeout(socks5lib.REPLY_TIMEOUT)
    try:
        for name, rdtype, expected in [("host.test", "A", ["127.0.0.7"]),
                                       ("host.test", "AAAA", ["::7"]),
                                       ("game.test", "A", ["127.0.0.5"])]:
            query = dns.message.make_query(name, rdtype)
            sock.sendto(query.to_wire(), (rdns_target, dnsmasq.port))
            payload, source = sock.recvfrom(65535)
            assert source == ("127.0.0.1", dnsmasq.port)
            response = dns.message.from_wire(payload)
            assert response.id == query.id
            assert answers(response, dns.rdatatype.from_text(rdtype)) == expected
    finally:
        sock.close()
    fields = access_fields(server)
    assert fields["dgrams_up"] == 3 and fields["dgrams_down"] == 3
    # PySocks names its UDP port with address 0.0.0.0: only that port may send (F2).
    assert fields["drop_wrong_port"] == 0 and fields["drop_foreign"] == 0
