"""SOCKS4 and SOCKS4a on the SOCKS5 listeners (docs/conformance.md "SOCKS4 and SOCKS4a"), with
exact reply bytes: `00 5A PORT IP` granted, `00 5B ...` rejected or failed, then a close.

CONNECT and BIND run through the SOCKS5 handlers, so what they decide (refused, not found, a
rule, the BIND peer check) comes back as 5B; a users file, --socks4=false and a malformed
request are 5B too; a request that never ends is closed by --handshake_timeout."""

import socket
import struct
import time

import pytest

from socks5lib import (DnsResponder, EchoServer, assert_closed, deadline, recv_exact,
                       reserve_refusing_port)

GRANTED, REJECTED = 0x5A, 0x5B
REJECTED_NULL = b"\x00\x5b\x00\x00\x00\x00\x00\x00"


def socks4(cmd, port, ip="127.0.0.1", user=b"", name=None):
    """04 CD DSTPORT DSTIP USERID 00 [name 00]; with name, DSTIP 0.0.0.1 (SOCKS4a)."""
    dst = socket.inet_aton("0.0.0.1" if name is not None else ip)
    out = bytes([4, cmd]) + struct.pack("!H", port) + dst + user + b"\x00"
    if name is not None:
        out += name + b"\x00"
    return out


def read_reply(client, timeout=None):
    """The 8-byte SOCKS4 reply as (CD, ip, port), checking VN 00."""
    raw = client.recv_exact(8, timeout=timeout)
    assert raw[0] == 0, f"reply VN is not 00: {raw.hex(' ')}"
    return raw[1], socket.inet_ntoa(raw[4:8]), struct.unpack("!H", raw[2:4])[0]


def expect_rejected(client, timeout=None):
    """`00 5B 00 00 00 00 00 00`, then the server closes."""
    client.expect(REJECTED_NULL, timeout=timeout, what="SOCKS4 rejection")
    assert client.read_until_closed() == b""


def echo_round_trip(sock, payload=b"socks4 payload"):
    sock.sendall(payload)
    assert recv_exact(sock, len(payload), deadline(5)) == payload


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.close()


def test_connect_by_ip_relays_and_logs(socks5d, echo):
    server = socks5d()
    port = echo.address[1]
    with server.client() as client:
        client.send(socks4(1, port, user=b"alice"))
        cd, ip, bound_port = read_reply(client)
        assert cd == GRANTED
        assert ip == "127.0.0.1" and bound_port != 0  # the outbound socket's local address
        echo_round_trip(client.sock)
    line = server.wait_access_log(cmd="CONNECT", target=f"127.0.0.1:{port}", reply="5a")
    assert line["user"] == "-"  # a USERID is never a user
    raw = next(l for l in server.lines if f"target=127.0.0.1:{port}" in l)
    assert " proto=socks4 " in raw + " " and "socks4_userid=alice" in raw, raw


def test_connect_pipelined_data_is_relayed(socks5d, echo):
    server = socks5d()
    with server.client() as client:
        client.send(socks4(1, echo.address[1]) + b"early bytes")
        assert read_reply(client)[0] == GRANTED
        assert client.recv_exact(len(b"early bytes")) == b"early bytes"


def test_socks4a_name_resolved_by_the_proxy(socks5d, echo):
    dns = DnsResponder({"echo.test": {"A": ["127.0.0.1"]}})
    server = socks5d(dns.server_flag)
    port = echo.address[1]
    with server.client() as client:
        client.send(socks4(1, port, user=b"bob", name=b"echo.test"))
        cd, ip, _ = read_reply(client, timeout=deadline(10))
        assert cd == GRANTED and ip == "127.0.0.1"
        echo_round_trip(client.sock)
    server.wait_access_log(cmd="CONNECT", target=f"echo.test:{port}", reply="5a")
    raw = next(l for l in server.lines if f"target=echo.test:{port}" in l)
    assert "proto=socks4a" in raw and "socks4_userid=bob" in raw, raw
    assert ("echo.test", "A") in dns.queries


def test_socks4a_name_that_does_not_resolve_is_5b(socks5d):
    dns = DnsResponder({})
    server = socks5d(dns.server_flag)
    with server.client() as client:
        client.send(socks4(1, 80, name=b"nowhere.test"))
        expect_rejected(client, timeout=deadline(10))
    server.wait_access_log(cmd="CONNECT", target="nowhere.test:80", reply="5b")


def test_connect_refused_is_5b(socks5d):
    holder = reserve_refusing_port("127.0.0.1")
    port = holder.getsockname()[1]
    server = socks5d()
    with holder, server.client() as client:
        client.send(socks4(1, port))
        expect_rejected(client, timeout=deadline(10))
    server.wait_access_log(cmd="CONNECT", target=f"127.0.0.1:{port}", reply="5b")


def test_connect_to_zero_address_is_5b(socks5d):
    """DSTIP 0.0.0.0 is SOCKS4 (not 4a, x must not be 0): an unspecified target, refused."""
    server = socks5d()
    with server.client() as client:
        client.send(socks4(1, 80, ip="0.0.0.0"))
        expect_rejected(client)


def start_bind(server, peer_ip="127.0.0.1"):
    client = server.client()
    client.send(socks4(2, 0, ip=peer_ip))
    cd, ip, port = read_reply(client)
    assert cd == GRANTED, f"first BIND reply {cd:#x}"
    return client, ip, port


def test_bind_both_replies_and_relay(socks5d):
    server = socks5d()
    client, ip, port = start_bind(server)
    with client:
        assert ip == "127.0.0.1" and port != 0
        peer = socket.create_connection((ip, port), timeout=deadline(5))
        with peer:
            cd, peer_ip, peer_port = read_reply(client)
            assert cd == GRANTED
            assert (peer_ip, peer_port) == peer.getsockname()
            peer.sendall(b"from peer")
            assert client.recv_exact(9) == b"from peer"
            client.send(b"from client")
            assert recv_exact(peer, 11, deadline(5)) == b"from client"
    line = server.wait_access_log(cmd="BIND", target="127.0.0.1:0", reply="5a")
    assert line["user"] == "-"


def test_bind_timeout_second_reply_5b(socks5d):
    server = socks5d("--bind_timeout=1s")
    client, _, _ = start_bind(server)
    with client:
        expect_rejected(client, timeout=deadline(5))
    server.wait_access_log(cmd="BIND", reply="5b")


def test_bind_wrong_peer_is_turned_away(socks5d):
    """The expected peer is DSTIP: a connection from another address is reset, the wait goes on."""
    server = socks5d("--bind_timeout=2s")
    client, ip, port = start_bind(server, peer_ip="127.0.0.2")
    with client:
        intruder = socket.socket()
        intruder.bind(("127.0.0.1", 0))
        try:
            intruder.connect((ip, port))
            assert assert_closed(intruder, deadline(5)) == "reset"
        except ConnectionResetError:
            pass
        finally:
            intruder.close()
        peer = socket.socket()
        peer.bind(("127.0.0.2", 0))
        peer.settimeout(deadline(5))
        peer.connect((ip, port))
        with peer:
            cd, peer_ip, _ = read_reply(client)
            assert cd == GRANTED and peer_ip == "127.0.0.2"


def test_users_file_makes_socks4_5b(socks5d, users_file, echo):
    server = socks5d(f"--users_file={users_file}")
    with server.client() as client:
        client.send(socks4(1, echo.address[1], user=b"matrix-user"))
        expect_rejected(client)
    line = server.wait_access_log(cmd="CONNECT", reply="5b")
    assert line["user"] == "-"
    echo.assert_no_peer(0.3)


def test_socks4_disabled_is_5b(socks5d, echo):
    server = socks5d("--socks4=false")
    for request in (socks4(1, echo.address[1]), socks4(2, 0),
                    socks4(1, 80, name=b"echo.test")):
        with server.client() as client:
            client.send(request)
            expect_rejected(client)
    echo.assert_no_peer(0.3)


def test_userid_is_not_a_user_for_rules(socks5d, tmp_path, echo):
    """`allow user=alice` does not match a SOCKS4 USERID "alice": the implicit deny, 5B."""
    rules = tmp_path / "rules"
    rules.write_text("allow user=alice\n")
    server = socks5d(f"--rules_file={rules}")
    with server.client() as client:
        client.send(socks4(1, echo.address[1], user=b"alice"))
        expect_rejected(client)
    raw = server.wait_access_log(cmd="CONNECT", reply="5b")
    assert raw["user"] == "-"


def test_userid_is_logged_escaped(socks5d, echo):
    server = socks5d()
    with server.client() as client:
        client.send(socks4(1, echo.address[1], user=b"a\nb\x1b\\ c"))
        assert read_reply(client)[0] == GRANTED
    server.wait_access_log(cmd="CONNECT", reply="5a")
    raw = next(l for l in server.lines if "socks4_userid=" in l)
    assert "socks4_userid=a\\x0ab\\x1b\\x5c c" in raw, raw


@pytest.mark.parametrize("request_bytes", [
    pytest.param(bytes([4, 3, 0, 80, 127, 0, 0, 1, 0]), id="command-3"),
    pytest.param(bytes([4, 0, 0, 80, 127, 0, 0, 1, 0]), id="command-0"),
    pytest.param(bytes([4, 1, 0, 80, 127, 0, 0, 1]) + b"u" * 256, id="userid-over-255"),
    pytest.param(bytes([4, 1, 0, 80, 0, 0, 0, 1, 0]) + b"n" * 256, id="name-over-255"),
    pytest.param(bytes([4, 1, 0, 80, 0, 0, 0, 1, 0, 0]), id="empty-name"),
])
def test_malformed_requests_are_5b_at_once(socks5d, request_bytes):
    """Answered as soon as the bad byte is in, not after the handshake timeout."""
    server = socks5d("--handshake_timeout=10s")
    with server.client() as client:
        start = time.monotonic()
        client.send(request_bytes)
        expect_rejected(client, timeout=deadline(3))
        assert time.monotonic() - start < 3


def test_oversized_userid_flood_is_refused_not_buffered(socks5d):
    """64 KiB of USERID without a NUL: 5B once the 256th byte is in, then a close."""
    server = socks5d()
    with server.client() as client:
        client.send(bytes([4, 1, 0, 80, 127, 0, 0, 1]))
        try:
            client.send(b"x" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        data = client.read_until_closed()
        assert data.startswith(REJECTED_NULL), data[:16].hex(" ")
        assert data == REJECTED_NULL


@pytest.mark.parametrize("partial", [
    pytest.param(bytes([4]), id="version-only"),
    pytest.param(bytes([4, 1, 0, 80, 127]), id="truncated-header"),
    pytest.param(bytes([4, 1, 0, 80, 127, 0, 0, 1]) + b"u" * 100, id="userid-without-nul"),
    pytest.param(bytes([4, 1, 0, 80, 0, 0, 0, 1, 0]) + b"web.te", id="name-without-nul"),
])
def test_truncated_request_closed_by_handshake_timeout(socks5d, partial):
    server = socks5d("--handshake_timeout=1s")
    with server.client() as client:
        client.send(partial)
        start = time.monotonic()
        assert client.read_until_closed(timeout=deadline(5)) == b""
        waited = time.monotonic() - start
        assert 0.5 <= waited < deadline(4), f"closed after {waited:.2f}s"


def test_socks5_still_served_beside_socks4(socks5d, echo):
    server = socks5d()
    with server.client() as client:
        client.connect("127.0.0.1", echo.address[1])
        echo_round_trip(client.sock)
