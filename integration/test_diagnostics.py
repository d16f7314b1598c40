"""What is not SOCKS: docs/conformance.md A12, A13 and C8's access-log line (issue 13).

An HTTP request on the SOCKS port gets `HTTP/1.1 400 Bad Request` naming the socks5h:// URL to
configure, then a close; a TLS ClientHello and anything else unknown is closed without a byte.
The access log names what arrived (proto=http, proto=tls, proto=unknown first=0xNN); an unknown
SOCKS5 command is logged as cmd=0xNN with its target.
"""

import re
import time

import pytest

import socks5lib
from socks5lib import REP_COMMAND_NOT_SUPPORTED, deadline, failure_reply, greeting


def http_400(host_port):
    body = ("This is a SOCKS5 proxy, not an HTTP proxy: configure your client with the proxy "
            f"socks5h://{host_port}\n").encode()
    return (b"HTTP/1.1 400 Bad Request\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n"
            b"Connection: close\r\n"
            b"\r\n" + body)


def access_line(server, pattern, timeout=None):
    """The whole access-log line matching `pattern` (a regex on the line)."""
    return server.wait_for_line(r"access client=\S+ .*" + pattern, timeout=timeout).string


@pytest.mark.parametrize("request_bytes", [
    b"GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n",
    b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n",
    b"POST http://example.test/form HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    b"OPTIONS * HTTP/1.1\r\n\r\n",
], ids=["get", "connect", "post", "options"])
def test_a12_http_request_gets_400_naming_socks5h_url(socks5d, request_bytes):
    server = socks5d()
    host, port = server.endpoints[0]
    with server.client() as client:
        client.send(request_bytes)
        got = client.read_until_closed()
    assert got == http_400(f"{host}:{port}"), got
    line = access_line(server, r"cmd=- target=- reply=- .* proto=http")
    assert " first=" not in line, line


def test_a12_ipv6_listener_names_bracketed_address(socks5d):
    server = socks5d("--listen=[::1]:0")
    _, port = server.endpoints[0]
    with server.client() as client:
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.read_until_closed() == http_400(f"[::1]:{port}")
    access_line(server, r"proto=http")


def test_a12_method_split_across_segments_is_decided_by_its_space(socks5d):
    server = socks5d()
    host, port = server.endpoints[0]
    with server.client() as client:
        client.send_bytewise(b"HEAD ")
        assert client.read_until_closed() == http_400(f"{host}:{port}")
    access_line(server, r"proto=http")


def test_a12_lone_method_prefix_is_closed_by_the_handshake_timeout(socks5d):
    """`G` and nothing else: it may still become `GET `, so the server waits, but only until
    --handshake_timeout; then it closes without a byte and logs what it had."""
    server = socks5d("--handshake_timeout=1s")
    with server.client() as client:
        start = time.monotonic()
        client.send(b"G")
        client.assert_closed(timeout=deadline(5))
        assert time.monotonic() - start >= 0.9
    line = access_line(server, r"cmd=- target=- reply=- .* proto=unknown first=0x47")
    duration = float(re.search(r"duration=([0-9.]+)s", line).group(1))
    assert 0.9 <= duration < 3, line


def test_a12_huge_http_request_is_not_buffered(socks5d):
    """A request body that never ends: the 400 is sent after the method, what follows is
    drained (bounded in bytes and time) and the connection closed; the session ends."""
    server = socks5d("--handshake_timeout=10s")
    host, port = server.endpoints[0]
    with server.client() as client:
        client.send(b"POST / HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n")
        head = client.recv_exact(len(http_400(f"{host}:{port}")))
        assert head == http_400(f"{host}:{port}")
        sent = 0
        chunk = b"x" * 65536
        client.sock.settimeout(deadline(5))
        end = time.monotonic() + deadline(10)
        try:
            while time.monotonic() < end:
                sent += client.sock.send(chunk)
            raise AssertionError(f"still accepting after {sent} bytes")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed: what it did not drain was refused
    line = access_line(server, r"proto=http")
    duration = float(re.search(r"duration=([0-9.]+)s", line).group(1))
    assert duration < 5, line  # the drain's own limit (1 s), not the 10 s handshake timeout


def test_a13_tls_client_hello_closed_and_logged(socks5d):
    server = socks5d()
    with server.client() as client:
        # A TLS record header (handshake, TLS 1.0 record version) and a ClientHello's start.
        client.send(bytes.fromhex("16 03 01 00 2f 01 00 00 2b 03 03") + bytes(32))
        client.assert_closed()
    line = access_line(server, r"cmd=- target=- reply=- .* proto=tls")
    assert " first=" not in line, line


@pytest.mark.parametrize("junk, first", [
    (b"\x00", "0x00"), (b"\xff" * 40, "0xff"), (b"SSH-2.0-OpenSSH_9.2\r\n", "0x53"),
    (b"get / HTTP/1.1\r\n\r\n", "0x67"), (b"\x16\x01\x00", "0x16"),
])
def test_a13_unknown_first_bytes_closed_and_logged(socks5d, junk, first):
    server = socks5d()
    with server.client() as client:
        client.send(junk)
        client.assert_closed()
    access_line(server, rf"cmd=- target=- reply=- .* proto=unknown first={first}\b")


def test_a13_server_serves_socks5_after_each(socks5d, echo_server):
    server = socks5d()
    for junk in (b"GET / HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\x01\x01", b"\x00"):
        with server.client() as client:
            client.send(junk)
            client.read_until_closed()
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port)
        client.send(b"alive")
        client.expect(b"alive")
    access_line(server, r"cmd=CONNECT .* reply=00 ")
    assert not any(" proto=" in line for line in server.lines if "cmd=CONNECT" in line)


@pytest.mark.parametrize("cmd, target_bytes, target", [
    (0x09, bytes.fromhex("01 7f 00 00 01 00 50"), "127.0.0.1:80"),
    (0x80, b"\x03\x0cexample.test\x01\xbb", "example.test:443"),
    (0xFE, bytes.fromhex("04") + bytes(15) + b"\x01\x00\x35", "[::1]:53"),
], ids=["0x09-ipv4", "0x80-name", "0xfe-ipv6"])
def test_c8_unknown_command_logged_with_target(socks5d, cmd, target_bytes, target):
    server = socks5d()
    with server.client() as client:
        client.send(greeting(0x00))
        client.expect(b"\x05\x00")
        client.send(bytes([5, cmd, 0]) + target_bytes)
        client.expect(failure_reply(REP_COMMAND_NOT_SUPPORTED))
        client.assert_closed()
    server.wait_access_log(cmd=f"0x{cmd:02x}", target=target, reply="07")


def test_c8_unknown_command_cut_short_answered_at_once(socks5d):
    """Only `05 09 00 01 7f`: answered 07 at once, as before; the target is not waited for."""
    server = socks5d()
    with server.client() as client:
        client.send(greeting(0x00))
        client.expect(b"\x05\x00")
        client.send(b"\x05\x09\x00\x01\x7f")
        client.expect(failure_reply(REP_COMMAND_NOT_SUPPORTED), timeout=1)
        client.assert_closed()
    server.wait_access_log(cmd="0x09", target="-", reply="07")
