"""docs/conformance.md section B: username/password sub-negotiation (RFC 1929)."""

import time

import pytest

from socks5lib import PASSWORD, USER, deadline, greeting, request, userpass


@pytest.fixture
def auth_server(socks5d, users_file):
    return socks5d(f"--users_file={users_file}")


def _start_auth(server):
    client = server.client()
    client.send(greeting(0x02))
    client.expect(b"\x05\x02")
    return client


def test_b1_right_credentials_then_request(auth_server, echo_server):
    with _start_auth(auth_server) as client:
        client.send(userpass(USER, PASSWORD))
        client.expect(b"\x01\x00")
        client.send(request("127.0.0.1", echo_server.port))
        reply = client.read_reply()
        assert reply.rep == 0, reply
        client.send(b"authenticated")
        client.expect(b"authenticated")


def test_b1_second_user(auth_server, echo_server):
    with auth_server.client() as client:
        client.connect("127.0.0.1", echo_server.port, user="bob", password="hunter2")


@pytest.mark.parametrize("user,password", [
    (USER, "wrong-password"),
    ("mallory", PASSWORD),
    (USER, PASSWORD[:-1]),
    (USER, PASSWORD + "x"),
    (USER.upper(), PASSWORD),
    ("bob", PASSWORD),  # another user's password
], ids=["wrong_password", "unknown_user", "password_prefix", "password_extended",
        "user_case", "other_users_password"])
def test_b2_bad_credentials_01_01_then_close(auth_server, target, user, password):
    with _start_auth(auth_server) as client:
        client.send(userpass(user, password) + request("127.0.0.1", target.port))
        client.expect(b"\x01\x01")
        client.assert_closed()
    target.assert_no_connection(0.2)


def test_b2_unknown_user_and_wrong_password_answer_alike(auth_server):
    """Same bytes, and no gross timing difference (no early exit for unknown users)."""
    timings = {}
    for label, user, password in (("wrong_password", USER, "nope-nope-nope"),
                                  ("unknown_user", "nobody-here", "nope-nope-nope")):
        samples = []
        for _ in range(5):
            with _start_auth(auth_server) as client:
                start = time.monotonic()
                client.send(userpass(user, password))
                client.expect(b"\x01\x01")
                samples.append(time.monotonic() - start)
                client.assert_closed()
        timings[label] = sorted(samples)[len(samples) // 2]
    # A deliberate delay on one path only (or none on the other) shows up here.
    assert abs(timings["wrong_password"] - timings["unknown_user"]) < 0.25, timings


@pytest.mark.parametrize("version", [0x00, 0x02, 0x05])
def test_b3_bad_subnegotiation_version(auth_server, target, version):
    with _start_auth(auth_server) as client:
        client.send(userpass(USER, PASSWORD, version=version) + request("127.0.0.1", target.port))
        # Failure status (any non-zero) then close, or close at once.
        data = client.read_until_closed()
        assert data == b"" or (len(data) == 2 and data[0] == 0x01 and data[1] != 0x00), \
            f"expected 01 XX (XX != 00) or a close, got {data.hex(' ')}"
    target.assert_no_connection(0.2)


@pytest.mark.parametrize("message", [
    b"\x01\x00" + bytes([len(PASSWORD)]) + PASSWORD.encode(),  # ULEN 0
    b"\x01" + bytes([len(USER)]) + USER.encode() + b"\x00",    # PLEN 0
    b"\x01\x00\x00",                                          # both 0
], ids=["ulen0", "plen0", "both0"])
def test_b4_zero_lengths_fail_and_close(auth_server, message):
    with _start_auth(auth_server) as client:
        client.send(message)
        data = client.recv_exact(2)
        assert data[0] == 0x01 and data[1] != 0x00, f"expected 01 XX (XX != 00), got {data.hex(' ')}"
        client.assert_closed()


def test_b4_server_still_serves_after_zero_lengths(auth_server, echo_server):
    for message in (b"\x01\x00\x00", b"\x01\x00"):
        with _start_auth(auth_server) as client:
            client.send(message)
            client.shutdown_write()
            client.read_until_closed()
    with auth_server.client() as client:
        client.connect("127.0.0.1", echo_server.port, user=USER, password=PASSWORD)


def test_b5_255_byte_user_and_password(socks5d, tmp_path, echo_server):
    user = "u" * 254 + "Z"
    password = "p:" * 127 + "Q"  # colons in the password: split on the first one only
    path = tmp_path / "users"
    path.write_text(f"{user}:{password}\n")
    server = socks5d(f"--users_file={path}")
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port, user=user, password=password)
        client.send(b"long creds")
        client.expect(b"long creds")
    with _start_auth(server) as client:
        client.send(userpass(user, password[:-1] + "X"))
        client.expect(b"\x01\x01")
        client.assert_closed()


def test_b6_subnegotiation_one_byte_at_a_time(auth_server, echo_server):
    with _start_auth(auth_server) as client:
        client.send_bytewise(userpass(USER, PASSWORD))
        client.expect(b"\x01\x00")
        client.send(request("127.0.0.1", echo_server.port))
        assert client.read_reply().rep == 0


def test_b_userpass_only_without_users_file(socks5d):
    """Without a users file, a client offering only 02 gets it and any credentials pass (issue
    13, as Tor does; integration/test_resolve.py has the rest); GSSAPI alone still gets 05 FF."""
    server = socks5d()
    with server.client() as client:
        client.send(greeting(0x02) + userpass("anyone", "anything"))
        client.expect(b"\x05\x02\x01\x00")
    with server.client() as client:
        client.send(greeting(0x01))
        client.expect(b"\x05\xff")
        client.assert_closed()


def test_b_partial_auth_then_silence_times_out(socks5d, users_file):
    server = socks5d(f"--users_file={users_file}", "--handshake_timeout=1s")
    with _start_auth(server) as client:
        client.send(b"\x01\x05ali")
        start = time.monotonic()
        client.assert_closed(timeout=deadline(5))
        assert time.monotonic() - start < deadline(5)


def test_b_users_file_without_final_newline(socks5d, tmp_path, echo_server):
    path = tmp_path / "users"
    path.write_text(f"bob:hunter2\n{USER}:{PASSWORD}")
    server = socks5d(f"--users_file={path}")
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port, user=USER, password=PASSWORD)
