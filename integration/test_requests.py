"""docs/conformance.md section C: requests and replies (RFC 1928 s.4, s.5, s.6)."""

import errno
import socket
import time

import pytest

from socks5lib import (REP_ADDRESS_TYPE_NOT_SUPPORTED, REP_COMMAND_NOT_SUPPORTED,
                       REP_CONNECTION_REFUSED, REP_HOST_UNREACHABLE, REP_NETWORK_UNREACHABLE,
                       REP_NOT_ALLOWED, REP_TTL_EXPIRED, DnsResponder, EchoServer, TcpListener,
                       assert_closed, blackhole_target, connect_errno, deadline, failure_reply, greeting,
                       recv_exact, request, reserve_refusing_port)


def _requested(server, payload, timeout=None):
    """A client past the no-auth greeting that has sent `payload`."""
    client = server.client()
    client.send(greeting(0x00))
    client.expect(b"\x05\x00")
    client.send(payload)
    return client


def _assert_failure(client, rep, timeout=None):
    """Reads a failure reply with exactly REP `rep`, then asserts the close."""
    reply = client.read_reply(timeout=timeout)
    assert reply.rep == rep, f"expected REP {rep:02x}, got {reply}"
    client.assert_closed()
    return reply


def test_c1_connect_ipv4_bnd_is_outbound_local_address(socks5d, echo_server):
    server = socks5d()
    with _requested(server, request("127.0.0.1", echo_server.port)) as client:
        reply = client.read_reply()
        assert reply.rep == 0 and reply.atyp == 0x01, reply
        peer = echo_server.next_peer()
        assert reply.address == peer, f"BND {reply.address} != outbound socket {peer}"
        client.send(b"x" * 1000)
        client.expect(b"x" * 1000)


def test_c1_exact_reply_bytes(socks5d, echo_server):
    server = socks5d()
    with _requested(server, request("127.0.0.1", echo_server.port)) as client:
        reply = client.read_reply()
        host, port = echo_server.next_peer()
        expected = b"\x05\x00\x00\x01" + socket.inet_aton(host) + port.to_bytes(2, "big")
        assert reply.raw == expected, f"expected {expected.hex(' ')}, got {reply.raw.hex(' ')}"


def test_c2_connect_ipv6(socks5d, echo_server6):
    server = socks5d()
    with _requested(server, request("::1", echo_server6.port)) as client:
        reply = client.read_reply()
        assert reply.rep == 0 and reply.atyp == 0x04, reply
        assert len(reply.raw) == 22, reply
        peer = echo_server6.next_peer()
        assert reply.address == peer, f"BND {reply.address} != outbound socket {peer}"
        client.send(b"over v6")
        client.expect(b"over v6")
    server.wait_access_log(cmd="CONNECT", target=f"[::1]:{echo_server6.port}", reply="00")


# --- C3 / C5: domain names through a DNS responder started by the test


def _echo_with_refusing_twins(host, twin_hosts):
    """An echo server on host, and bound non-listening sockets on the same port of
    each twin host. Retries when the port is taken on a twin address."""
    for _ in range(20):
        echo = EchoServer(host)
        twins = []
        try:
            for twin_host in twin_hosts:
                twins.append(reserve_refusing_port(twin_host, echo.port))
        except OSError:
            echo.close()
            for twin in twins:
                twin.close()
            continue
        return echo, twins
    raise AssertionError(f"no port free on {host} and {twin_hosts}")


@pytest.fixture
def dns_world():
    """Echo servers on 127.0.0.1 and ::1, ports that refuse, and a DNS table naming them."""
    # Same port numbers as the echo servers but on the other family / address:
    # bound and not listening, so a connect there is refused.
    echo4, (refuse6, refuse4b) = _echo_with_refusing_twins("127.0.0.1", ["::1", "127.0.0.2"])
    echo6, (refuse4,) = _echo_with_refusing_twins("::1", ["127.0.0.1"])
    responder = DnsResponder({
        "echo.test": {"A": ["127.0.0.1"]},
        "v6only.test": {"AAAA": ["::1"]},
        # For the port of echo4: ::1 refuses, 127.0.0.1 accepts.
        "both-v6-refuses.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
        # For the port of echo6: 127.0.0.1 refuses, ::1 accepts.
        "both-v4-refuses.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
        # For the port of echo4: 127.0.0.2 refuses, 127.0.0.1 accepts.
        "two-a.test": {"A": ["127.0.0.2", "127.0.0.1"]},
        "noaddress.test": {"MX": []},
        "alias.test": {"CNAME": "echo.test"},
        "denied.test": {"A": ["127.0.0.2"]},
    })
    world = {"echo4": echo4, "echo6": echo6, "dns": responder}
    yield world
    responder.close()
    echo4.close()
    echo6.close()
    for sock in (refuse6, refuse4, refuse4b):
        sock.close()


def _connect_name(server, name, port):
    return _requested(server, request(name, port))


def test_c3_domain_a_record(socks5d, dns_world):
    server = socks5d(dns_world["dns"].server_flag)
    echo4 = dns_world["echo4"]
    with _connect_name(server, "echo.test", echo4.port) as client:
        reply = client.read_reply(timeout=deadline(10))
        assert reply.rep == 0, reply
        assert reply.address == echo4.next_peer(), reply
        client.send(b"by name")
        client.expect(b"by name")
    assert ("echo.test", "A") in dns_world["dns"].queries


def test_c3_cname_chain(socks5d, dns_world):
    server = socks5d(dns_world["dns"].server_flag)
    echo4 = dns_world["echo4"]
    with _connect_name(server, "alias.test", echo4.port) as client:
        reply = client.read_reply(timeout=deadline(10))
        assert reply.rep == 0, reply
        assert reply.address == echo4.next_peer(), reply


def test_c3_domain_is_case_insensitive_and_may_end_with_dot(socks5d, dns_world):
    server = socks5d(dns_world["dns"].server_flag)
    for name in ("ECHO.Test", "echo.test."):
        with _connect_name(server, name, dns_world["echo4"].port) as client:
            reply = client.read_reply(timeout=deadline(10))
            assert reply.rep == 0, (name, reply)


def test_c3_domain_aaaa_only(socks5d, dns_world):
    server = socks5d(dns_world["dns"].server_flag)
    echo6 = dns_world["echo6"]
    with _connect_name(server, "v6only.test", echo6.port) as client:
        reply = client.read_reply(timeout=deadline(10))
        assert reply.rep == 0 and reply.atyp == 0x04, reply
        assert reply.address == echo6.next_peer(), reply
        client.send(b"v6 by name")
        client.expect(b"v6 by name")


@pytest.mark.parametrize("name,echo", [
    ("both-v6-refuses.test", "echo4"),
    ("both-v4-refuses.test", "echo6"),
    ("two-a.test", "echo4"),
])
def test_c3_falls_through_to_next_address(socks5d, dns_world, name, echo):
    server = socks5d(dns_world["dns"].server_flag)
    echo_server = dns_world[echo]
    with _connect_name(server, name, echo_server.port) as client:
        reply = client.read_reply(timeout=deadline(10))
        assert reply.rep == 0, f"{name}: one address refuses, the other accepts: {reply}"
        assert reply.address == echo_server.next_peer(), reply
        client.send(b"fell through")
        client.expect(b"fell through")


def test_c5_nxdomain_host_unreachable(socks5d, dns_world):
    server = socks5d(dns_world["dns"].server_flag)
    with _connect_name(server, "does-not-exist.test", 80) as client:
        _assert_failure(client, REP_HOST_UNREACHABLE, timeout=deadline(10))
    assert any(q[0].startswith("does-not-exist.test") for q in dns_world["dns"].queries), \
        f"the DNS responder was never asked: {dns_world['dns'].queries}"


def test_c5_name_without_address_host_unreachable(socks5d, dns_world):
    server = socks5d(dns_world["dns"].server_flag)
    with _connect_name(server, "noaddress.test", 80) as client:
        _assert_failure(client, REP_HOST_UNREACHABLE, timeout=deadline(10))


def test_c5_failure_reply_bytes_exact(socks5d, dns_world):
    server = socks5d(dns_world["dns"].server_flag)
    with _connect_name(server, "does-not-exist.test", 80) as client:
        client.expect(failure_reply(REP_HOST_UNREACHABLE), timeout=deadline(10))
        client.assert_closed()


# --- C4, C6, C7: connect failures


def test_c4_connection_refused(socks5d):
    server = socks5d()
    refusing = reserve_refusing_port("127.0.0.1")
    port = refusing.getsockname()[1]
    try:
        with _requested(server, request("127.0.0.1", port)) as client:
            reply = _assert_failure(client, REP_CONNECTION_REFUSED)
            assert reply.raw[:4] == b"\x05\x05\x00\x01", reply
    finally:
        refusing.close()


def test_c4_connection_refused_ipv6(socks5d):
    server = socks5d()
    refusing = reserve_refusing_port("::1")
    try:
        with _requested(server, request("::1", refusing.getsockname()[1])) as client:
            _assert_failure(client, REP_CONNECTION_REFUSED)
    finally:
        refusing.close()


# Linux refuses TCP connects to multicast and broadcast destinations with
# ENETUNREACH at once (tcp_v4_connect / tcp_v6_connect), whatever the routes.
# 2001:db8::1 and 240.0.0.1 are no good here: this machine has default routes
# for both families (EHOSTUNREACH after ARP/ND, or a connect that succeeds).
@pytest.mark.parametrize("host", ["224.0.0.1", "255.255.255.255", "ff02::1"])
def test_c6_network_unreachable(socks5d, host):
    assert connect_errno((host, 80)) == errno.ENETUNREACH, \
        f"precondition: a plain connect to {host} should fail with ENETUNREACH here"
    server = socks5d()
    with _requested(server, request(host, 80)) as client:
        _assert_failure(client, REP_NETWORK_UNREACHABLE)


def test_c7_connect_timeout_ttl_expired(socks5d):
    port, keep = blackhole_target()
    try:
        server = socks5d("--connect_timeout=1s")
        with _requested(server, request("127.0.0.1", port)) as client:
            start = time.monotonic()
            _assert_failure(client, REP_TTL_EXPIRED, timeout=deadline(6))
            elapsed = time.monotonic() - start
            assert elapsed >= 0.8, f"timed out after {elapsed:.2f}s, before --connect_timeout=1s"
    finally:
        for sock in keep:
            sock.close()


# --- C8..C12: malformed requests


@pytest.mark.parametrize("cmd", [0x00, 0x04, 0x09, 0xFF])
def test_c8_unknown_command(socks5d, target, cmd):
    server = socks5d()
    with _requested(server, request("127.0.0.1", target.port, cmd=cmd)) as client:
        client.expect(b"\x05\x07")
        reply_rest = client.recv_exact(8)
        assert reply_rest[:2] == b"\x00\x01", f"reply continues {reply_rest.hex(' ')}"
        client.assert_closed()
    target.assert_no_connection(0.2)


def test_c8_exact_bytes(socks5d):
    server = socks5d()
    with _requested(server, b"\x05\x09\x00\x01\x7f\x00\x00\x01\x00\x50") as client:
        client.expect(failure_reply(REP_COMMAND_NOT_SUPPORTED))
        client.assert_closed()


@pytest.mark.parametrize("atyp", [0x00, 0x02, 0x05, 0xFF])
def test_c9_unknown_address_type(socks5d, atyp):
    server = socks5d()
    with _requested(server, bytes([5, 1, 0, atyp]) + b"\x7f\x00\x00\x01\x00\x50") as client:
        client.expect(failure_reply(REP_ADDRESS_TYPE_NOT_SUPPORTED))
        client.assert_closed()


def test_c9_unknown_address_type_request_cut_short(socks5d):
    """Only the 4-byte header arrives: the ATYP alone decides the answer."""
    server = socks5d()
    with _requested(server, b"\x05\x01\x00\x05") as client:
        client.expect(b"\x05\x08")
        client.recv_exact(8)
        client.assert_closed()


@pytest.mark.parametrize("name", [b"", b"echo\x00.test", b"\x00", b"echo.test\x00"],
                         ids=["empty", "nul_inside", "only_nul", "nul_at_end"])
def test_c10_bad_domain_name(socks5d, dns_world, name):
    server = socks5d(dns_world["dns"].server_flag)
    with _requested(server, request(name, dns_world["echo4"].port)) as client:
        reply = client.read_reply(timeout=deadline(10))
        assert reply.rep in (0x01, 0x04), f"expected REP 01 or 04, got {reply}"
        client.assert_closed()
    dns_world["echo4"].assert_no_peer(0.2)


def test_c11_nonzero_rsv_accepted(socks5d, echo_server):
    server = socks5d()
    with _requested(server, request("127.0.0.1", echo_server.port, rsv=0x01)) as client:
        reply = client.read_reply()
        assert reply.rep == 0, reply
        client.send(b"rsv")
        client.expect(b"rsv")


@pytest.mark.parametrize("version", [0x04, 0x00, 0x06])
def test_c12_bad_version_in_request_closed(socks5d, target, version):
    server = socks5d()
    with _requested(server, request("127.0.0.1", target.port, version=version)) as client:
        # Close; a failure reply before the close is tolerated, success is not.
        data = client.read_until_closed()
        assert data == b"" or (len(data) == 10 and data[:1] == b"\x05" and data[1] != 0), \
            f"VER {version:02x} request answered {data.hex(' ')}"
    target.assert_no_connection(0.2)


# --- C13, C14


def test_c13_data_behind_request_reaches_target(socks5d, target):
    server = socks5d()
    early = b"GET / HTTP/1.0\r\n\r\n" * 10
    with _requested(server, request("127.0.0.1", target.port) + early) as client:
        conn, _ = target.accept()
        with conn:
            got = recv_exact(conn, len(early), deadline(5), what="early data at target")
            assert got == early
            reply = client.read_reply()
            assert reply.rep == 0, reply
            conn.sendall(b"answer")
            client.expect(b"answer")


def test_c14_denied_destination(socks5d, target):
    denied = TcpListener("127.0.0.2")
    try:
        server = socks5d("--deny_destinations=127.0.0.2/32")
        with _requested(server, request("127.0.0.2", denied.port)) as client:
            client.expect(failure_reply(REP_NOT_ALLOWED))
            client.assert_closed()
        denied.assert_no_connection(0.3)
        # Neighbouring address is not covered by the /32.
        with _requested(server, request("127.0.0.1", target.port)) as client:
            assert client.read_reply().rep == 0
    finally:
        denied.close()


def test_c14_denied_destination_by_name(socks5d, dns_world):
    denied = TcpListener("127.0.0.2")
    try:
        server = socks5d("--deny_destinations=127.0.0.2/32", dns_world["dns"].server_flag)
        with _connect_name(server, "denied.test", denied.port) as client:
            reply = _assert_failure(client, REP_NOT_ALLOWED, timeout=deadline(10))
            assert reply.raw[:2] == b"\x05\x02"
        denied.assert_no_connection(0.3)
    finally:
        denied.close()


def test_c14_denied_ipv6_and_cidr_list(socks5d, echo_server):
    server = socks5d("--deny_destinations=10.0.0.0/8,::1/128")
    with _requested(server, request("::1", 9)) as client:
        client.expect(failure_reply(REP_NOT_ALLOWED))
        client.assert_closed()
    with _requested(server, request("10.1.2.3", 80)) as client:
        client.expect(failure_reply(REP_NOT_ALLOWED))
        client.assert_closed()
    with _requested(server, request("127.0.0.1", echo_server.port)) as client:
        assert client.read_reply().rep == 0


def test_c14_denied_ipv4_mapped_ipv6(socks5d):
    """::ffff:127.0.0.2 is 127.0.0.2: a /32 rule must not be bypassed with ATYP 04."""
    denied = TcpListener("127.0.0.2")
    try:
        server = socks5d("--deny_destinations=127.0.0.2/32")
        with _requested(server, request("::ffff:127.0.0.2", denied.port)) as client:
            reply = client.read_reply()
            assert reply.rep == REP_NOT_ALLOWED, f"expected REP 02, got {reply}"
            client.assert_closed()
        denied.assert_no_connection(0.3)
    finally:
        denied.close()


# --- Robustness around pending work (these matter most under sanitizers)


@pytest.fixture
def silent_dns():
    """A UDP socket posing as a DNS server that never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield f"--dns_servers=127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_dns_timeout_fails_request(socks5d, silent_dns):
    server = socks5d(silent_dns, "--dns_timeout=1s")
    with _connect_name(server, "slow.test", 80) as client:
        start = time.monotonic()
        reply = client.read_reply(timeout=deadline(15))
        assert reply.rep in (0x01, 0x04), f"expected REP 01 or 04, got {reply}"
        client.assert_closed()
        assert time.monotonic() - start >= 0.8


def test_client_gone_during_dns_then_server_serves(socks5d, silent_dns, echo_server):
    server = socks5d(silent_dns, "--dns_timeout=1s")
    for i in range(20):
        client = _connect_name(server, f"pending{i}.test", 80)
        client.reset() if i % 2 else client.close()
    with _requested(server, request("127.0.0.1", echo_server.port)) as client:
        assert client.read_reply().rep == 0
        client.send(b"ok")
        client.expect(b"ok")
    # Let every abandoned query reach its timeout inside the server (crash check at teardown).
    with _connect_name(server, "last.test", 80) as client:
        assert client.read_reply(timeout=deadline(15)).rep != 0


def test_client_gone_during_connect_then_server_serves(socks5d, echo_server):
    port, keep = blackhole_target()
    try:
        server = socks5d("--connect_timeout=1s")
        for i in range(20):
            client = _requested(server, request("127.0.0.1", port))
            client.reset() if i % 2 else client.close()
        with _requested(server, request("127.0.0.1", port)) as client:
            assert client.read_reply(timeout=deadline(6)).rep == REP_TTL_EXPIRED
        with _requested(server, request("127.0.0.1", echo_server.port)) as client:
            assert client.read_reply().rep == 0
    finally:
        for sock in keep:
            sock.close()


@pytest.mark.parametrize("literal,echo", [("127.0.0.1", "echo4"), ("::1", "echo6")])
def test_c3_ip_literal_sent_as_domain(socks5d, dns_world, literal, echo):
    """Some clients send IP literals with ATYP 03; no DNS query is needed."""
    server = socks5d(dns_world["dns"].server_flag)
    with _connect_name(server, literal, dns_world[echo].port) as client:
        reply = client.read_reply(timeout=deadline(10))
        assert reply.rep == 0, reply
        client.send(b"literal")
        client.expect(b"literal")


@pytest.mark.parametrize("name", [b"a" * 64 + b".test", b"a." * 127 + b"b", b"..test", b"\xff\xfe.test"],
                         ids=["label_64", "name_255", "empty_label", "non_ascii"])
def test_c10_invalid_dns_names(socks5d, dns_world, echo_server, name):
    server = socks5d(dns_world["dns"].server_flag)
    with _requested(server, request(name, 80)) as client:
        reply = client.read_reply(timeout=deadline(10))
        assert reply.rep != 0, reply
        client.assert_closed()
    with _requested(server, request("127.0.0.1", echo_server.port)) as client:
        assert client.read_reply().rep == 0


def test_c13_request_data_and_fin_before_reply(socks5d, target):
    """greeting + request + data + FIN in one go: the data and the FIN reach the
    target after the connect, and the target's answer still comes back."""
    server = socks5d()
    client = server.client()
    with client:
        client.send(greeting(0x00) + request("127.0.0.1", target.port) + b"one-shot")
        client.shutdown_write()
        conn, _ = target.accept()
        with conn:
            assert recv_exact(conn, 8, deadline(5)) == b"one-shot"
            assert assert_closed(conn, deadline(5)) == "eof"
            conn.sendall(b"answer")
            conn.shutdown(socket.SHUT_WR)
            client.expect(b"\x05\x00")
            assert client.read_reply().rep == 0
            client.expect(b"answer")
            assert client.assert_closed() == "eof"
