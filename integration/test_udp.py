"""UDP ASSOCIATE: docs/conformance.md section F (RFC 1928 s.4, s.7), with exact bytes.

Drops are proven by order: the relay handles a client's datagrams one at a time in arrival
order, so when a good datagram sent after a bad one is the first to reach the target, the bad
one was dropped. The access-log counters then say why.
"""

import os
import select
import socket
import struct

import pytest

import socks5lib
from socks5lib import deadline
from udplib import (Association, UdpEcho, UdpPeer, access_fields, parse_udp_datagram,
                    udp_header, wait_port_free)


@pytest.fixture
def echo():
    server = UdpEcho("127.0.0.1")
    yield server
    server.close()


@pytest.fixture
def echo6():
    server = UdpEcho("::1")
    yield server
    server.close()


@pytest.fixture
def target():
    peer = UdpPeer("127.0.0.1")
    yield peer
    peer.close()


def assert_nothing_pending(sock):
    readable, _, _ = select.select([sock], [], [], 0)
    if readable:
        data = sock.recv(65536)
        raise AssertionError(f"unexpected datagram {socks5lib.hexs(data[:32])}")


# --- F1: the reply ----------------------------------------------------------------------


def test_f1_reply_names_relay_on_control_local_address(socks5d, echo):
    server = socks5d()
    with Association(server) as a:
        raw = a.reply.raw
        assert raw[:8] == bytes.fromhex("05 00 00 01 7f 00 00 01"), socks5lib.hexs(raw)
        assert len(raw) == 10 and a.reply.port != 0
        a.send("127.0.0.1", echo.port, b"ping")
        assert a.recv() == (0, "127.0.0.1", echo.port, b"ping")


def test_f1_relay_port_comes_from_udp_port_range(socks5d, echo):
    lo, hi = 47310, 47319
    server = socks5d(f"--udp_port_range={lo}-{hi}")
    with Association(server) as a, Association(server) as b:
        assert lo <= a.reply.port <= hi and lo <= b.reply.port <= hi
        assert a.reply.port != b.reply.port
        for assoc, payload in ((a, b"first"), (b, b"second")):
            assoc.send("127.0.0.1", echo.port, payload)
            assert assoc.recv()[3] == payload


def test_f1_reply_names_advertised_address(socks5d):
    server = socks5d("--advertise_address=192.0.2.10")
    with Association(server) as a:
        assert a.reply.raw[:8] == bytes.fromhex("05 00 00 01 c0 00 02 0a"), socks5lib.hexs(a.reply.raw)
        assert a.reply.port != 0


def test_f1_ipv6_listener_gets_ipv6_relay(socks5d, echo6):
    server = socks5d("--listen=[::1]:0")
    with Association(server) as a:
        raw = a.reply.raw
        assert raw[:4] == bytes.fromhex("05 00 00 04") and len(raw) == 22, socks5lib.hexs(raw)
        assert raw[4:20] == socket.inet_pton(socket.AF_INET6, "::1")
        a.send("::1", echo6.port, b"six")
        assert a.recv() == (0, "::1", echo6.port, b"six")


def test_f1_relay_port_range_exhausted_answers_general_failure(socks5d):
    # Hold every port of a one-port range ourselves: the association cannot open a relay.
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        server = socks5d(f"--udp_port_range={port}-{port}")
        with server.client() as c:
            c.handshake()
            c.send(socks5lib.request("0.0.0.0", 0, cmd=socks5lib.CMD_UDP_ASSOCIATE))
            c.expect(socks5lib.failure_reply(socks5lib.REP_GENERAL_FAILURE))
            c.assert_closed()
    finally:
        holder.close()


# --- F2, F3: who may send -----------------------------------------------------------------


def test_f2_named_port_locks_for_good_when_it_sends_first(socks5d, target):
    server = socks5d()
    with Association(server, dst="self") as a:
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.1", 0))
        a.send("127.0.0.1", target.port, b"named port")
        assert target.recv()[0] == b"named port"
        a.send("127.0.0.1", target.port, b"wrong port", sock=other)
        a.send("127.0.0.1", target.port, b"named again")
        assert target.recv()[0] == b"named again"
        other.close()
    fields = access_fields(server)
    assert fields["drop_wrong_port"] == 1 and fields["dgrams_up"] == 2
    assert not any("dst_hint=" in line for line in server.lines)


def test_f2_unspecified_address_with_port_names_the_port(socks5d, target):
    server = socks5d()
    with Association(server, dst="self-port") as a:
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.1", 0))
        a.send("127.0.0.1", target.port, b"named port")
        a.send("127.0.0.1", target.port, b"wrong port", sock=other)
        a.send("127.0.0.1", target.port, b"named again")
        assert target.recv()[0] == b"named port"
        assert target.recv()[0] == b"named again"
        other.close()
    assert access_fields(server)["drop_wrong_port"] == 1


# --- F14: DST as a hint (v2ray, Xray) -------------------------------------------------------


def test_f14_target_in_dst_on_clients_own_address_is_served(socks5d, echo):
    """v2ray puts the target in DST: `05 03 00 01 7f 00 00 01 <echo port>`, the echo being on
    the client's own address. The client sends from its own socket's port: relayed both ways."""
    server = socks5d()
    with Association(server, dst=("127.0.0.1", echo.port)) as a:
        assert a.local[1] != echo.port
        for payload in (b"one", b"two"):
            a.send("127.0.0.1", echo.port, payload)
            assert a.recv() == (0, "127.0.0.1", echo.port, payload)
    fields = access_fields(server)
    assert fields["dgrams_up"] == 2 and fields["dgrams_down"] == 2, fields
    assert fields["drop_wrong_port"] == 0, fields
    assert any("cmd=UDP_ASSOCIATE" in line and " dst_hint=unused" in line
               for line in server.lines)


def test_f14_named_endpoint_sending_later_takes_over(socks5d, target):
    """The request names the client socket's endpoint but the first datagram comes from another
    port of the client's IP: relayed (locked onto). When the named endpoint then sends, it takes
    the association over; the first port is dropped from then on."""
    server = socks5d()
    with Association(server, dst="self") as a:
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.1", 0))
        other.settimeout(deadline(5))
        a.send("127.0.0.1", target.port, b"other first", sock=other)
        data, source = target.recv()
        assert data == b"other first"
        target.sendto(b"to other", source)
        assert parse_udp_datagram(other.recv(65536))[3] == b"to other"
        a.send("127.0.0.1", target.port, b"named later")
        assert target.recv()[0] == b"named later"
        target.sendto(b"to named", source)
        assert a.recv()[3] == b"to named"
        a.send("127.0.0.1", target.port, b"other again", sock=other)
        a.send("127.0.0.1", target.port, b"named again")
        assert target.recv()[0] == b"named again"
        other.close()
    fields = access_fields(server)
    assert fields["dgrams_up"] == 3 and fields["drop_wrong_port"] == 1, fields


def test_f14_hint_never_admits_a_foreign_address(socks5d, target):
    """The hint names 127.0.0.1:<port>; a datagram from 127.0.0.2 on any port is still dropped
    and locks nothing, whether it comes before or after the client's."""
    server = socks5d()
    with Association(server, dst=("127.0.0.1", target.port)) as a:
        foreign = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        foreign.bind(("127.0.0.2", 0))
        a.send("127.0.0.1", target.port, b"foreign first", sock=foreign)
        a.send("127.0.0.1", target.port, b"client")
        assert target.recv()[0] == b"client"
        a.send("127.0.0.1", target.port, b"foreign again", sock=foreign)
        a.send("127.0.0.1", target.port, b"client again")
        assert target.recv()[0] == b"client again"
        foreign.close()
    fields = access_fields(server)
    assert fields["drop_foreign"] == 2 and fields["dgrams_up"] == 2, fields


def test_f2_all_zero_request_locks_onto_first_source_port(socks5d, target):
    server = socks5d()
    with Association(server) as a:
        a.send("127.0.0.1", target.port, b"first")
        assert target.recv()[0] == b"first"
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.1", 0))
        a.send("127.0.0.1", target.port, b"late, other port", sock=other)
        a.send("127.0.0.1", target.port, b"second")
        assert target.recv()[0] == b"second"
        other.close()
    fields = access_fields(server)
    assert fields["drop_wrong_port"] == 1 and fields["dgrams_up"] == 2


def test_f3_foreign_source_ip_dropped_client_still_served(socks5d, target):
    server = socks5d()
    foreign = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    foreign.bind(("127.0.0.2", 0))
    with Association(server) as a:
        # The foreign datagram comes first, so it could have locked the port: it must not.
        a.send("127.0.0.1", target.port, b"foreign", sock=foreign)
        a.send("127.0.0.1", target.port, b"own")
        data, relay_out = target.recv()
        assert data == b"own"
        target.sendto(b"answer", relay_out)
        assert a.recv() == (0, "127.0.0.1", target.port, b"answer")
        a.send("127.0.0.1", target.port, b"foreign again", sock=foreign)
        a.send("127.0.0.1", target.port, b"own again")
        assert target.recv()[0] == b"own again"
        assert_nothing_pending(foreign)
    foreign.close()
    fields = access_fields(server)
    assert fields["drop_foreign"] == 2 and fields["dgrams_up"] == 2 and fields["dgrams_down"] == 1


# --- F4, F5: targets and reply headers ------------------------------------------------------


@pytest.mark.parametrize("listen,target_host", [
    ("127.0.0.1:0", "127.0.0.1"),
    ("127.0.0.1:0", "::1"),
    ("[::1]:0", "::1"),
    ("[::1]:0", "127.0.0.1"),
])
def test_f4_f5_ip_targets_and_exact_reply_header(socks5d, listen, target_host):
    server = socks5d(f"--listen={listen}")
    peer = UdpEcho(target_host)
    try:
        with Association(server) as a:
            payload = b"\x00\x01binary\xff" + os.urandom(32)
            a.send(target_host, peer.port, payload)
            data, source = recv_exact_source(a)
            assert data == udp_header(target_host, peer.port) + payload, socks5lib.hexs(data[:40])
            # The target saw the proxy's outbound socket, not the client.
            assert peer.sources[0] != a.local
    finally:
        peer.close()
    fields = access_fields(server)
    assert fields["up"] == len(payload) and fields["down"] == len(payload)
    assert fields["dgrams_up"] == 1 and fields["dgrams_down"] == 1


def recv_exact_source(a):
    a.udp.settimeout(socks5lib.REPLY_TIMEOUT)
    data, source = a.udp.recvfrom(65536)
    assert source[:2] == a.relay
    return data, source


def test_f4_domain_targets_resolve_once_and_keep_order(socks5d, echo, echo6):
    dns_server = socks5lib.DnsResponder({
        "echo.test": {"A": ["127.0.0.1"]},
        "six.test": {"AAAA": ["::1"]},
        "late.test": {"A": ["127.0.0.1"]},
    })
    try:
        server = socks5d(dns_server.server_flag)
        with Association(server) as a:
            # A burst to a name not resolved yet: all wait for one lookup, then go in order.
            for i in range(20):
                a.send("echo.test", echo.port, b"burst %d" % i)
            for i in range(20):
                assert a.recv() == (0, "127.0.0.1", echo.port, b"burst %d" % i)
            a.send("echo.test", echo.port, b"cached")
            assert a.recv() == (0, "127.0.0.1", echo.port, b"cached")
            a.send("six.test", echo6.port, b"over six")
            assert a.recv() == (0, "::1", echo6.port, b"over six")
            # An unknown name: dropped, and the association keeps working. The next datagram
            # goes to a name looked up after it: the responder answers in order on the one
            # resolver socket, so the NXDOMAIN is handled before "after nx" can leave.
            a.send("nx.test", echo.port, b"nowhere")
            a.send("late.test", echo.port, b"after nx")
            assert a.recv() == (0, "127.0.0.1", echo.port, b"after nx")
        assert dns_server.queries.count(("echo.test", "A")) == 1, dns_server.queries
    finally:
        dns_server.close()
    fields = access_fields(server)
    assert fields["dgrams_up"] == 23 and fields["drop_unresolved"] == 1
    assert len(echo.sources) == 22  # 20 burst, cached, after nx: "nowhere" went nowhere


def test_denied_destination_dropped(socks5d, echo):
    server = socks5d("--deny_destinations=127.0.0.3/32")
    denied = UdpPeer("127.0.0.3")
    try:
        with Association(server) as a:
            a.send("127.0.0.3", denied.port, b"denied")
            a.send("127.0.0.1", echo.port, b"allowed")
            assert a.recv()[3] == b"allowed"
            assert_nothing_pending(denied.sock)
    finally:
        denied.close()
    assert access_fields(server)["drop_denied"] == 1


# --- F6-F8: fragments ---------------------------------------------------------------------


def test_f6_fragments_reassembled_into_one_datagram(socks5d, target):
    server = socks5d()
    with Association(server) as a:
        a.send("127.0.0.1", target.port, b"frag-one|", frag=0x01)
        a.send("127.0.0.1", target.port, b"frag-two|", frag=0x02)
        a.send("127.0.0.1", target.port, b"frag-last", frag=0x83)
        assert target.recv()[0] == b"frag-one|frag-two|frag-last"
        a.send("127.0.0.1", target.port, b"standalone")
        assert target.recv()[0] == b"standalone"  # nothing else was sent in between
    fields = access_fields(server)
    assert fields["reassembled"] == 1 and fields["dgrams_up"] == 2
    assert fields["up"] == len(b"frag-one|frag-two|frag-laststandalone")


def test_f7_lower_position_abandons_queue_and_restarts(socks5d, target):
    server = socks5d()
    with Association(server) as a:
        a.send("127.0.0.1", target.port, b"old-1|", frag=0x01)
        a.send("127.0.0.1", target.port, b"old-2|", frag=0x02)
        a.send("127.0.0.1", target.port, b"new-1|", frag=0x01)  # lower than 2: restart
        a.send("127.0.0.1", target.port, b"new-2", frag=0x82)
        assert target.recv()[0] == b"new-1|new-2"
        a.send("127.0.0.1", target.port, b"standalone")
        assert target.recv()[0] == b"standalone"
    fields = access_fields(server)
    assert fields["reassembled"] == 1 and fields["frag_abandoned"] == 1


def test_f8_reassembly_timer_abandons_queue(socks5d, target):
    server = socks5d("--udp_reassembly_timeout=5s")
    with Association(server) as a:
        a.send("127.0.0.1", target.port, b"early-1|", frag=0x01)
        # The behaviour under test is the passage of time itself: there is no event to wait
        # for, so wait past the 5 s timer (RFC 1928 s.7 minimum).
        select.select([], [], [], 6.0)
        a.send("127.0.0.1", target.port, b"late-2", frag=0x82)
        a.send("127.0.0.1", target.port, b"standalone")
        assert target.recv()[0] == b"standalone"
    fields = access_fields(server)
    assert fields["frag_timeout"] == 1 and fields["reassembled"] == 0
    assert fields["drop_fragment"] == 1 and fields["dgrams_up"] == 1


# --- F9: malformed ------------------------------------------------------------------------


def test_f9_malformed_datagrams_dropped_association_kept(socks5d, echo):
    server = socks5d()
    port = struct.pack("!H", echo.port)
    malformed = [
        b"\x00\x00\x00",                                    # shorter than any header
        b"\x00\x00\x00\x01\x7f\x00",                        # IPv4 address cut short
        b"\x00\x01\x00\x01\x7f\x00\x00\x01" + port + b"x",  # RSV not zero
        b"\x00\x00\x00\x05\x7f\x00\x00\x01" + port + b"x",  # unknown ATYP
        b"\x00\x00\x00\x03\x00" + port + b"x",              # empty domain
    ]
    with Association(server) as a:
        for bad in malformed:
            a.send_raw(bad)
        a.send("127.0.0.1", echo.port, b"still here")
        assert a.recv() == (0, "127.0.0.1", echo.port, b"still here")
        for bad in malformed:
            a.send_raw(bad)
        a.send("127.0.0.1", echo.port, b"and again")
        assert a.recv() == (0, "127.0.0.1", echo.port, b"and again")
    fields = access_fields(server)
    assert fields["drop_malformed"] == 2 * len(malformed) and fields["dgrams_up"] == 2


# --- F10: lifetime ------------------------------------------------------------------------


def test_f10_control_close_ends_association_and_frees_port(socks5d, echo):
    server = socks5d()
    a = Association(server)
    a.send("127.0.0.1", echo.port, b"alive")
    assert a.recv()[3] == b"alive"
    relay = a.relay
    a.control.close()
    fields = access_fields(server)
    assert fields["dgrams_up"] == 1 and fields["dgrams_down"] == 1
    assert wait_port_free(relay[0], relay[1], deadline(5)), f"relay port {relay} still bound"
    a.udp.close()


def test_f10_control_data_is_ignored(socks5d, echo):
    server = socks5d()
    with Association(server) as a:
        a.control.send(b"chatter on the control connection")
        a.send("127.0.0.1", echo.port, b"alive")
        assert a.recv()[3] == b"alive"
        socks5lib.assert_open(a.control.sock, 0.2)


def test_idle_timeout_ends_association(socks5d, echo):
    server = socks5d("--udp_idle_timeout=1s")
    a = Association(server)
    a.send("127.0.0.1", echo.port, b"once")
    assert a.recv()[3] == b"once"
    a.control.assert_closed(timeout=deadline(5))
    assert wait_port_free(a.relay[0], a.relay[1], deadline(5))
    a.close()
    assert access_fields(server)["dgrams_up"] == 1


# --- F11: size ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [60000, 65000])
def test_f11_large_datagram_relayed_whole_both_ways(socks5d, echo, size):
    server = socks5d()
    payload = os.urandom(size)
    with Association(server) as a:
        a.send("127.0.0.1", echo.port, payload)
        assert a.recv() == (0, "127.0.0.1", echo.port, payload)
    fields = access_fields(server)
    assert fields["up"] == size and fields["down"] == size


# --- reply policy -------------------------------------------------------------------------


def test_restricted_policy_drops_unsolicited_senders(socks5d, target):
    server = socks5d()  # --udp_reply_policy=restricted is the default
    third = UdpPeer("127.0.0.1")
    try:
        with Association(server) as a:
            a.send("127.0.0.1", target.port, b"hello")
            _, relay_out = target.recv()
            third.sendto(b"intruder", relay_out)
            target.sendto(b"reply", relay_out)
            assert a.recv() == (0, "127.0.0.1", target.port, b"reply")
            a.send("127.0.0.1", third.port, b"now you may")
            assert third.recv()[0] == b"now you may"
            third.sendto(b"welcome", relay_out)
            assert a.recv() == (0, "127.0.0.1", third.port, b"welcome")
    finally:
        third.close()
    fields = access_fields(server)
    assert fields["drop_unsolicited"] == 1 and fields["dgrams_down"] == 2


def test_full_cone_policy_admits_any_sender(socks5d, target):
    server = socks5d("--udp_reply_policy=full_cone")
    third = UdpPeer("127.0.0.1")
    try:
        with Association(server) as a:
            a.send("127.0.0.1", target.port, b"hello")
            _, relay_out = target.recv()
            third.sendto(b"from a stranger", relay_out)
            assert a.recv() == (0, "127.0.0.1", third.port, b"from a stranger")
    finally:
        third.close()
    fields = access_fields(server)
    assert fields["drop_unsolicited"] == 0 and fields["dgrams_down"] == 1
