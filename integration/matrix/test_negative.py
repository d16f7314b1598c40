"""The negative matrix: malformed and failing inputs from docs/conformance.md, sent from the client
host to socks5d in the proxy role. Each row asserts the reply code (or the close) the guide
asks for, then that the same server still serves a normal CONNECT from the client host."""

import socket
import struct
import time

import pytest

from proxies import PASSWORD, USER
from socks5lib import (ATYP_IPV4, CMD_CONNECT, METHOD_NO_AUTH, METHOD_USERPASS, Socks5Client,
                       assert_closed, assert_open, deadline, failure_reply, greeting, request,
                       userpass)

pytestmark = pytest.mark.usefixtures("proxy_alive")

CLOSE_TIMEOUT = deadline(5)
HANDSHAKE_TIMEOUT_S = 3  # the proxies run with --handshake_timeout=3s (conftest)


def open_client(topo, proxy):
    return topo.call("client", Socks5Client, proxy.port4, proxy.host4, deadline(5))


def assert_still_serves(topo, services, proxy, auth):
    data = b"after-the-bad-input"
    with open_client(topo, proxy) as s:
        s.connect(topo.addr.server4, services.tcp_echo.port,
                  *((USER, PASSWORD) if auth else (None, None)))
        s.send(data)
        s.expect(data, what="echo after the negative case")


def no_auth(s):
    s.send(greeting(METHOD_NO_AUTH))
    s.expect(b"\x05\x00", what="method selection")


def user_pass(s):
    s.send(greeting(METHOD_USERPASS))
    s.expect(b"\x05\x02", what="method selection")


def expect_failure_and_close(s, rep):
    reply = s.read_reply()
    assert reply.rep == rep, f"expected REP {rep:02x}, got {reply}"
    s.assert_closed(CLOSE_TIMEOUT)
    return reply


def expect_auth_failure(s):
    status = s.recv_exact(2)
    assert status[0] == 1 and status[1] != 0, f"expected a failure status, got {status.hex()}"
    s.assert_closed(CLOSE_TIMEOUT)


# -- the rows ------------------------------------------------------------------------------
# Each: (id, what the client sends, what the server must do, auth proxy?, body(s, env))


def a3(s, env):
    s.send(bytes([5, 1, 0x80]))
    s.expect(b"\x05\xff")
    s.assert_closed(CLOSE_TIMEOUT)


def a4(s, env):
    s.send(bytes([5, 0]))
    try:
        s.expect(b"\x05\xff")
    except AssertionError as e:  # a bare close is allowed too
        assert "closed" in str(e) or "reset" in str(e), e
        return
    s.assert_closed(CLOSE_TIMEOUT)


def a5(s, env):
    # To the proxy with a users file: SOCKS4 carries no password, so 5B (docs/conformance.md).
    s.send(bytes([4, 1, 0, 7]) + socket.inet_aton(env.topo.addr.server4) + b"\x00")
    assert s.read_until_closed(CLOSE_TIMEOUT) == b"\x00\x5b\x00\x00\x00\x00\x00\x00"


def _closed_by_handshake_timeout(s):
    start = time.monotonic()
    s.assert_closed(deadline(HANDSHAKE_TIMEOUT_S + 3))
    waited = time.monotonic() - start
    # Closed by the timer, not at once (the client did nothing wrong yet, it was only slow).
    assert waited >= HANDSHAKE_TIMEOUT_S - 0.5, f"closed after {waited:.2f}s"


def a8_silence(s, env):
    _closed_by_handshake_timeout(s)


def a8_partial(s, env):
    s.send(bytes([5, 2, 0]))  # one method byte missing
    _closed_by_handshake_timeout(s)


def a9(s, env):
    s.send(greeting(METHOD_NO_AUTH))
    s.expect(b"\x05\xff")
    s.assert_closed(CLOSE_TIMEOUT)


def b2_password(s, env):
    user_pass(s)
    s.send(userpass(USER, PASSWORD + "x"))
    expect_auth_failure(s)


def b2_user(s, env):
    user_pass(s)
    s.send(userpass("nobody-" + USER, PASSWORD))
    expect_auth_failure(s)


def b3(s, env):
    user_pass(s)
    s.send(userpass(USER, PASSWORD, version=2))
    try:
        expect_auth_failure(s)
    except AssertionError as e:  # "failure status or close"
        assert "closed" in str(e) or "reset" in str(e), e


def b4_ulen(s, env):
    user_pass(s)
    s.send(bytes([1, 0, len(PASSWORD)]) + PASSWORD.encode())
    expect_auth_failure(s)


def b4_plen(s, env):
    user_pass(s)
    s.send(bytes([1, len(USER)]) + USER.encode() + bytes([0]))
    expect_auth_failure(s)


def c4(s, env):
    no_auth(s)
    s.send(request(env.topo.addr.server4, 9))  # nothing listens on the discard port
    expect_failure_and_close(s, 0x05)


def c5(s, env):
    no_auth(s)
    s.send(request("nowhere.test", env.services.tcp_echo.port))  # dnsmasq: NXDOMAIN
    expect_failure_and_close(s, 0x04)


def c6(s, env):
    if not env.topo.isolated:
        pytest.skip("loopback fallback: this host may have a route to 203.0.113.0/24")
    no_auth(s)
    # 203.0.113.0/24 (TEST-NET-3): the proxy host has no route to it.
    s.send(request("203.0.113.7", env.services.tcp_echo.port))
    expect_failure_and_close(s, 0x03)


def c8(s, env):
    no_auth(s)
    s.send(request(env.topo.addr.server4, env.services.tcp_echo.port, cmd=0x04))
    reply = expect_failure_and_close(s, 0x07)
    assert reply.raw == failure_reply(0x07), reply


def c9(s, env):
    no_auth(s)
    s.send(bytes([5, CMD_CONNECT, 0, 0x05, 198, 51, 100, 2, 0, 7]))
    expect_failure_and_close(s, 0x08)


def c10_empty(s, env):
    no_auth(s)
    s.send(bytes([5, CMD_CONNECT, 0, 3, 0]) + struct.pack("!H", env.services.tcp_echo.port))
    reply = s.read_reply()
    assert reply.rep in (0x01, 0x04), reply
    s.assert_closed(CLOSE_TIMEOUT)


def c10_nul(s, env):
    no_auth(s)
    s.send(request(b"web.test\x00.evil", env.services.tcp_echo.port))
    reply = s.read_reply()
    assert reply.rep in (0x01, 0x04), reply
    s.assert_closed(CLOSE_TIMEOUT)


def c11(s, env):
    no_auth(s)
    s.send(request(env.topo.addr.server4, env.services.tcp_echo.port, rsv=0x5A))
    reply = s.read_reply(timeout=deadline(10))
    assert reply.rep == 0x00, reply
    s.send(b"rsv")
    s.expect(b"rsv")


def c12(s, env):
    no_auth(s)
    s.send(request(env.topo.addr.server4, env.services.tcp_echo.port, version=4))
    s.assert_closed(CLOSE_TIMEOUT)


def f9(s, env):
    """Malformed datagrams are dropped and the association keeps working."""
    no_auth(s)
    s.send(request("0.0.0.0", 0, cmd=0x03))
    reply = s.read_reply(timeout=deadline(10))
    assert reply.rep == 0x00, reply
    relay = reply.address
    server4, port = env.topo.addr.server4, env.services.udp_echo.port
    target = bytes([ATYP_IPV4]) + socket.inet_aton(server4) + struct.pack("!H", port)
    log = env.services.udp_echo.log
    mark = log.mark()

    def exchange():
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.settimeout(deadline(5))
        with udp:
            udp.bind((env.topo.addr.client4, 0))
            udp.sendto(b"\x00\x00", relay)  # short
            udp.sendto(b"\x00\x01\x00" + target + b"bad-rsv", relay)  # RSV not zero
            udp.sendto(b"\x00\x00\x00\x09" + target[1:] + b"bad-atyp", relay)  # unknown ATYP
            udp.sendto(b"\x00\x00\x00" + target + b"good", relay)
            data, _ = udp.recvfrom(65535)
            return data

    data = env.topo.call("client", exchange)
    assert data == b"\x00\x00\x00" + target + b"good", data.hex(" ")
    assert [d for _, d in log.events[mark:]] == [b"good"], log.events[mark:]


def e3(s, env):
    """BIND naming the server host: a connection from the client host is turned away and the
    BIND keeps waiting for the server host, whose connection is then relayed."""
    no_auth(s)
    server4 = env.topo.addr.server4
    s.send(request(server4, 0, cmd=0x02))
    first = s.read_reply(timeout=deadline(10))
    assert first.rep == 0x00 and not first.host.startswith("0."), first

    def intruder():
        try:
            sock = socket.create_connection(first.address, timeout=deadline(5))
        except ConnectionResetError:  # turned away before connect() returned (loopback)
            return "reset"
        with sock:
            return assert_closed(sock, deadline(5))

    env.topo.call("client", intruder)
    assert_open(s.sock, 0.3)  # no second reply for the wrong host

    def expected_peer():
        sock = socket.create_connection(first.address, timeout=deadline(5),
                                        source_address=(server4, 0))
        sock.sendall(b"from-the-server-host")
        return sock

    peer = env.topo.call("server", expected_peer)
    with peer:
        second = s.read_reply(timeout=deadline(10))
        assert second.rep == 0x00 and second.address == peer.getsockname()[:2], second
        s.expect(b"from-the-server-host")


def f3(s, env):
    """A datagram to the relay from the server host (not the client) is dropped."""
    no_auth(s)
    s.send(request("0.0.0.0", 0, cmd=0x03))
    reply = s.read_reply(timeout=deadline(10))
    assert reply.rep == 0x00, reply
    server4, port = env.topo.addr.server4, env.services.udp_echo.port
    header = b"\x00\x00\x00" + bytes([ATYP_IPV4]) + socket.inet_aton(server4) + struct.pack(
        "!H", port)
    log = env.services.udp_echo.log
    mark = log.mark()

    def from_server_host():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((server4, 0))
            udp.sendto(header + b"foreign", reply.address)

    def from_client():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.settimeout(deadline(5))
            udp.bind((env.topo.addr.client4, 0))
            udp.sendto(header + b"own", reply.address)
            return udp.recvfrom(65535)[0]

    env.topo.call("server", from_server_host)
    assert env.topo.call("client", from_client) == header + b"own"
    assert [d for _, d in log.events[mark:]] == [b"own"], log.events[mark:]


ROWS = [
    ("A3", "`05 01 80` (no acceptable method)", "`05 FF`, close", False, a3),
    ("A4", "`05 00` (zero methods)", "`05 FF` and close, or close", False, a4),
    ("A5", "SOCKS4 request `04 01 ...`, users file configured", "`00 5B`, close", True, a5),
    ("A8", "nothing, then silence", "close after --handshake_timeout", False, a8_silence),
    ("A8", "partial greeting `05 02 00`, then silence", "close after --handshake_timeout",
     False, a8_partial),
    ("A9", "no-auth offered, users file configured", "`05 FF`, close", True, a9),
    ("B2", "wrong password", "`01 non-zero`, close", True, b2_password),
    ("B2", "unknown user", "`01 non-zero`, close", True, b2_user),
    ("B3", "subnegotiation VER `02`", "failure status or close", True, b3),
    ("B4", "ULEN 0", "failure status, close", True, b4_ulen),
    ("B4", "PLEN 0", "failure status, close", True, b4_plen),
    ("C4", "CONNECT to a closed port on the server host", "REP `05`, close", False, c4),
    ("C5", "CONNECT to a name that does not resolve (NXDOMAIN)", "REP `04`, close", False, c5),
    ("C6", "CONNECT to a network the proxy host has no route to", "REP `03`, close", False, c6),
    ("C8", "CMD `04`", "REP `07` (`05 07 00 01 0.0.0.0:0`), close", False, c8),
    ("C9", "ATYP `05`", "REP `08`, close", False, c9),
    ("C10", "domain of length 0", "REP `01` or `04`, close", False, c10_empty),
    ("C10", "domain with a NUL byte", "REP `01` or `04`, close", False, c10_nul),
    ("C11", "RSV `5A` in the request", "accepted (practice), relayed", False, c11),
    ("C12", "request VER `04`", "close", False, c12),
    ("E3", "BIND for the server host; the client host connects to the BIND port first",
     "turn it away, keep waiting; then relay the server host's connection", False, e3),
    ("F3", "a datagram to the UDP relay from the server host instead of the client",
     "drop it; the client's own datagram still goes through", False, f3),
    ("F9", "UDP datagrams: short, RSV not zero, unknown ATYP; then a good one",
     "the bad ones dropped, the good one relayed and answered", False, f9),
]


class Env:
    def __init__(self, topo, services):
        self.topo, self.services = topo, services


@pytest.mark.parametrize("case,sends,expects,auth,body", [
    pytest.param(*row, id=f"{row[0]}-{row[4].__name__}",
                 marks=pytest.mark.negative(row[0], row[1], row[2])) for row in ROWS])
def test_negative(topo, services, proxies, case, sends, expects, auth, body):
    proxy = proxies.auth if auth else proxies.open
    with open_client(topo, proxy) as s:
        body(s, Env(topo, services))
    assert_still_serves(topo, services, proxy, auth)
