"""Defect 2: the unspecified addresses (0.0.0.0, ::ffff:0.0.0.0, ::) reach the local host and
so bypassed --deny_destinations=127.0.0.0/8,::1/128; 0.0.0.0/8 and ::/128 are never valid.
Defect 3: CONNECT to the proxy's own listening endpoint chains sessions on one socket, and no
per-client cap bounds what one address holds."""

import socket

import pytest

import socks5lib
import udplib
from assumed import DROP_DENIED_FIELD, FLAG_MAX_SESSIONS_PER_CLIENT, LOG_PER_CLIENT_CAP
from socks5lib import REP_HOST_UNREACHABLE, REP_NOT_ALLOWED, deadline, request

DENY_LOOPBACK = "--deny_destinations=127.0.0.0/8,::1/128"


def _reply_to(server, host, port):
    with server.client() as client:
        client.handshake()
        client.send(request(host, port))
        return client.read_reply(timeout=deadline(5))


@pytest.mark.parametrize("host,family", [("0.0.0.0", 4), ("::ffff:0.0.0.0", 4), ("::", 6)])
def test_unspecified_destination_denied(adv_server, echo_server, echo_server6, host, family):
    target = echo_server if family == 4 else echo_server6
    server = adv_server(DENY_LOOPBACK)
    reply = _reply_to(server, host, target.port)
    assert reply.rep == REP_NOT_ALLOWED, \
        f"CONNECT [{host}]:{target.port} with {DENY_LOOPBACK}: got {reply}, expected reply 02"
    target.assert_no_peer(0.2)


def test_unspecified_destination_never_valid(adv_server, echo_server):
    server = adv_server()
    reply = _reply_to(server, "0.0.0.0", echo_server.port)
    assert reply.rep == REP_NOT_ALLOWED, \
        f"CONNECT 0.0.0.0:{echo_server.port} without a deny list: got {reply}, expected 02"
    echo_server.assert_no_peer(0.2)


def test_name_resolving_to_unspecified_is_unreachable(adv_server, echo_server):
    dns = socks5lib.DnsResponder({"zero.test": {"A": ["0.0.0.0"]}})
    try:
        server = adv_server(DENY_LOOPBACK, dns.server_flag)
        reply = _reply_to(server, "zero.test", echo_server.port)
        assert reply.rep == REP_HOST_UNREACHABLE, \
            f"CONNECT zero.test (A 0.0.0.0): got {reply}, expected 04"
        echo_server.assert_no_peer(0.2)
    finally:
        dns.close()


def test_udp_datagram_to_unspecified_denied(adv_server):
    server = adv_server(DENY_LOOPBACK)
    peer = udplib.UdpPeer("127.0.0.1")
    try:
        with udplib.Association(server) as a:
            a.send("0.0.0.0", peer.port, b"via the unspecified address")
            a.send("127.0.0.1", peer.port, b"direct")
        # The access line is printed after both datagrams were handled.
        fields = udplib.access_fields(server)
        peer.sock.setblocking(False)
        try:
            leaked = peer.sock.recvfrom(65536)
        except BlockingIOError:
            leaked = None
        assert leaked is None, f"a denied datagram reached 127.0.0.1:{peer.port}: {leaked}"
        assert fields[DROP_DENIED_FIELD] == 2, f"both datagrams must count as denied: {fields}"
    finally:
        peer.close()


def _self_targets(server):
    for host, port in server.endpoints:
        yield host, port
        if host == "127.0.0.1":
            yield "0.0.0.0", port
            yield "::ffff:127.0.0.1", port


def test_connect_to_own_listener_refused(adv_server):
    server = adv_server("--listen=127.0.0.1:0,[::1]:0")
    targets = list(_self_targets(server))
    assert len(targets) == 4, targets
    for host, port in targets:
        reply = _reply_to(server, host, port)
        assert reply.rep == REP_NOT_ALLOWED, \
            f"CONNECT to the proxy's own listener [{host}]:{port}: got {reply}, expected 02"


def test_pipelined_self_hops_do_not_fill_the_server(adv_server, echo_server):
    """19 pipelined hops on one socket must not take all 20 sessions of --max_sessions=20.

    (One hop more and the 21st session is refused, which tears the whole chain down.)"""
    server = adv_server("--max_sessions=20")
    hop = socks5lib.greeting(socks5lib.METHOD_NO_AUTH) + request("127.0.0.1", server.port)
    attacker = server.client()
    attacker.send(hop * 19)
    # Each hop answers 05 00 and a 10-byte reply (after the fix: only the first, refused).
    # Read the answers until the chain stops: 1 s without a byte, or the proxy closes.
    answers = b""
    attacker.sock.settimeout(deadline(1))
    while len(answers) < 19 * 12:
        try:
            chunk = attacker.sock.recv(4096)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        answers += chunk
    hops = len(answers) // 12
    assert hops >= 1, f"no answer to the first hop: {socks5lib.hexs(answers)}"
    first = socks5lib.Reply(answers[2:12])
    # A legitimate client is still served.
    with server.client() as client:
        try:
            client.connect("127.0.0.1", echo_server.port)
        except socks5lib.PeerClosed as e:
            raise AssertionError(
                f"one socket with pipelined self-CONNECTs ({hops} hops answered, first reply "
                f"{first}) filled --max_sessions=20: a new client was closed ({e})")
    assert first.rep == REP_NOT_ALLOWED, f"first self-hop: {first} ({hops} hops answered)"
    attacker.close()


def test_max_sessions_per_client(adv_server):
    cap = 5
    server = adv_server(f"{FLAG_MAX_SESSIONS_PER_CLIENT}={cap}")
    held = [server.client() for _ in range(cap)]
    try:
        for client in held:
            client.handshake()  # each is a session now
        extra = server.client()
        how = extra.assert_closed(timeout=deadline(2))
        assert how in ("eof", "reset")
        server.wait_for_line(LOG_PER_CLIENT_CAP, timeout=deadline(2))
        extra.close()
        # Another address is not affected.
        other = socket.create_connection(("127.0.0.1", server.port), timeout=deadline(2),
                                         source_address=("127.0.0.2", 0))
        other.sendall(b"\x05\x01\x00")
        assert socks5lib.recv_exact(other, 2, deadline(2)) == b"\x05\x00"
        other.close()
    finally:
        for client in held:
            client.close()
