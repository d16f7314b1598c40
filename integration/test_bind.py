"""docs/conformance.md section E: BIND (RFC 1928 s.4, s.6), with exact reply bytes.

The peer check: when DST.ADDR is not all zeros only a connection from that IP (any address
of a domain) completes the BIND; DST.PORT is not checked. DST.ADDR 0.0.0.0 accepts anyone.
"""

import ipaddress
import os
import random
import socket
import struct
import time

import pytest

from socks5lib import (ATYP_IPV4, ATYP_IPV6, CMD_BIND, REP_GENERAL_FAILURE, REP_SUCCEEDED,
                       REP_TTL_EXPIRED, DnsResponder, assert_closed, deadline, failure_reply,
                       greeting, recv_exact, request)


def reply_bytes(rep, host, port):
    """05 REP 00 ATYP ADDR PORT for an IP literal."""
    ip = ipaddress.ip_address(host)
    atyp = ATYP_IPV4 if ip.version == 4 else ATYP_IPV6
    return bytes([5, rep, 0, atyp]) + ip.packed + struct.pack("!H", port)


def start_bind(server, host, port=0, index=0):
    """A client that has sent BIND for host:port; returns (client, first reply)."""
    client = server.client(index)
    client.send(greeting(0x00))
    client.expect(b"\x05\x00", what="method selection")
    client.send(request(host, port, cmd=CMD_BIND))
    return client, client.read_reply()


def connect_from(source_ip, address):
    """A TCP connection to address whose source IP is source_ip."""
    family = socket.AF_INET6 if ":" in source_ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(deadline(5))
    sock.bind((source_ip, 0))
    sock.connect(address)
    sock.settimeout(None)
    return sock


def assert_peer_refused(source_ip, address):
    """A connection from source_ip to address is accepted and then reset by the server.

    The reset may come so soon that connect() itself reports it (SO_ERROR after the
    handshake); either way the connection must end in a reset, with no byte."""
    try:
        sock = connect_from(source_ip, address)
    except ConnectionResetError:
        return
    with sock:
        assert assert_closed(sock, deadline(5)) == "reset"


def assert_port_free(host, port):
    """Nothing listens on host:port any more: a connect is refused and we can bind it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    probe.settimeout(deadline(5))
    with probe, pytest.raises(ConnectionRefusedError):
        probe.connect((host, port))
    mine = socket.socket(family, socket.SOCK_STREAM)
    with mine:
        mine.bind((host, port))
        mine.listen(1)


def free_port_range(size):
    """A range of `size` ports below the ephemeral range, starting at a random place.

    The server skips ports someone else holds, so a taken port does not fail a test."""
    lo = random.randrange(20000, 30000 - size)
    return lo, lo + size - 1


# ---------------------------------------------------------------------------
# E1: the first reply


def test_e1_first_reply_is_the_local_address_toward_dst(socks5d):
    server = socks5d()
    client, first = start_bind(server, "127.0.0.1", 21)
    with client:
        assert first.rep == REP_SUCCEEDED and first.host == "127.0.0.1" and first.port != 0, first
        assert first.raw == reply_bytes(0, "127.0.0.1", first.port)
        # The control connection's local address (the proxy end) for a 127.0.0.1 destination.
        assert first.host == client.sock.getpeername()[0]


def test_e1_listener_address_follows_dst_not_the_control_connection(socks5d):
    """Control connection on 127.0.0.3: DST 127.0.0.1 -> the route's source 127.0.0.1;
    DST 0.0.0.0 -> the control connection's local address 127.0.0.3."""
    server = socks5d("--listen=127.0.0.3:0")
    toward, first = start_bind(server, "127.0.0.1", 21)
    with toward:
        assert first.raw == reply_bytes(0, "127.0.0.1", first.port), first
    anyone, first_any = start_bind(server, "0.0.0.0", 0)
    with anyone:
        assert first_any.raw == reply_bytes(0, "127.0.0.3", first_any.port), first_any
        # The advertised address really listens: a connection there completes the BIND.
        peer = connect_from("127.0.0.1", first_any.address)
        with peer:
            second = anyone.read_reply()
            assert second.raw == reply_bytes(0, "127.0.0.1", peer.getsockname()[1])


def test_e1_port_from_bind_port_range(socks5d):
    lo, hi = free_port_range(16)
    server = socks5d(f"--bind_port_range={lo}-{hi}")
    a, first_a = start_bind(server, "127.0.0.1", 21)
    b, first_b = start_bind(server, "127.0.0.1", 21)
    with a, b:
        for first in (first_a, first_b):
            assert first.rep == REP_SUCCEEDED and first.host == "127.0.0.1", first
            assert lo <= first.port <= hi, f"port {first.port} outside {lo}-{hi}"
        assert first_a.port != first_b.port


def test_e1_every_port_of_the_range_busy_is_01(socks5d):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    with holder:
        server = socks5d(f"--bind_port_range={port}-{port}")
        client, reply = start_bind(server, "127.0.0.1", 21)
        with client:
            assert reply.raw == failure_reply(REP_GENERAL_FAILURE), reply
            client.assert_closed()
        server.wait_for_line(rf"every port of --bind_port_range={port}-{port}")
        server.wait_access_log(cmd="BIND", reply="01")


def test_e1_advertise_address_in_first_reply(socks5d):
    server = socks5d("--advertise_address=192.0.2.10")
    client, first = start_bind(server, "127.0.0.1", 21)
    with client:
        assert first.raw == reply_bytes(0, "192.0.2.10", first.port), first
        # The listener itself is on 127.0.0.1 at the advertised port.
        peer = connect_from("127.0.0.1", ("127.0.0.1", first.port))
        with peer:
            second = client.read_reply()
            assert second.raw == reply_bytes(0, "127.0.0.1", peer.getsockname()[1])
    server.wait_access_log(cmd="BIND")
    assert "bound=192.0.2.10:%d" % first.port in server.stderr


# ---------------------------------------------------------------------------
# E2: the expected peer connects


def _relay_checks(client, peer):
    """Data both ways, then half-close from each side in turn."""
    client.send(b"from client")
    assert recv_exact(peer, 11, deadline(5)) == b"from client"
    peer.sendall(b"from peer")
    client.expect(b"from peer")
    client.shutdown_write()
    assert assert_closed(peer, deadline(5)) == "eof", "peer should see a FIN"
    payload = os.urandom(256 * 1024)
    peer.sendall(payload)
    assert client.recv_exact(len(payload), timeout=deadline(10)) == payload
    peer.shutdown(socket.SHUT_WR)
    assert client.assert_closed() == "eof"
    return len(payload)


def test_e2_expected_peer_gets_second_reply_and_relay(socks5d):
    server = socks5d()
    # DST.PORT 2121 is not checked: the peer connects from an ephemeral port.
    client, first = start_bind(server, "127.0.0.1", 2121)
    with client:
        assert first.raw == reply_bytes(0, "127.0.0.1", first.port)
        # Bytes sent before the second reply are kept for the peer.
        client.send(b"early ")
        peer = connect_from("127.0.0.1", first.address)
        peer_port = peer.getsockname()[1]
        with peer:
            second = client.read_reply()
            assert second.raw == reply_bytes(0, "127.0.0.1", peer_port), second
            assert recv_exact(peer, 6, deadline(5)) == b"early "
            down = _relay_checks(client, peer)
    log = server.wait_access_log(cmd="BIND", reply="00")
    assert log["target"] == "127.0.0.1:2121"
    assert int(log["up"]) == len(b"early from client")
    assert int(log["down"]) == len(b"from peer") + down
    line = next(l for l in server.stderr.splitlines() if "cmd=BIND" in l)
    assert f"bound=127.0.0.1:{first.port}" in line
    assert f"peer=127.0.0.1:{peer_port}" in line


def test_e2_ipv6(socks5d):
    server = socks5d("--listen=[::1]:0")
    client, first = start_bind(server, "::1", 21)
    with client:
        assert first.raw == reply_bytes(0, "::1", first.port), first
        peer = connect_from("::1", (first.host, first.port))
        with peer:
            second = client.read_reply()
            assert second.raw == reply_bytes(0, "::1", peer.getsockname()[1]), second
            _relay_checks(client, peer)
    server.wait_access_log(cmd="BIND", reply="00", target="[::1]:21")


def test_e2_ipv6_destination_over_ipv4_control(socks5d):
    server = socks5d()
    client, first = start_bind(server, "::1", 21)
    with client:
        assert first.raw == reply_bytes(0, "::1", first.port), first
        peer = connect_from("::1", (first.host, first.port))
        with peer:
            second = client.read_reply()
            assert second.raw == reply_bytes(0, "::1", peer.getsockname()[1]), second


def test_e2_domain_destination(socks5d):
    responder = DnsResponder({"ftp.test": {"A": ["127.0.0.1"]}})
    try:
        server = socks5d(responder.server_flag)
        client, first = start_bind(server, "ftp.test", 21)
        with client:
            assert first.raw == reply_bytes(0, "127.0.0.1", first.port), first
            assert_peer_refused("127.0.0.2", first.address)
            peer = connect_from("127.0.0.1", first.address)
            with peer:
                second = client.read_reply()
                assert second.raw == reply_bytes(0, "127.0.0.1", peer.getsockname()[1])
        server.wait_access_log(cmd="BIND", reply="00", target="ftp.test:21")
    finally:
        responder.close()


def test_e2_unspecified_destination_accepts_any_peer(socks5d):
    server = socks5d()
    client, first = start_bind(server, "0.0.0.0", 0)
    with client:
        assert first.raw == reply_bytes(0, "127.0.0.1", first.port), first
        peer = connect_from("127.0.0.2", first.address)
        with peer:
            second = client.read_reply()
            assert second.raw == reply_bytes(0, "127.0.0.2", peer.getsockname()[1]), second
            _relay_checks(client, peer)


# ---------------------------------------------------------------------------
# E3: a different host connects


def test_e3_wrong_peer_refused_then_right_peer_completes(socks5d):
    server = socks5d()
    client, first = start_bind(server, "127.0.0.1", 21)
    with client:
        assert_peer_refused("127.0.0.2", first.address)
        server.wait_for_line(r"refused a connection from 127\.0\.0\.2:")
        # A second wrong peer: the wait still goes on.
        assert_peer_refused("127.0.0.3", first.address)
        peer = connect_from("127.0.0.1", first.address)
        with peer:
            # The next bytes on the control connection are the right peer's second reply.
            second = client.read_reply()
            assert second.raw == reply_bytes(0, "127.0.0.1", peer.getsockname()[1]), second
            peer.sendall(b"hello")
            client.expect(b"hello")
    server.wait_access_log(cmd="BIND", reply="00")


# ---------------------------------------------------------------------------
# E4: nobody connects in time


def test_e4_timeout_sends_second_reply_06_and_closes(socks5d):
    server = socks5d("--bind_timeout=1s")
    client, first = start_bind(server, "127.0.0.1", 21)
    with client:
        assert first.rep == REP_SUCCEEDED
        start = time.monotonic()
        second = client.read_reply(timeout=deadline(5))
        elapsed = time.monotonic() - start
        assert second.raw == failure_reply(REP_TTL_EXPIRED), second
        assert elapsed >= 0.5, f"second reply after {elapsed:.2f}s, before --bind_timeout"
        client.assert_closed()
    server.wait_access_log(cmd="BIND", reply="06")
    assert_port_free("127.0.0.1", first.port)


def test_e4_wrong_peer_does_not_stop_the_timeout(socks5d):
    server = socks5d("--bind_timeout=1s")
    client, first = start_bind(server, "127.0.0.1", 21)
    with client:
        assert_peer_refused("127.0.0.2", first.address)
        assert client.read_reply(timeout=deadline(5)).raw == failure_reply(REP_TTL_EXPIRED)
        client.assert_closed()


# ---------------------------------------------------------------------------
# E5: the client closes the control connection while waiting


@pytest.mark.parametrize("listen,dst", [("127.0.0.1:0", "127.0.0.1"), ("[::1]:0", "::1")])
def test_e5_control_close_frees_the_port(socks5d, listen, dst):
    server = socks5d(f"--listen={listen}", "--bind_timeout=60s")
    client, first = start_bind(server, dst, 21)
    assert first.rep == REP_SUCCEEDED
    start = time.monotonic()
    client.close()
    log = server.wait_access_log(cmd="BIND", timeout=deadline(5))
    assert time.monotonic() - start < deadline(5)
    assert float(log["duration"].rstrip("s")) < 30, log
    assert_port_free(first.host, first.port)
    assert "outcome=client_closed" in server.stderr


def test_e5_control_close_after_early_data_frees_the_port(socks5d):
    server = socks5d("--bind_timeout=60s")
    client, first = start_bind(server, "127.0.0.1", 21)
    client.send(b"x" * 1000)
    client.shutdown_write()
    server.wait_access_log(cmd="BIND", timeout=deadline(5))
    client.close()
    assert_port_free(first.host, first.port)


# ---------------------------------------------------------------------------
# Early data, workers


def test_early_data_beyond_the_read_cap_arrives_whole_and_in_order(socks5d):
    """The server reads at most 64 KiB from the control connection while waiting; the rest
    stays in the socket. All of it reaches the peer, in order."""
    server = socks5d()
    client, first = start_bind(server, "127.0.0.1", 21)
    payload = os.urandom(300 * 1024)
    with client:
        client.send(payload)
        peer = connect_from("127.0.0.1", first.address)
        with peer:
            second = client.read_reply()
            assert second.raw == reply_bytes(0, "127.0.0.1", peer.getsockname()[1]), second
            assert recv_exact(peer, len(payload), deadline(10)) == payload
            client.shutdown_write()
            assert assert_closed(peer, deadline(5)) == "eof"
    log = server.wait_access_log(cmd="BIND", reply="00")
    assert int(log["up"]) == len(payload)


def test_binds_on_several_workers_share_the_port_range(socks5d):
    lo, hi = free_port_range(32)
    server = socks5d("--workers=2", f"--bind_port_range={lo}-{hi}")
    opened = [start_bind(server, "127.0.0.1", 21) for _ in range(8)]
    try:
        ports = [first.port for _, first in opened]
        assert all(lo <= port <= hi for port in ports), ports
        assert len(set(ports)) == len(ports), f"a port handed out twice: {ports}"
        for client, first in opened:
            peer = connect_from("127.0.0.1", first.address)
            with peer:
                second = client.read_reply()
                assert second.raw == reply_bytes(0, "127.0.0.1", peer.getsockname()[1])
                peer.sendall(b"ok")
                client.expect(b"ok")
    finally:
        for client, _ in opened:
            client.close()
