"""docs/conformance.md section A: method negotiation (RFC 1928 s.3)."""

import select
import time

from socks5lib import PASSWORD, USER, deadline, greeting, request, userpass


def test_a1_no_auth_selected(socks5d):
    server = socks5d()
    with server.client() as client:
        client.send(b"\x05\x01\x00")
        client.expect(b"\x05\x00")


def test_a1_no_auth_chosen_among_several_methods(socks5d):
    server = socks5d()
    with server.client() as client:
        client.send(greeting(0x80, 0x02, 0x00, 0x01))
        client.expect(b"\x05\x00")


def test_a1_255_methods(socks5d):
    server = socks5d()
    with server.client() as client:
        methods = bytes(range(0xFE, -1, -1))  # FE FD ... 01 00: 255 methods, no-auth last
        client.send(b"\x05\xff" + methods)
        client.expect(b"\x05\x00")


def test_a2_userpass_selected_with_users_file(socks5d, users_file):
    server = socks5d(f"--users_file={users_file}")
    with server.client() as client:
        client.send(b"\x05\x02\x00\x02")
        client.expect(b"\x05\x02")
        client.send(userpass(USER, PASSWORD))
        client.expect(b"\x01\x00")


def test_a3_no_acceptable_method(socks5d):
    server = socks5d()
    with server.client() as client:
        client.send(b"\x05\x01\x80")
        client.expect(b"\x05\xff")
        client.assert_closed()


def test_a3_only_gssapi_offered(socks5d):
    server = socks5d()
    with server.client() as client:
        client.send(b"\x05\x01\x01")
        client.expect(b"\x05\xff")
        client.assert_closed()


def test_a4_zero_methods(socks5d):
    server = socks5d()
    with server.client() as client:
        client.send(b"\x05\x00")
        # Either `05 FF` then close, or close at once.
        data = client.read_until_closed()
        assert data in (b"", b"\x05\xff"), f"expected 05 ff or a close, got {data.hex(' ')}"


def test_a5_socks4_request_answered_5b_when_disabled(socks5d):
    """SOCKS4 is served (integration/test_socks4.py); with --socks4=false it is answered
    `00 5B` and closed, never silently."""
    server = socks5d("--socks4=false")
    with server.client() as client:
        # SOCKS4 CONNECT 127.0.0.1:80, user id "x".
        client.send(b"\x04\x01\x00\x50\x7f\x00\x00\x01x\x00")
        client.expect(b"\x00\x5b\x00\x00\x00\x00\x00\x00")
        client.assert_closed()


def test_a5_socks4a_request_answered_5b_when_disabled(socks5d):
    server = socks5d("--socks4=false")
    with server.client() as client:
        client.send(b"\x04\x01\x00\x50\x00\x00\x00\x01\x00example.test\x00")
        client.expect(b"\x00\x5b\x00\x00\x00\x00\x00\x00")
        client.assert_closed()


def test_a6_greeting_one_byte_at_a_time(socks5d):
    server = socks5d()
    with server.client() as client:
        client.send_bytewise(b"\x05\x03\x80\x01\x00")
        client.expect(b"\x05\x00")


def test_a6_whole_handshake_one_byte_at_a_time(socks5d, echo_server):
    server = socks5d()
    with server.client() as client:
        client.send_bytewise(greeting(0x00))
        client.expect(b"\x05\x00")
        client.send_bytewise(request("127.0.0.1", echo_server.port))
        reply = client.read_reply()
        assert reply.rep == 0, reply
        client.send(b"ping")
        client.expect(b"ping", what="echo")


def test_a7_pipelined_greeting_and_request(socks5d, echo_server):
    server = socks5d()
    with server.client() as client:
        client.send(greeting(0x00) + request("127.0.0.1", echo_server.port) + b"early data")
        client.expect(b"\x05\x00")
        reply = client.read_reply()
        assert reply.rep == 0, reply
        client.expect(b"early data", what="echo of pipelined data")
        client.send(b"more")
        client.expect(b"more", what="echo")


def test_a7_pipelined_greeting_auth_and_request(socks5d, users_file, echo_server):
    server = socks5d(f"--users_file={users_file}")
    with server.client() as client:
        client.send(greeting(0x02) + userpass(USER, PASSWORD)
                    + request("127.0.0.1", echo_server.port) + b"hello")
        client.expect(b"\x05\x02")
        client.expect(b"\x01\x00")
        reply = client.read_reply()
        assert reply.rep == 0, reply
        client.expect(b"hello", what="echo of pipelined data")


def _assert_closed_after_handshake_timeout(client):
    start = time.monotonic()
    client.assert_closed(timeout=deadline(5))
    elapsed = time.monotonic() - start
    assert elapsed >= 0.8, f"closed after {elapsed:.2f}s, before the 1s handshake timeout"
    return elapsed


def test_a8_silence_closed_after_handshake_timeout(socks5d):
    server = socks5d("--handshake_timeout=1s")
    with server.client() as client:
        _assert_closed_after_handshake_timeout(client)


def test_a8_partial_greeting_closed_after_handshake_timeout(socks5d):
    server = socks5d("--handshake_timeout=1s")
    with server.client() as client:
        client.send(b"\x05\x02\x00")
        _assert_closed_after_handshake_timeout(client)


def test_a8_trickle_does_not_extend_handshake_timeout(socks5d):
    """The handshake timeout bounds the whole handshake, not each read: a greeting
    announcing 255 methods and trickling one byte every 0.2s is closed at ~1s."""
    server = socks5d("--handshake_timeout=1s")
    with server.client() as client:
        start = time.monotonic()
        client.send(b"\x05\xff")
        while True:
            elapsed = time.monotonic() - start
            assert elapsed < deadline(5), f"still open after {elapsed:.2f}s of trickling"
            # Pacing the trickle, not synchronising: the wait is on the socket.
            readable, _, _ = select.select([client.sock], [], [], 0.2)
            if readable:
                break
            client.send(b"\x00")
        elapsed = time.monotonic() - start
        assert client.assert_closed() in ("eof", "reset")
        assert elapsed >= 0.8, f"closed after {elapsed:.2f}s"


def test_a8_handshake_timeout_also_covers_request_phase(socks5d):
    server = socks5d("--handshake_timeout=1s")
    with server.client() as client:
        client.send(greeting(0x00))
        client.expect(b"\x05\x00")
        client.send(b"\x05\x01\x00")  # partial request
        _assert_closed_after_handshake_timeout(client)


def test_a9_no_auth_offered_but_users_file_configured(socks5d, users_file):
    server = socks5d(f"--users_file={users_file}")
    with server.client() as client:
        client.send(b"\x05\x01\x00")
        client.expect(b"\x05\xff")
        client.assert_closed()


def test_a9_no_auth_refused_request_not_served(socks5d, users_file, target):
    """Even pipelined, a request after a refused greeting never reaches the target."""
    server = socks5d(f"--users_file={users_file}")
    with server.client() as client:
        client.send(b"\x05\x01\x00" + request("127.0.0.1", target.port))
        client.expect(b"\x05\xff")
        client.assert_closed()
    target.assert_no_connection(0.5)


def test_server_survives_garbage_and_serves_next_client(socks5d, echo_server):
    server = socks5d("--handshake_timeout=1s")
    junks = (b"\x00", b"\xff" * 600, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
             b"\x05\x01\x00\x05\x01\x00\x07" + bytes(300))
    for junk in junks:
        with server.client() as client:
            client.send(junk)
            # Whatever the answer, the server must end the connection.
            readable, _, _ = select.select([client.sock], [], [], deadline(5))
            assert readable, f"no answer and no close for {junk[:16].hex(' ')}"
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port)
        client.send(b"alive")
        client.expect(b"alive")
