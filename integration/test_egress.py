"""--outbound_address in network namespaces: the target sees the configured source address.

    proxy ns (socks5d, the test's clients)            target ns (listeners that record peers)
    lo 127.0.0.1                                      eth0 198.51.100.2/24, 2001:db8:2::2/64
    out0 198.51.100.1 (primary), .11, .12 /24  --veth--
         2001:db8:2::1 (primary), ::11 /64 (deprecated)

socks5d runs inside the proxy namespace and listens on its 127.0.0.1; the clients' sockets are
created there too (a thread that entered the namespace). Without --outbound_address the kernel
picks the primary addresses (.1, ::1), so every assertion on .11/.12/::11 can fail. All traffic
stays inside the two namespaces, which the fixture deletes at teardown.
"""

import os
import shutil
import socket
import struct
import subprocess

import pytest

from netns import call_in, ip
import socks5lib
from socks5lib import (CMD_BIND, CMD_CONNECT, CMD_UDP_ASSOCIATE, REP_HOST_UNREACHABLE,
                       REP_SUCCEEDED, DnsResponder, deadline, encode_address, request)


TARGET4, TARGET6 = "198.51.100.2", "2001:db8:2::2"
PRIMARY4, PRIMARY6 = "198.51.100.1", "2001:db8:2::1"
EGRESS4, EGRESS4_B, EGRESS6 = "198.51.100.11", "198.51.100.12", "2001:db8:2::11"
LISTEN_PORT = 1080  # the proxy's, outside the ephemeral range the port test sets


class Namespaces:
    """The two namespaces above; deleted by teardown() whatever setup() got to."""

    def __init__(self):
        prefix = f"s5e{os.getpid()}"
        self.proxy, self.target = f"{prefix}-p", f"{prefix}-t"
        self.created = []

    def setup(self):
        if shutil.which("ip") is None:
            raise RuntimeError("iproute2 (ip) is not installed")
        for name in (self.proxy, self.target):
            ip("netns", "add", name)
            self.created.append(name)
        # Created directly inside the namespaces: the short names never meet in the root one.
        ip("link", "add", "out0", "netns", self.proxy, "type", "veth", "peer", "name", "eth0",
            "netns", self.target)
        for address in (f"{PRIMARY4}/24", f"{EGRESS4}/24", f"{EGRESS4_B}/24"):
            ip("addr", "add", address, "dev", "out0", ns=self.proxy)
        ip("-6", "addr", "add", f"{PRIMARY6}/64", "dev", "out0", "nodad", ns=self.proxy)
        # Deprecated (preferred_lft 0): bindable, but never the kernel's own choice of source.
        ip("-6", "addr", "add", f"{EGRESS6}/64", "dev", "out0", "nodad", "preferred_lft", "0",
            ns=self.proxy)
        ip("addr", "add", f"{TARGET4}/24", "dev", "eth0", ns=self.target)
        ip("-6", "addr", "add", f"{TARGET6}/64", "dev", "eth0", "nodad", ns=self.target)
        for ns, dev in ((self.proxy, "out0"), (self.target, "eth0")):
            ip("link", "set", dev, "up", ns=ns)
            ip("link", "set", "lo", "up", ns=ns)
        return self

    def teardown(self):
        for name in reversed(self.created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
        self.created = []

    def sysctl(self, ns, setting):
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", setting], check=True,
                       capture_output=True, timeout=20)

    def call(self, ns, fn, *args):
        """fn(*args) on a thread inside `ns`; sockets it creates stay in that namespace."""
        return call_in(ns, fn, *args)


@pytest.fixture
def netns():
    spaces = Namespaces()
    try:
        spaces.setup()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        spaces.teardown()
        pytest.fail(f"cannot create the network namespaces this test needs: {e}")
    yield spaces
    spaces.teardown()
    leftover = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert spaces.proxy not in leftover and spaces.target not in leftover


@pytest.fixture
def proxy(netns):
    """Factory: proxy(*flags) runs socks5d in the proxy namespace on 127.0.0.1:1080."""
    started = []

    def start(*flags):
        argv = ["netns", "exec", netns.proxy, str(socks5lib.binary_path()),
                f"--listen=127.0.0.1:{LISTEN_PORT}", "--shutdown_grace=1s", *flags]
        server = socks5lib.Socks5d(argv, binary=shutil.which("ip")).start()
        started.append(server)
        server.wait_listening(1)
        return server

    yield start
    problems = []
    for server in started:
        alive = server.running()
        rc = server.stop()
        print(f"--- socks5d {' '.join(server.flags)} (rc={rc}) output:\n{server.stderr}")
        if server.sanitizer_report():
            problems.append("sanitizer report in socks5d output")
        if not alive:
            problems.append(f"socks5d died during the test (rc={rc})")
    if problems:
        pytest.fail("; ".join(problems))


def client(netns, source_port=0):
    """A Socks5Client in the proxy namespace (from `source_port` when given)."""
    def make():
        c = socks5lib.Socks5Client.__new__(socks5lib.Socks5Client)
        c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.sock.settimeout(deadline(10))
        c.sock.bind(("127.0.0.1", source_port))
        c.sock.connect(("127.0.0.1", LISTEN_PORT))
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return c
    return netns.call(netns.proxy, make)


def target_listener(netns, host, port=0):
    def make():
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
        sock.settimeout(deadline(10))
        return sock
    return netns.call(netns.target, make)


def connect_via(netns, host, port, **kwargs):
    """A CONNECT through the proxy; returns (client, reply)."""
    c = client(netns, **kwargs)
    c.handshake()
    c.send(request(host, port, cmd=CMD_CONNECT))
    return c, c.read_reply(timeout=deadline(10))


def accepted_peer(listener):
    conn, peer = listener.accept()
    conn.close()
    return peer[0]


def test_connect_source_is_the_outbound_address(netns, proxy):
    proxy(f"--outbound_address={EGRESS4},{EGRESS6}")
    for host, egress in ((TARGET4, EGRESS4), (TARGET6, EGRESS6)):
        listener = target_listener(netns, host)
        c, reply = connect_via(netns, host, listener.getsockname()[1])
        assert reply.rep == REP_SUCCEEDED, reply
        assert reply.host == egress, f"BND.ADDR {reply.host}, not the egress address {egress}"
        assert accepted_peer(listener) == egress
        c.close()
        listener.close()


def test_without_the_flag_the_kernel_picks_the_primary_address(netns, proxy):
    proxy()
    for host, primary in ((TARGET4, PRIMARY4), (TARGET6, PRIMARY6)):
        listener = target_listener(netns, host)
        c, reply = connect_via(netns, host, listener.getsockname()[1])
        assert reply.rep == REP_SUCCEEDED, reply
        assert accepted_peer(listener) == primary
        c.close()
        listener.close()


def test_one_family_egress_reaches_only_that_family(netns, proxy):
    """Only IPv4 has an egress address: an IPv6 literal, and a name with IPv6 addresses only,
    get 04; a name with both is connected over IPv4 (even with AAAA listed first)."""
    dns = netns.call(netns.proxy, DnsResponder, {
        "both.test": {"AAAA": [TARGET6], "A": [TARGET4]},
        "v6only.test": {"AAAA": [TARGET6]},
    })
    try:
        server = proxy(f"--outbound_address={EGRESS4}", dns.server_flag)
        listener4 = target_listener(netns, TARGET4)
        port = listener4.getsockname()[1]
        listener6 = target_listener(netns, TARGET6, port)
        for host in (TARGET6, "v6only.test"):
            c, reply = connect_via(netns, host, port)
            assert reply.rep == REP_HOST_UNREACHABLE, f"{host}: {reply}"
            c.close()
            server.wait_access_log(target=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                                   reply="04")
        c, reply = connect_via(netns, "both.test", port)
        assert reply.rep == REP_SUCCEEDED, reply
        assert reply.host == EGRESS4
        assert accepted_peer(listener4) == EGRESS4
        listener6.settimeout(0.5)
        with pytest.raises(socket.timeout):
            listener6.accept()  # never tried
        c.close()
        listener4.close()
        listener6.close()
    finally:
        dns.close()


def test_connect_binds_without_using_up_ephemeral_ports(netns, proxy):
    """IP_BIND_ADDRESS_NO_PORT: with 10 ephemeral ports, 20 connections from the egress address
    to two target ports are open at once (bind(addr, 0) would take a port each: 10 at most)."""
    netns.sysctl(netns.proxy, "net.ipv4.ip_local_port_range=40000 40009")
    proxy(f"--outbound_address={EGRESS4}")
    listeners = [target_listener(netns, TARGET4) for _ in range(2)]
    clients = []
    try:
        for i in range(20):
            listener = listeners[i % 2]
            # Client sockets from fixed ports outside the range, so only the proxy's use it.
            c, reply = connect_via(netns, TARGET4, listener.getsockname()[1],
                                   source_port=50000 + i)
            assert reply.rep == REP_SUCCEEDED, f"connection {i}: {reply}"
            assert 40000 <= reply.port <= 40009
            clients.append(c)
        peers = {(accepted_peer(listeners[i % 2])) for i in range(20)}
        assert peers == {EGRESS4}
    finally:
        for c in clients:
            c.close()
        for listener in listeners:
            listener.close()


def test_bind_listens_on_the_outbound_address(netns, proxy):
    proxy(f"--outbound_address={EGRESS4},{EGRESS6}")
    for peer_host, egress in ((TARGET4, EGRESS4), (TARGET6, EGRESS6)):
        c = client(netns)
        c.handshake()
        c.send(request(peer_host, 0, cmd=CMD_BIND))
        first = c.read_reply(timeout=deadline(10))
        assert first.rep == REP_SUCCEEDED, first
        assert first.host == egress, f"BIND listens on {first.host}, not {egress}"

        def connect_back():
            family = socket.AF_INET6 if ":" in peer_host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(deadline(5))
            sock.bind((peer_host, 0))
            sock.connect((first.host, first.port))
            return sock
        peer = netns.call(netns.target, connect_back)
        second = c.read_reply(timeout=deadline(10))
        assert second.rep == REP_SUCCEEDED and second.host == peer_host, second
        peer.sendall(b"via bind")
        assert c.recv_exact(8) == b"via bind"
        peer.close()
        c.close()


def udp_target(netns, host):
    def make():
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind((host, 0))
        sock.settimeout(deadline(5))
        return sock
    return netns.call(netns.target, make)


def udp_associate(netns):
    """A UDP ASSOCIATE from the proxy namespace: (control client, udp socket, relay address)."""
    c = client(netns)
    c.handshake()
    c.send(request("0.0.0.0", 0, cmd=CMD_UDP_ASSOCIATE))
    reply = c.read_reply(timeout=deadline(10))
    assert reply.rep == REP_SUCCEEDED, reply

    def make():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(deadline(5))
        return sock
    return c, netns.call(netns.proxy, make), (reply.host, reply.port)


def udp_datagram(host, port, payload):
    return b"\x00\x00\x00" + encode_address(host) + struct.pack("!H", port) + payload


def test_udp_outbound_source_is_the_outbound_address(netns, proxy):
    server = proxy(f"--outbound_address={EGRESS4_B},{EGRESS6}")
    control, sock, relay = udp_associate(netns)
    for host, egress in ((TARGET4, EGRESS4_B), (TARGET6, EGRESS6)):
        target = udp_target(netns, host)
        sock.sendto(udp_datagram(host, target.getsockname()[1], b"hello " + host.encode()), relay)
        data, source = target.recvfrom(2048)
        assert data == b"hello " + host.encode()
        assert source[0] == egress, f"UDP to {host} came from {source[0]}, not {egress}"
        target.sendto(b"answer", source)  # the reply comes back through the bound socket
        reply, _ = sock.recvfrom(2048)
        assert reply.endswith(b"answer")
        target.close()
    control.close()
    sock.close()
    server.wait_access_log(cmd="UDP_ASSOCIATE")


def test_udp_one_family_egress_drops_the_other_family(netns, proxy):
    server = proxy(f"--outbound_address={EGRESS4_B}")
    control, sock, relay = udp_associate(netns)
    target6 = udp_target(netns, TARGET6)
    target4 = udp_target(netns, TARGET4)
    sock.sendto(udp_datagram(TARGET6, target6.getsockname()[1], b"lost"), relay)
    sock.sendto(udp_datagram(TARGET4, target4.getsockname()[1], b"kept"), relay)
    data, source = target4.recvfrom(2048)
    assert (data, source[0]) == (b"kept", EGRESS4_B)
    target6.settimeout(0.5)
    with pytest.raises(socket.timeout):
        target6.recvfrom(2048)
    control.close()
    sock.close()
    server.wait_access_log(cmd="UDP_ASSOCIATE")
    line = next(line for line in server.stderr.splitlines() if "cmd=UDP_ASSOCIATE" in line)
    assert " drop_no_egress=1" in line and " dgrams_up=1 " in line, line
    target4.close()
    target6.close()


def test_rule_egress_overrides_the_flag(netns, proxy, tmp_path):
    """A rule's egress= replaces --outbound_address for what it allows; a rule with only an IPv4
    egress makes its sessions IPv4-only (04 for an IPv6 target)."""
    rules = tmp_path / "rules"
    listener4 = target_listener(netns, TARGET4)
    port = listener4.getsockname()[1]
    listener6 = target_listener(netns, TARGET6, port)
    rules.write_text(f"allow to={TARGET4},{TARGET6} port={port} egress={EGRESS4_B}\nallow\n")
    proxy(f"--outbound_address={EGRESS4},{EGRESS6}", f"--rules_file={rules}")
    c, reply = connect_via(netns, TARGET4, port)
    assert reply.rep == REP_SUCCEEDED and reply.host == EGRESS4_B, reply
    assert accepted_peer(listener4) == EGRESS4_B
    c.close()
    c, reply = connect_via(netns, TARGET6, port)
    assert reply.rep == REP_HOST_UNREACHABLE, reply
    c.close()
    # Another port: the second rule, no egress=: the flag's addresses.
    other = target_listener(netns, TARGET6)
    c, reply = connect_via(netns, TARGET6, other.getsockname()[1])
    assert reply.rep == REP_SUCCEEDED and reply.host == EGRESS6, reply
    assert accepted_peer(other) == EGRESS6
    c.close()
    for sock in (listener4, listener6, other):
        sock.close()


@pytest.mark.parametrize("value,message", [
    ("198.51.100.11,198.51.100.12", "two IPv4 addresses"),
    ("2001:db8::1,2001:db8::2", "two IPv6 addresses"),
    ("0.0.0.0", "cannot be a source address"),
    ("not-an-ip", "is not an IP address"),
    ("203.0.113.5", "not an address of this host"),  # a bind() probe only: nothing is sent
])
def test_bad_outbound_address_stops_start_up(socks5d, value, message):
    server = socks5d(f"--outbound_address={value}", wait=False)
    server.expect_exit = True
    rc, output = server.wait_exit()
    assert rc > 0, output
    assert "--outbound_address" in output and message in output, output
    assert "listening on" not in output
